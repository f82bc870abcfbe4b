"""The user page's access panels load when opened, not with every page view: the page makes
only its base calls, each panel its own (its URL per tenant, the user page's capability,
audited as a view), with Auth0's errors in words; the sandbox's rate limits stay on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

import management_api
from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import role_id
from tests.fixtures.search import Upstream, fragment_text
from tests.fixtures.support_cases import ACME
from tests.fixtures.user_actions import REASON, action_url, form_token, open_panel

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")
API = "/api/v2"
ACCESS_PATHS = ("/roles", "/permissions", "/organizations", "/sessions", "/refresh-tokens")


def base_paths(user_id: str) -> dict[str, int]:
    """The user page's calls before the access panels: profile, blocks, MFA methods, logs."""
    return {
        f"{API}/users/{user_id}": 1,
        f"{API}/user-blocks/{user_id}": 1,
        f"{API}/users/{user_id}/authentication-methods": 1,
        f"{API}/users/{user_id}/logs": 1,
    }


def seen(counter: Upstream, user_id: str) -> dict[str, int]:
    """The upstream paths about `user_id` the counter saw (as httpx reports them: decoded),
    with their counts."""
    return {
        path: count
        for path in management_api.stats.by_path
        if user_id in path and (count := counter.path(path))
    }


def panel_url(user_id: str, panel: str) -> str:
    return reverse("users_admin:access", args=[user_id, panel])


@pytest.mark.parametrize("plan", ["enterprise", "professional"])
def test_the_first_view_makes_only_the_base_calls(
    agent_client: Client,
    signed_in_thrice: dict[str, Any],
    settings: Any,
    plan: str,
) -> None:
    settings.AUTH0_TENANT_PLAN = plan
    user_id = signed_in_thrice["user_id"]
    counter = Upstream()
    html = agent_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    assert seen(counter, user_id) == base_paths(user_id)
    assert counter.total - counter.tokens == 4
    for panel in ("roles", "organizations"):
        assert f'hx-get="{panel_url(user_id, panel)}"' in html
    lazy_sessions = f'hx-get="{panel_url(user_id, "sessions")}"' in html
    assert lazy_sessions is (plan == "enterprise")  # elsewhere the plan limit is said at once


def test_a_lead_reads_only_what_sign_out_everywhere_needs_besides(
    lead_client: Client,
    signed_in_thrice: dict[str, Any],
) -> None:
    # As before the access panels: sign out everywhere is offered only to a user signed in
    # somewhere, so a lead's page on Enterprise lists sessions and refresh tokens.
    user_id = signed_in_thrice["user_id"]
    counter = Upstream()
    lead_client.get(reverse("users_admin:detail", args=[user_id]))
    assert seen(counter, user_id) == {
        **base_paths(user_id),
        f"{API}/users/{user_id}/sessions": 1,
        f"{API}/users/{user_id}/refresh-tokens": 1,
    }
    for path in ("/roles", "/permissions", "/organizations"):
        assert counter.path(f"{API}/users/{user_id}{path}") == 0


def test_each_panel_makes_its_own_calls_and_is_recorded(
    agent_client: Client,
    support_agent: Any,
    acme_member: dict[str, Any],
) -> None:
    user_id = acme_member["user_id"]
    counter = Upstream()
    roles = fragment_text(open_panel(agent_client, user_id, "roles"))
    assert seen(counter, user_id) == {
        f"{API}/users/{user_id}/roles": 1,
        f"{API}/users/{user_id}/permissions": 1,
    }
    assert "No role assigned directly; no permission in effect." in roles
    assert "No role assigned directly." in roles

    counter = Upstream()
    organizations = fragment_text(open_panel(agent_client, user_id, "organizations"))
    assert seen(counter, user_id) == {
        f"{API}/users/{user_id}/organizations": 1,
        f"{API}/organizations/{ACME}/members/{user_id}/roles": 1,  # one per organization
    }
    assert "A member of 1 organization." in organizations
    assert "Organization roles: team-owner" in organizations

    counter = Upstream()
    sessions = fragment_text(open_panel(agent_client, user_id, "sessions"))
    assert seen(counter, user_id) == {
        f"{API}/users/{user_id}/sessions": 1,
        f"{API}/users/{user_id}/refresh-tokens": 1,
    }
    assert "No session and no refresh token." in sessions

    views = AuditEvent.objects.filter(action="users.view", target=user_id).order_by("id")
    assert [(e.actor, e.details["panel"], e.details["found"]) for e in views] == [
        (support_agent, "roles", True),
        (support_agent, "organizations", True),
        (support_agent, "sessions", True),
    ]
    page = fragment_text(
        agent_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    )
    assert "Viewed in Userdesk by agent@example.com Organizations panel" in page


