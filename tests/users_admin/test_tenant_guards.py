"""Guard rails: on a production tenant a destructive action also asks for
the tenant's name, typed; a form posted from one tenant's page is refused on another's."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django import forms
from django.contrib.auth.models import User
from django.test import Client

from management_api import Tenant, tenant_scope
from staff.models import AuditEvent
from tests.fixtures.bulk import previewed
from users_admin.action_forms import TENANT_NAME_FIELD, ask_tenant_name
from users_admin.actions import ACTIONS
from users_admin.models import BulkRunStatus, SavedSearch


@pytest.fixture
def prod_user(fresh_user: dict[str, Any], two_tenants: tuple[Tenant, Tenant]) -> str:
    """A user of the production tenant ("prod" is the sandbox server fresh_user writes to)."""
    return str(fresh_user["user_id"])


def delete_post(user_id: str, **extra: str) -> dict[str, str]:
    return {
        "reason": "Ticket 42: asked to be forgotten",
        "token": str(uuid.uuid4()),
        "confirm": user_id,
        "user_id": user_id,
        "tenant": "prod",
        **extra,
    }


def test_deleting_on_production_asks_for_the_tenant_name(
    prod_user: str, lead_client: Client, settings: Any
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = True
    url = f"/t/prod/actions/delete/{quote(prod_user, safe='')}/"
    form = lead_client.get(url).content.decode()
    assert f'name="{TENANT_NAME_FIELD}"' in form
    assert "Type the tenant&#x27;s name, Prod, to confirm" in form

    refused = lead_client.post(url, delete_post(prod_user), HTTP_HX_REQUEST="true")
    assert "Type Prod to confirm, on production." in refused.content.decode()
    wrong = lead_client.post(url, delete_post(prod_user, tenant_name="Staging"))
    assert "exactly: this is production" in wrong.content.decode()
    assert not AuditEvent.objects.filter(action="users.delete").exists()

    done = lead_client.post(url, delete_post(prod_user, tenant_name="Prod"))
    assert done.status_code in (200, 302)
    assert AuditEvent.objects.filter(action="users.delete", target=prod_user).exists()


def test_removing_a_membership_on_production_asks_for_the_tenant_name(
    prod_user: str, lead_client: Client, use_sandbox: Any
) -> None:
    """One of the access actions judged destructive: the membership goes with its organization
    roles, which adding the user back does not restore."""
    acme = "org_AcmeVv1JTfJhf3Nw"  # the seeded Acme Corporation
    use_sandbox.set_faults(rate_limit_plan="off")  # the test's own reads of the sandbox
    with use_sandbox.api() as api:
        added = api.post(f"/api/v2/organizations/{acme}/members", json={"members": [prod_user]})
        assert added.status_code == 204, added.text
    url = f"/t/prod/actions/remove-membership/{quote(prod_user, safe='')}/"
    form = lead_client.get(f"{url}?organization={acme}").content.decode()
    assert f'name="{TENANT_NAME_FIELD}"' in form
    post = {
        "reason": "Ticket 43: left Acme",
        "token": str(uuid.uuid4()),
        "organization": acme,
        "user_id": prod_user,
        "tenant": "prod",
    }
    refused = lead_client.post(url, post, HTTP_HX_REQUEST="true").content.decode()
    assert "Type Prod to confirm, on production." in refused
    with use_sandbox.api() as api:
        still = api.get(f"/api/v2/users/{quote(prod_user, safe='')}/organizations").json()
    assert [o["id"] for o in still] == [acme]
    done = lead_client.post(url, {**post, TENANT_NAME_FIELD: "Prod"}, HTTP_HX_REQUEST="true")
    assert "Removed from acme" in done.content.decode()


def test_the_guard_is_declared_on_destructive_actions_and_asks_only_on_production(
    two_tenants: tuple[Tenant, Tenant],
) -> None:
    guarded = sorted(name for name, action in ACTIONS.items() if action.confirm_tenant)
    assert guarded == [
        "clear-blocks",
        "delete",
        "link-account",
        "remove-membership",
        "remove-mfa",
        "sign-out",
        "unlink-account",
    ]
    for slug, asked in (("prod", True), ("staging", False)):
        with tenant_scope(slug):
            form = ask_tenant_name(forms.Form())
        assert (TENANT_NAME_FIELD in form.fields) is asked


def test_a_form_from_another_tenants_page_is_refused(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client
) -> None:
    url = "/t/prod/searches/save/"
    refused = lead_client.post(url, {"name": "Mine", "query_string": "q=a", "tenant": "staging"})
    assert refused.status_code == 403
    assert "filled in on the tenant &#x27;staging&#x27;" in refused.content.decode()
    header = lead_client.post(url, {"name": "Mine"}, HTTP_X_USERDESK_TENANT="staging")
    assert header.status_code == 403
    same = lead_client.post(url, {"name": "Mine", "query_string": "q=a", "tenant": "prod"})
    assert same.status_code != 403


def test_a_form_naming_no_tenant_is_refused_when_there_are_several(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client, support_lead: User
) -> None:
    url = "/t/prod/searches/save/"
    refused = lead_client.post(url, {"name": "Mine", "query_string": "q=a"})
    assert refused.status_code == 403
    assert "did not say which tenant it was filled in on" in refused.content.decode()
    htmx = lead_client.post(url, {"name": "Mine", "query_string": "q=a"}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 403
    assert not SavedSearch.objects.exists()
    with tenant_scope("prod"):
        run = previewed(2)
    for path in (f"/t/prod/bulk/{run.pk}/cancel/", "/t/prod/bulk/new/", "/t/prod/exports/new/"):
        assert lead_client.post(path, {"source": "query", "query": "a"}).status_code == 403, path
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWED
    # htmx's header alone names the tenant (the page's hx-headers).
    header = lead_client.post(
        url, {"name": "Mine", "query_string": "q=a"}, HTTP_X_USERDESK_TENANT="prod"
    )
    assert header.status_code == 302
    assert SavedSearch.objects.get().tenant == "prod"


def test_with_one_tenant_a_form_naming_none_still_works(lead_client: Client) -> None:
    """A tab opened before tenants posts without the field (and is redirected with 307): the
    one tenant is the only one it can mean."""
    url = "/t/userdesk-sandbox/searches/save/"
    assert lead_client.post(url, {"name": "Mine", "query_string": "q=a"}).status_code == 302
    assert SavedSearch.objects.get().tenant == "userdesk-sandbox"


TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Pages of no tenant: signing in and out, the password.
SHARED_FORMS = {"registration/login.html", "registration/password_change_form.html", "base.html"}


def test_every_post_form_in_the_templates_carries_the_tenant_field() -> None:
    """Every form that changes something on a tenant page includes tenants/field.html inside it
    (an hx-post outside a form carries the page's X-Userdesk-Tenant header)."""
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        name = path.relative_to(TEMPLATES).as_posix()
        html = path.read_text()
        for form in re.finditer(
            r"<form\b[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S | re.I
        ):
            if name not in SHARED_FORMS and '{% include "tenants/field.html" %}' not in form[1]:
                missing.append(f"{name}: {form[0][:80]}")
    assert missing == []
    base = (TEMPLATES / "base.html").read_text()
    assert '"X-Userdesk-Tenant": "{{ tenant.slug }}"' in base


def test_every_post_form_of_a_tenant_page_carries_its_tenant(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client, support_lead: User
) -> None:
    page = lead_client.get("/t/staging/users/", {"q": "email:*"}).content.decode()
    assert '<input type="hidden" name="tenant" value="staging">' in page
    assert '"X-Userdesk-Tenant": "staging"' in page


def test_starting_a_bulk_run_on_production_asks_for_the_tenant_name(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client, settings: Any
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 100
    with tenant_scope("prod"):
        run = previewed(2)
    url = f"/t/prod/bulk/{run.pk}/"
    assert f'name="{TENANT_NAME_FIELD}"' in lead_client.get(url).content.decode()

    refused = lead_client.post(f"{url}request/", {"tenant": "prod"})
    assert refused.status_code == 200  # the page again, the tenant's name asked for
    assert "Type Prod to confirm, on production." in refused.content.decode()
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWED

    confirmed = {TENANT_NAME_FIELD: "Prod", "tenant": "prod"}
    assert lead_client.post(f"{url}request/", confirmed).status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    # Staging asks for nothing more.
    with tenant_scope("staging"):
        other = previewed(2)
    staging_request = lead_client.post(
        f"/t/staging/bulk/{other.pk}/request/", {"tenant": "staging"}
    )
    assert staging_request.status_code == 302
