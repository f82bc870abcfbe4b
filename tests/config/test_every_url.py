"""Every URL pattern, visited as every persona.

The resolver is walked recursively, so a new page is visited as soon as its pattern exists. Each
URL name must be listed in EXPECTED with the capability it needs; an unlisted name fails with a
message asking for it. For each URL:
  anonymous  -> redirected to sign-in (public URLs excepted);
  a persona without the capability, or with roles on another tenant only -> 403;
  a persona with it -> 200, 302 or 405, and 404 too when the URL has parameters (the sample
  ids do not exist); never 403, never 500.
A GET answered 405 is retried as a POST, so POST-only views are checked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, UUIDConverter

from staff.models import TenantRole
from staff.permissions import (
    EXPORT_ADMIN_GROUP,
    SUPPORT_GROUP,
    SUPPORT_LEAD_GROUP,
    Capability,
    can,
    tenants_for,
)
from tests.fixtures.personas import make_staff
from users_admin.actions import ACTIONS

PUBLIC = "public"
# The steps of signing in with the identity provider: public, and always a redirect (to the
# provider, or back to the sign-in page with a message).
SIGN_IN_FLOW = "sign-in flow"
SIGNED_IN = "signed-in"
Need = Capability | str

# What each named URL needs. Add every new page here.
EXPECTED: dict[str, Need] = {
    "login": PUBLIC,
    "oidc_authentication_init": SIGN_IN_FLOW,
    "oidc_authentication_callback": SIGN_IN_FLOW,
    "healthz": PUBLIC,
    "home": SIGNED_IN,
    "tenant_home": SIGNED_IN,
    # A tenant page's URL without its tenant (from before tenants): redirected to the tenant's.
    "tenant_redirect": SIGNED_IN,
    "tenant_colours": PUBLIC,
    "logout": SIGNED_IN,
    "password_change": SIGNED_IN,
    "password_change_done": SIGNED_IN,
    "audit_log": Capability.VIEW_AUDIT_LOG,
    "users_admin:search": Capability.SEARCH_USERS,
    "users_admin:reveal": Capability.SEARCH_USERS,
    "users_admin:new_data_package": Capability.BUILD_DATA_PACKAGES,
    "users_admin:data_package": Capability.BUILD_DATA_PACKAGES,
    "users_admin:download_data_package": Capability.BUILD_DATA_PACKAGES,
    "users_admin:lookup": Capability.SEARCH_USERS,
    "users_admin:detail": Capability.SEARCH_USERS,
    "users_admin:timeline": Capability.SEARCH_USERS,
    "users_admin:duplicates": Capability.SEARCH_USERS,
    "users_admin:create_user": Capability.CREATE_USERS,
    "users_admin:access": Capability.SEARCH_USERS,
    "users_admin:verification_job": Capability.RESEND_VERIFICATION,
    # The sample action; every action is visited by test_every_user_action_as_every_persona.
    "users_admin:action": Capability.BLOCK_USERS,
    "users_admin:save_search": Capability.SEARCH_USERS,
    "users_admin:delete_saved_search": Capability.SEARCH_USERS,
    "users_admin:bulk_runs": Capability.REQUEST_BULK_RUNS,
    "users_admin:new_bulk_run": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_run": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_action": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_request": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_approve": Capability.APPROVE_BULK_RUNS,
    "users_admin:bulk_reject": Capability.APPROVE_BULK_RUNS,
    "users_admin:bulk_pause": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_resume": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_cancel": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_results": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_retry": Capability.REQUEST_BULK_RUNS,
    "users_admin:bulk_undo": Capability.REQUEST_BULK_RUNS,
    "exports:history": Capability.RUN_EXPORTS,
    "exports:new": Capability.RUN_EXPORTS,
    "exports:detail": Capability.RUN_EXPORTS,
    "exports:delete": Capability.RUN_EXPORTS,
    "exports:cancel": Capability.RUN_EXPORTS,
    "exports:rename": Capability.RUN_EXPORTS,
    "exports:derive": Capability.RUN_EXPORTS,
    "exports:save_template": Capability.RUN_EXPORTS,
    "exports:delete_template": Capability.RUN_EXPORTS,
    "exports:download": Capability.DOWNLOAD_EXPORTS,
    "exports:imports": Capability.RUN_IMPORTS,
    "exports:import_new": Capability.RUN_IMPORTS,
    "exports:import_detail": Capability.RUN_IMPORTS,
    "exports:import_start": Capability.RUN_IMPORTS,
    "exports:import_errors": Capability.RUN_IMPORTS,
    "exports:schedules": Capability.SCHEDULE_EXPORTS,
    "exports:schedule_new": Capability.SCHEDULE_EXPORTS,
    "exports:schedule": Capability.SCHEDULE_EXPORTS,
    "exports:schedule_pause": Capability.SCHEDULE_EXPORTS,
    "exports:schedule_delete": Capability.SCHEDULE_EXPORTS,
}

# Namespaces with tests of their own: Django's admin is for superusers (test_foundation_auth).
SKIPPED_NAMESPACES = {"admin"}

# Sample values for URL parameters, by name: ids that do not exist, so 404 is a fine answer.
SAMPLES: dict[str, Any] = {
    "user_id": "auth0|doesnotexist",
    "pk": 999_999,
    "export_id": 999_999,
    "template_id": 999_999,
    "variant": "original",
    "job_id": "job_doesnotexist",
    "name": "block",
    "rest": "users/",
    "kind": "auth0",
    "panel": "roles",
}
ALLOWED = {200, 302, 405}
ALLOWED_WITH_SAMPLE_IDS = ALLOWED | {404}


@dataclass(frozen=True)
class Route:
    name: str
    namespace: str
    pattern: str
    params: tuple[str, ...]
    converters: dict[str, Any]


def walk(
    patterns: list[URLPattern | URLResolver], prefix: str = "", namespace: str = ""
) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or ""
            joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), joined)
        else:
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name or ""
            converters = dict(getattr(entry.pattern, "converters", {}))
            yield Route(name, namespace, prefix + str(entry.pattern), tuple(converters), converters)


ROUTES = [
    route
    for route in walk(get_resolver().url_patterns)
    if route.namespace.split(":", 1)[0] not in SKIPPED_NAMESPACES
]


def sample(route: Route, param: str) -> Any:
    converter = route.converters[param]
    if isinstance(converter, IntConverter):
        return SAMPLES.get(param, 999_999)
    if isinstance(converter, UUIDConverter):
        return "00000000-0000-4000-8000-000000000000"
    if param not in SAMPLES:
        pytest.fail(f"{route.pattern}: add a sample value for the parameter {param!r} to SAMPLES")
    return SAMPLES[param]


def url_for(route: Route) -> str:
    return reverse(route.name, kwargs={param: sample(route, param) for param in route.params})


def visit(client: Client, url: str) -> int:
    status = client.get(url).status_code
    if status == 405:
        status = client.post(url).status_code
    return status


def test_every_url_pattern_is_named_and_listed() -> None:
    unnamed = [route.pattern for route in ROUTES if not route.name]
    assert not unnamed, f"give these URL patterns a name: {unnamed}"
    names = {route.name for route in ROUTES}
    unlisted = sorted(names - set(EXPECTED))
    assert not unlisted, (
        "new URL names; add each to EXPECTED in tests/config/test_every_url.py with the capability "
        f"it needs (or PUBLIC / SIGNED_IN): {unlisted}"
    )
    stale = sorted(set(EXPECTED) - names)
    assert not stale, f"these names in EXPECTED no longer exist; remove them: {stale}"


@pytest.fixture
def personas(db: None) -> dict[str, User]:
    elsewhere = make_staff("elsewhere@example.com", None)
    TenantRole.objects.create(
        user=elsewhere, tenant="elsewhere", group=Group.objects.get(name=SUPPORT_LEAD_GROUP)
    )
    return {
        "outsider": make_staff("outsider@example.com", None),
        "support agent": make_staff("agent@example.com", SUPPORT_GROUP),
        "support lead": make_staff("lead@example.com", SUPPORT_LEAD_GROUP),
        "export admin": make_staff("admin@example.com", EXPORT_ADMIN_GROUP),
        "support lead on another tenant only": elsewhere,
    }


@pytest.mark.parametrize("route", ROUTES, ids=[route.name or route.pattern for route in ROUTES])
def test_url_as_every_persona(route: Route, personas: dict[str, User], use_sandbox: Any) -> None:
    if route.name not in EXPECTED:
        pytest.fail(
            f"{route.name} is not in EXPECTED (see test_every_url_pattern_is_named_and_listed)"
        )
    need = EXPECTED[route.name]
    url = url_for(route)

    anonymous = Client().get(url)
    if need == PUBLIC:
        assert anonymous.status_code in {200, 503}, (
            f"{url}: public page answered {anonymous.status_code}"
        )
        return
    if need == SIGN_IN_FLOW:
        assert anonymous.status_code == 302, f"{url}: sign-in step answered {anonymous.status_code}"
        return
    assert anonymous.status_code == 302, f"{url} as anonymous: {anonymous.status_code}"
    assert anonymous["Location"] == f"/sign-in/?next={quote(url, safe='/')}"

    for label, user in personas.items():
        client = Client()
        client.force_login(user)
        status = visit(client, url)
        allowed = need == SIGNED_IN or (isinstance(need, Capability) and can(user, need))
        if route.pattern.startswith("t/") and not tenants_for(user):
            allowed = False  # a tenant's pages: 403 to a member with nothing on it
        if allowed:
            expected = ALLOWED_WITH_SAMPLE_IDS if route.params else ALLOWED
            assert status in expected, f"{url} as {label}: {status} (expected one of {expected})"
        else:
            assert status == 403, f"{url} as {label}: {status} (expected 403, needs {need})"


@pytest.mark.parametrize("allow_delete", [False, True], ids=["delete-off", "delete-on"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_user_action_as_every_persona(
    action: str, allow_delete: bool, personas: dict[str, User], use_sandbox: Any, settings: Any
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = allow_delete
    need = ACTIONS[action].capability
    url = reverse("users_admin:action", args=[action, SAMPLES["user_id"]])
    assert Client().get(url).status_code == 302
    for label, user in personas.items():
        client = Client()
        client.force_login(user)
        allowed = can(user, need) and can(user, Capability.SEARCH_USERS)
        for method in ("get", "post"):
            status = getattr(client, method)(url).status_code
            # The sample user does not exist: 404 once past the permission check.
            assert status == (404 if allowed else 403), f"{method} {url} as {label}: {status}"
    if need is Capability.DELETE_USERS:
        assert can(personas["support lead"], need) is allow_delete
