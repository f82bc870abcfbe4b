"""Creating a user on a database connection, against the sandbox server: an invitation shown
once, a typed password, `verify_email` chosen, Auth0's refusals at the field; lead only."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import delete_user, read_back
from tests.fixtures.search import fragment_text
from tests.fixtures.user_actions import form_token

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

REASON = "Ticket #8080: new employee starts Monday"
DB = "Username-Password-Authentication"


def fields(**extra: Any) -> dict[str, Any]:
    return {
        "connection": DB,
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "given_name": "Noa",
        "family_name": "Newcomer",
        "password_mode": "invite",
        "verify_email": "on",
        "reason": REASON,
        **extra,
    }


def test_a_lead_creates_an_invited_user(lead_client: Client, use_sandbox: SandboxServer) -> None:
    url = reverse("users_admin:create_user")
    page = lead_client.get(url, {"email": "noa@example.com"}).content.decode()
    assert 'value="noa@example.com"' in page
    assert f'<option value="{DB}" selected>' in page
    data = fields(token=form_token(page))
    done = lead_client.post(url, data).content.decode()
    text = fragment_text(done)
    match = re.search(r"(auth0\|[0-9a-f]+) was created on " + DB, text)
    assert match, text
    user_id = match.group(1)
    try:
        ticket = re.search(r'data-copy="([^"]+)"', done)
        assert ticket
        assert "/u/reset-password?ticket=" in ticket.group(1)
        assert f"Auth0 emails {data['email']} a verification link." in text
        stored = read_back(use_sandbox, user_id)
        assert stored["name"] == "Noa Newcomer"
        assert stored["email"] == data["email"]
        event = AuditEvent.objects.get(action="users.create")
        assert event.target == user_id
        assert event.details["reason"] == REASON
        assert event.details["after"]["invitation"] is True
        assert "password" not in event.details["after"]
        assert ticket.group(1) not in str(event.details)  # shown once, never stored
        with use_sandbox.api() as api:
            logs = api.get("/api/v2/logs", params={"q": "type:sapi", "sort": "date:-1"}).json()
        sent = next(e for e in logs if e["description"] == "Create a User")
        assert sent["details"]["request"]["body"]["verify_email"] is True
        page = lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
        assert "Created in Userdesk" in page

        replay = lead_client.post(url, data).content.decode()
        assert "nothing was sent again" in fragment_text(replay)
        assert ticket.group(1) not in replay
        assert AuditEvent.objects.filter(action="users.create").count() == 1
    finally:
        delete_user(use_sandbox, user_id)


def test_a_typed_password_and_auth0s_refusals_at_the_field(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    url = reverse("users_admin:create_user")
    token = form_token(lead_client.get(url).content.decode())
    missing = lead_client.post(url, fields(token=token, password_mode="typed")).content.decode()
    assert "Type the password, or choose the invitation." in missing

    weak = fields(token=token, password_mode="typed", password="short", verify_email="")
    refused = lead_client.post(url, weak).content.decode()
    assert "PasswordStrengthError: Password is too weak" in refused
    assert re.search(r'<input type="password" name="password"[^>]* autofocus', refused)
    assert form_token(refused) != token  # spent on the refused request
    assert AuditEvent.objects.get(action="users.create").details["outcome"] == "error"

    strong = fields(
        token=form_token(refused),
        password_mode="typed",
        password="correct horse battery staple",
        verify_email="",
        email=weak["email"],
    )
    done = fragment_text(lead_client.post(url, strong).content.decode())
    assert "Give the person the password you typed" in done
    assert "verification link" not in done
    user_id = re.search(r"(auth0\|[0-9a-f]+) was created", done)
    assert user_id
    try:
        again = fields(token=str(uuid.uuid4()), email=weak["email"])
        taken = lead_client.post(url, again).content.decode()
        assert "The user already exists." in taken
        assert re.search(r'<input type="email" name="email"[^>]* autofocus', taken)
    finally:
        delete_user(use_sandbox, user_id.group(1))


def test_a_support_agent_cannot_create_users(agent_client: Client) -> None:
    assert agent_client.get(reverse("users_admin:create_user")).status_code == 403
    page = agent_client.get(reverse("users_admin:lookup")).content.decode()
    assert reverse("users_admin:create_user") not in page


def test_the_sandbox_refuses_creating_social_users(use_sandbox: SandboxServer) -> None:
    with use_sandbox.api() as api:
        social = api.post("/api/v2/users", json={"connection": "google-oauth2", "email": "a@b.co"})
        unknown = api.post("/api/v2/users", json={"connection": "nope", "email": "a@b.co"})
    assert social.status_code == 400
    assert social.json()["message"].startswith("Connection does not support user creation")
    assert unknown.json()["message"] == "Connection does not exist."
