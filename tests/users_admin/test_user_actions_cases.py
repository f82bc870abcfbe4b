"""The support cases of the seeded tenant, fixed through the user page against the sandbox server:
each action's permission, its audit event and its effect read back through the API."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import api_get, enc
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import brute_force_blocked, mfa_enrolled, with_devices
from tests.fixtures.user_actions import REASON, action_url, form_token
from users_admin import bulk_execute, bulk_rows
from users_admin.logtypes import method_words
from users_admin.models import BulkRun, BulkRunStatus

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def submit(client: Client, name: str, user_id: str, **fields: str) -> str:
    token = form_token(client.get(action_url(name, user_id)).content.decode())
    response = client.post(action_url(name, user_id), {"token": token, "reason": REASON, **fields})
    assert response.status_code == 200
    return fragment_text(response.content.decode())


def test_an_agent_sees_why_a_brute_force_blocked_user_cannot_sign_in_and_clears_it(
    agent_client: Client, use_sandbox: SandboxServer, support_agent: User
) -> None:
    user = brute_force_blocked(use_sandbox)[-1]
    user_id = user["user_id"]
    blocks = api_get(use_sandbox, f"/api/v2/user-blocks/{enc(user_id)}")["blocked_for"]
    page = fragment_text(agent_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode())
    # The agent's role sees IP addresses masked: each block, not its address.
    masked = "Locked after too many failed sign-ins from •••••• (masked)"
    assert page.count(masked) == len(blocks)
    assert not any(block["ip"] in page for block in blocks)
    assert "Sign-in failed" in page  # the failed logins are on the timeline

    outcome = submit(agent_client, "clear-blocks", user_id)
    assert "Brute-force blocks cleared" in outcome
    assert api_get(use_sandbox, f"/api/v2/user-blocks/{enc(user_id)}") == {"blocked_for": []}
    event = AuditEvent.objects.get(action="users.clear-blocks")
    assert event.actor == support_agent
    assert event.details["before"] == {"blocked_for": blocks}
    assert event.details["after"] == {"blocked_for": []}
    assert event.details["reason"] == REASON
    page = agent_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    assert "Locked after too many failed sign-ins" not in page
    assert "Brute-force blocks cleared" in page  # on the timeline, by the agent


def test_an_agent_resends_the_verification_email(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    page = fragment_text(agent_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode())
    assert f"The email address {fresh_user['email']} is not verified." in page
    outcome = submit(agent_client, "resend-verification", user_id)
    assert f"Auth0 queued a verification email to {fresh_user['email']}" in outcome
    event = AuditEvent.objects.get(action="users.resend-verification")
    job = event.details["auth0"]
    assert job["type"] == "verification_email"
    assert api_get(use_sandbox, f"/api/v2/jobs/{job['id']}")["id"] == job["id"]
    types = [e["type"] for e in api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/logs")]
    assert "svr" in types


def test_a_disabled_email_template_is_reported_in_place_and_on_the_timeline(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(email_template_disabled=True)
    user_id = fresh_user["user_id"]
    url = action_url("resend-verification", user_id)
    token = form_token(agent_client.get(url).content.decode())
    done = agent_client.post(url, {"token": token, "reason": REASON}).content.decode()
    job_id = AuditEvent.objects.get(action="users.resend-verification").details["auth0"]["id"]
    poll = reverse("users_admin:verification_job", args=[job_id])
    assert f'hx-get="{poll}"' in done  # the job names its user
    for _ in range(400):  # the sandbox's job runner has no event to await from outside
        answer = agent_client.get(poll, {"user": user_id}, headers={"HX-Request": "true"})
        if answer.status_code == 286:  # settled: htmx stops polling
            break
        assert answer.status_code == 200
        time.sleep(0.05)
    text = fragment_text(answer.content.decode())
    assert "Auth0 could not send the verification email" in text
    assert "The verification email template is disabled." in text
    page = fragment_text(agent_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode())
    assert "Verification email could not be sent" in page


def test_a_password_change_link_is_shown_once_and_works(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    url = action_url("password-link", user_id)
    token = form_token(agent_client.get(url).content.decode())
    fields = {"token": token, "reason": REASON, "mode": "ticket"}
    html = agent_client.post(url, fields).content.decode()
    ticket = html.split('id="secret-link" class="mono secret" type="text" readonly value="', 1)[1]
    ticket = ticket.split('"', 1)[0]
    assert "/u/reset-password?ticket=" in ticket
    assert httpx.get(ticket.rstrip("#")).status_code == 200  # the sandbox's reset page
    event = AuditEvent.objects.get(action="users.password-link")
    assert ticket.split("ticket=", 1)[1].rstrip("#") not in json.dumps(event.details)
    replay = agent_client.post(url, fields).content.decode()
    assert ticket not in replay  # shown once
    assert "nothing was sent again" in fragment_text(replay)


def test_a_password_reset_email_is_sent_through_auth0(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    outcome = submit(agent_client, "password-link", user_id, mode="email")
    assert f"Auth0 is emailing a password reset link to {fresh_user['email']}" in outcome
    assert "just sent you an email to reset your password." in outcome
    logs = api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/logs")
    assert [event["type"] for event in logs if event["type"] == "scpr"] == ["scpr"]
    event = AuditEvent.objects.get(action="users.password-link")
    assert event.details["after"] == {"reset_email": fresh_user["email"]}


def test_a_social_user_gets_no_password_link(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    github = api_get(
        use_sandbox, "/api/v2/users", search_engine="v3", q="identities.provider:github"
    )[0]
    page = agent_client.get(f"/t/userdesk-sandbox/users/{github['user_id']}/").content.decode()
    assert action_url("password-link", github["user_id"]) not in page
    confirm = agent_client.get(action_url("password-link", github["user_id"])).content.decode()
    assert "does not apply" in confirm


def test_a_lead_removes_one_mfa_method_then_all(
    lead_client: Client, use_sandbox: SandboxServer, support_lead: User
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")  # the checks below read a lot at once
    user = mfa_enrolled(use_sandbox)[-1]
    user_id = user["user_id"]
    path = f"/api/v2/users/{enc(user_id)}/authentication-methods"
    methods = api_get(use_sandbox, path)
    page = lead_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    assert f"{len(methods)} methods enrolled" in fragment_text(page)
    assert action_url("remove-mfa", user_id) in page

    first = methods[0]["id"]
    outcome = submit(lead_client, "remove-mfa", user_id, method=first)
    assert f"MFA method {method_words(methods[0]['type'])} ({first}) removed." in outcome
    assert first not in [m["id"] for m in api_get(use_sandbox, path)]

    outcome = submit(lead_client, "remove-mfa", user_id, method="all")
    assert "Every MFA method removed" in outcome
    assert api_get(use_sandbox, path) == []
    events = AuditEvent.objects.filter(action="users.remove-mfa").order_by("at")
    assert [e.details["auth0"]["removed"] for e in events] == [first, "all"]
    assert events[1].details["after"] == {"methods": []}
    assert events[1].actor == support_lead


def test_an_agent_cannot_reset_mfa(agent_client: Client, use_sandbox: SandboxServer) -> None:
    user = mfa_enrolled(use_sandbox)[0]
    page = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    assert action_url("remove-mfa", user["user_id"]) not in page
    response = agent_client.post(
        action_url("remove-mfa", user["user_id"]),
        {"token": str(uuid.uuid4()), "reason": REASON, "method": "all"},
    )
    assert response.status_code == 403
    path = f"/api/v2/users/{enc(user['user_id'])}/authentication-methods"
    assert api_get(use_sandbox, path) != []


def test_a_lead_signs_a_user_out_everywhere(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")  # the checks below read a lot at once
    user = with_devices(use_sandbox)[-1]
    user_id = user["user_id"]
    outcome = submit(lead_client, "sign-out", user_id)
    assert "Auth0 accepted" in outcome
    base = f"/api/v2/users/{enc(user_id)}"
    assert api_get(use_sandbox, f"{base}/sessions") == {"sessions": []}
    assert api_get(use_sandbox, f"{base}/refresh-tokens")["tokens"] == []
    event = AuditEvent.objects.get(action="users.sign-out")
    assert event.details["before"]["refresh_tokens"] >= 1
    assert event.details["after"] == {"sessions": "revoked", "refresh_tokens": "revoked"}


def test_sign_out_on_a_tenant_without_sessions_says_why(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(tenant_plan="professional")
    panel = fragment_text(
        lead_client.get(action_url("sign-out", fresh_user["user_id"])).content.decode()
    )
    assert "does not apply" in panel
    assert "Auth0 does not let this tenant manage sessions" in panel
    assert not AuditEvent.objects.filter(action="users.sign-out").exists()


def test_delete_needs_the_setting_and_the_typed_id(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer, settings: Any
) -> None:
    user_id = fresh_user["user_id"]
    assert lead_client.get(action_url("delete", user_id)).status_code == 403
    settings.USERDESK_ALLOW_USER_DELETE = True
    page = lead_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    assert action_url("delete", user_id) in page
    url = action_url("delete", user_id)
    token = form_token(lead_client.get(url).content.decode())
    wrong = lead_client.post(url, {"token": token, "reason": REASON, "confirm": "yes"})
    assert f"Type {user_id} exactly to delete this user." in wrong.content.decode()
    with use_sandbox.api() as api:
        assert api.get(f"/api/v2/users/{enc(user_id)}").status_code == 200
    done = lead_client.post(url, {"token": token, "reason": REASON, "confirm": user_id})
    assert f"{user_id} was deleted at Auth0." in fragment_text(done.content.decode())
    with use_sandbox.api() as api:
        assert api.get(f"/api/v2/users/{enc(user_id)}").status_code == 404
    assert AuditEvent.objects.get(action="users.delete").details["after"] == {"deleted": True}


def test_a_delete_that_needs_approval_is_a_one_user_run_a_second_lead_approves(
    lead_client: Client,
    second_lead_client: Client,
    fresh_user: dict[str, Any],
    use_sandbox: SandboxServer,
    settings: Any,
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = True
    settings.USERDESK_DELETE_NEEDS_APPROVAL = True
    user_id = fresh_user["user_id"]
    url = action_url("delete", user_id)
    token = form_token(lead_client.get(url).content.decode())
    response = lead_client.post(url, {"token": token, "reason": REASON, "confirm": user_id})
    run = BulkRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/t/userdesk-sandbox/bulk/{run.pk}/"
    assert (run.action, run.status, run.change_count, run.reason) == (
        "delete",
        BulkRunStatus.PENDING,
        1,
        REASON,
    )
    assert [item.user_id for item in bulk_rows.every_item(run)] == [user_id]
    assert AuditEvent.objects.get(action="bulk.requested").details["needs_approval"] is True
    assert not AuditEvent.objects.filter(action="users.delete").exists()
    with use_sandbox.api() as api:
        assert api.get(f"/api/v2/users/{enc(user_id)}").status_code == 200
    assert (
        "You cannot approve your own run"
        in lead_client.get(f"/t/userdesk-sandbox/bulk/{run.pk}/").content.decode()
    )

    assert second_lead_client.post(f"/t/userdesk-sandbox/bulk/{run.pk}/approve/").status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    bulk_execute.execute(run.pk)  # the worker's task
    run.refresh_from_db()
    assert run.outcomes == {"done": 1}
    with use_sandbox.api() as api:
        assert api.get(f"/api/v2/users/{enc(user_id)}").status_code == 404