def test_the_panel_takes_the_focus_and_works_without_javascript(
    lead_client: Client,
    signed_in_thrice: dict[str, Any],
) -> None:
    user_id = signed_in_thrice["user_id"]
    body = open_panel(lead_client, user_id, "sessions")
    assert '<p class="access-summary" tabindex="-1" autofocus>3 sessions and 3 refresh tokens.' in (
        body
    )
    assert "<html" not in body
    assert "/actions/revoke-session/" in body  # a lead's buttons
    assert "/actions/sign-out/" in body
    page = lead_client.get(panel_url(user_id, "sessions"))  # a link followed without htmx
    html = page.content.decode()
    assert page.status_code == 200
    assert "<h1>Sessions and refresh tokens</h1>" in html
    assert 'id="action-panel"' in html  # its buttons open their forms there
    assert "3 sessions and 3 refresh tokens." in fragment_text(html)


def test_an_agent_is_offered_no_button_in_a_panel(
    agent_client: Client,
    signed_in_thrice: dict[str, Any],
) -> None:
    body = open_panel(agent_client, signed_in_thrice["user_id"], "sessions")
    assert "3 sessions" in fragment_text(body)
    assert "/actions/" not in body


def test_auth0_busy_or_down_is_said_in_the_panel(
    agent_client: Client,
    fresh_user: dict[str, Any],
    use_sandbox: SandboxServer,
    settings: Any,
) -> None:
    settings.AUTH0_MAX_RETRIES = 0
    user_id = fresh_user["user_id"]
    use_sandbox.set_faults(rate_limit_share=1)
    busy = open_panel(agent_client, user_id, "roles")
    text = fragment_text(busy)
    assert "Could not read the roles: Auth0 is busy, try again in" in text
    assert "Could not read the permissions: Auth0 is busy, try again in" in text
    assert f'hx-get="{panel_url(user_id, "roles")}"' in busy  # Try again
    use_sandbox.set_faults(rate_limit_share=0, error_share=1)
    down = fragment_text(open_panel(agent_client, user_id, "organizations"))
    assert "Could not read the organizations:" in down
    event = AuditEvent.objects.filter(action="users.view", target=user_id).last()
    assert event is not None
    assert event.details["outcome"] == "error"


def test_an_unknown_user_or_panel(agent_client: Client) -> None:
    missing = "auth0|000000000000000000000000"
    body = fragment_text(open_panel(agent_client, missing, "roles"))
    assert "No such user at Auth0." in body
    assert agent_client.get(panel_url(missing, "roles")).status_code == 404
    assert agent_client.get(panel_url(missing, "nothing")).status_code == 404


def test_pages_and_panels_within_the_other_bucket(
    agent_client: Client,
    acme_member: dict[str, Any],
    use_sandbox: SandboxServer,
) -> None:
    # Auth0's Essentials/Professional table: "other endpoints" burst 10. Two views of a user
    # and one panel stay within it (with every panel read, two views took 14 of its calls).
    use_sandbox.set_faults(rate_limit_plan="professional")
    user_id = acme_member["user_id"]
    for _ in range(2):
        response = agent_client.get(reverse("users_admin:detail", args=[user_id]))
        assert response.status_code == 200
        assert "Auth0 is busy" not in response.content.decode()
    assert "Organization roles: team-owner" in fragment_text(
        open_panel(agent_client, user_id, "organizations")
    )


def test_reload_the_user_after_a_change_reopens_its_panel(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    editor = role_id(use_sandbox, "editor")
    url = action_url("assign-role", user_id)
    token = form_token(lead_client.get(url).content.decode())
    done = lead_client.post(
        url,
        {"token": token, "reason": REASON, "user_id": user_id, "role": editor, "page": "0"},
    ).content.decode()
    reload = f'href="{reverse("users_admin:detail", args=[user_id])}?open=roles"'
    assert reload in done
    counter = Upstream()
    page = lead_client.get(
        reverse("users_admin:detail", args=[user_id]), {"open": ["roles", "nothing"]}
    ).content.decode()
    assert counter.path(f"{API}/users/{user_id}/roles") == 0  # the browser asks, on load

    def opening(name: str) -> str:
        found = re.search(f'<details[^>]*id="{name}"[^>]*>', page)
        assert found is not None
        return found.group(0)

    assert 'hx-trigger="load"' in opening("roles")
    assert opening("roles").endswith(" open>")
    assert 'hx-trigger="toggle once"' in opening("organizations")
    assert " open" not in opening("organizations")
