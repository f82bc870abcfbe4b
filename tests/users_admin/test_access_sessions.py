"""One session or one refresh token ended through the user page, against the
sandbox server; and what a tenant on a plan without the sessions API is told before any click."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import UNTHROTTLED, api_get, enc
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import DEVICES
from tests.fixtures.user_actions import PAGE, REASON, action_url, panel_text, post

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def test_a_lead_ends_one_session_of_three(
    lead_client: Client,
    support_lead: User,
    signed_in_thrice: dict[str, Any],
    use_sandbox: SandboxServer,
) -> None:
    user_id = signed_in_thrice["user_id"]
    use_sandbox.set_faults(**UNTHROTTLED)
    base = f"/api/v2/users/{enc(user_id)}"
    panel = panel_text(lead_client, user_id, "sessions")
    assert "3 sessions" in panel
    for agent, ip in DEVICES:
        assert f"{agent} from {ip}" in panel
    lost = api_get(use_sandbox, f"{base}/sessions")["sessions"][1]
    outcome = post(
        lead_client, "revoke-session", user_id, f"?session={lost['id']}", session=lost["id"]
    )
    assert "Mobile Safari 17.1.0 / iOS 17.1.0 from 198.51.100.23" in outcome
    assert "2 other sessions stay signed in" in outcome
    left = api_get(use_sandbox, f"{base}/sessions")["sessions"]
    assert [s["id"] for s in left] == [f"sess0{user_id[-12:]}", f"sess2{user_id[-12:]}"]
    tokens = api_get(use_sandbox, f"{base}/refresh-tokens")["tokens"]
    assert lost["id"] not in [t["session_id"] for t in tokens]  # its token went with it
    assert len(tokens) == 2
    event = AuditEvent.objects.get(action="users.revoke-session")
    assert event.actor == support_lead
    assert event.details["before"]["sessions"] == 3
    assert event.details["after"] == {"session": "revoked", "sessions": 2}
    assert "2 sessions" in panel_text(lead_client, user_id, "sessions")
    page = fragment_text(lead_client.get(PAGE.format(user_id)).content.decode())
    # On the timeline, naming the device.
    assert f"reason: {REASON} Mobile Safari 17.1.0 / iOS 17.1.0 from 198.51.100.23" in page


def test_a_lead_revokes_one_refresh_token(
    lead_client: Client, signed_in_thrice: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = signed_in_thrice["user_id"]
    use_sandbox.set_faults(**UNTHROTTLED)
    token_id = f"rt_0{user_id[-12:]}"
    outcome = post(
        lead_client, "revoke-refresh-token", user_id, f"?token={token_id}", session=token_id
    )
    assert f"Refresh token {token_id}" in outcome
    tokens = api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/refresh-tokens")["tokens"]
    assert token_id not in [t["id"] for t in tokens]
    assert len(api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/sessions")["sessions"]) == 3
    assert AuditEvent.objects.get(action="users.revoke-refresh-token").details["after"] == {
        "refresh_token": "revoked",
        "refresh_tokens": 2,
    }


def test_a_plan_without_the_sessions_api_is_said_before_any_click(
    lead_client: Client, signed_in_thrice: dict[str, Any], use_sandbox: SandboxServer, settings: Any
) -> None:
    settings.AUTH0_TENANT_PLAN = "professional"
    use_sandbox.set_faults(tenant_plan="professional")
    user_id = signed_in_thrice["user_id"]
    html = lead_client.get(PAGE.format(user_id)).content.decode()
    assert "on Enterprise plans only; this tenant is on the Professional plan" in fragment_text(
        html
    )
    assert "/actions/revoke-session/" not in html
    panel = fragment_text(lead_client.get(action_url("revoke-session", user_id)).content.decode())
    assert "does not apply" in panel
    assert "Enterprise plans only" in panel
