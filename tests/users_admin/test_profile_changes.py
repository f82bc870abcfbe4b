"""Profile changes on the user page, against the sandbox server: the email with its
verification, names and phone, only what changed is sent, only what the connection allows is
offered, and Auth0's refusals land at the field they concern."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import add_google_user, delete_user, read_back
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import create_database_user
from tests.fixtures.user_actions import action_url, form_token

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

REASON = "Ticket #7007: the user changed jobs"
HX = {"HX-Request": "true"}


def current(profile: dict[str, Any]) -> dict[str, str]:
    """The form's fields as the page fills them in (what a person would leave untouched)."""
    keys = ("email", "username", "phone_number", "given_name", "family_name", "name")
    return {k: str(profile.get(k) or "") for k in (*keys, "nickname", "picture")}


def last_sapi_body(server: SandboxServer) -> dict[str, Any]:
    with server.api() as api:
        events = api.get(
            "/api/v2/logs", params={"q": "type:sapi", "sort": "date:-1", "per_page": 5}
        ).json()
    patches = [e for e in events if e["details"]["request"]["method"] == "patch"]
    return dict(patches[0]["details"]["request"]["body"])


def submit(client: Client, user_id: str, **fields: Any) -> str:
    form = client.get(action_url("edit-profile", user_id), headers=HX).content.decode()
    data = {"token": form_token(form), "reason": REASON, **fields}
    return client.post(action_url("edit-profile", user_id), data, headers=HX).content.decode()


def test_a_lead_changes_the_email_with_verification_and_only_it_is_sent(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    new = f"moved-{uuid.uuid4().hex[:8]}@example.org"
    done = submit(
        lead_client, user_id, **{**current(fresh_user), "email": new, "email_mode": "verify"}
    )
    assert f"Auth0 emails {new} a link to verify it." in fragment_text(done)
    stored = read_back(use_sandbox, user_id)
    assert stored["email"] == new
    assert stored["email_verified"] is False
    assert stored["name"] == "Casey Action"  # untouched
    assert last_sapi_body(use_sandbox) == {
        "email": new,
        "email_verified": False,
        "verify_email": True,
        "connection": "Username-Password-Authentication",
    }
    with use_sandbox.api() as api:
        logs = api.get(f"/api/v2/users/{quote(user_id, safe='')}/logs").json()
    changed = next(e for e in logs if e["type"] == "sce")  # the user's own log, besides sapi
    assert changed["details"]["body"]["newEmail"] == new
    assert changed["details"]["body"]["verify"] is True
    event = AuditEvent.objects.get(action="users.edit-profile")
    assert event.details["reason"] == REASON
    assert event.details["before"]["email"] == fresh_user["email"]
    assert event.details["after"]["email"] == new
    page = lead_client.get(f"/t/userdesk-sandbox/users/{quote(user_id, safe='')}/").content
    assert "Profile changed" in page.decode()

    marked = submit(
        lead_client,
        user_id,
        **{**current(stored), "email": f"again-{new}", "email_mode": "verified"},
    )
    assert "marked verified" in fragment_text(marked)
    assert read_back(use_sandbox, user_id)["email_verified"] is True


def test_names_and_phone_in_one_call_and_an_emptied_field_is_removed(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    fields = {**current(fresh_user), "given_name": "Casey", "phone_number": "+33612345678"}
    fields["nickname"] = ""
    done = submit(lead_client, user_id, **fields)
    assert "Saved:" in fragment_text(done)
    stored = read_back(use_sandbox, user_id)
    assert stored["given_name"] == "Casey"
    assert stored["phone_number"] == "+33612345678"
    assert "nickname" not in stored
    assert last_sapi_body(use_sandbox) == {
        "given_name": "Casey",
        "phone_number": "+33612345678",
        "nickname": None,
        "connection": "Username-Password-Authentication",
    }


def test_bad_input_and_auth0s_refusal_are_shown_at_the_field(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    bad = submit(lead_client, user_id, **{**current(fresh_user), "phone_number": "06 12 34"})
    assert "Auth0 takes E.164 numbers only" in bad
    # The field in error takes the focus (htmx focuses what it swaps in with `autofocus`).
    assert re.search(r'<input [^>]*name="phone_number"[^>]* autofocus aria-invalid="true"', bad)
    other = create_database_user(use_sandbox, f"taken-{uuid.uuid4().hex[:8]}@example.com")
    try:
        refused = submit(
            lead_client,
            user_id,
            **{**current(fresh_user), "email": other["email"], "name": "Casey Renamed"},
        )
        text = fragment_text(refused)
        assert "Auth0 refused the email: The specified new email already exists" in text
        assert 'class="outcome' not in refused  # at the field, the form again
        assert form_token(refused)  # a fresh token: sending it again is a new request
        assert read_back(use_sandbox, user_id)["name"] == "Casey Action"  # nothing after it
        event = AuditEvent.objects.get(action="users.edit-profile")
        assert event.details["outcome"] == "error"
    finally:
        delete_user(use_sandbox, other["user_id"])


def test_a_social_user_is_offered_only_names_and_auth0_refuses_synced_ones(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    profile = add_google_user(
        use_sandbox, email="gina.social@gmail.com", name="Gina Social", given_name="Gina"
    )
    user_id = profile["user_id"]
    try:
        form = lead_client.get(action_url("edit-profile", user_id), headers=HX).content.decode()
        assert 'name="given_name"' in form
        assert 'name="email"' not in form
        assert 'name="username"' not in form
        refused = submit(lead_client, user_id, **{**current(profile), "given_name": "Gigi"})
        text = fragment_text(refused)
        assert "Auth0 refused the given name: The following user attributes cannot be" in text
        assert read_back(use_sandbox, user_id)["given_name"] == "Gina"
    finally:
        delete_user(use_sandbox, user_id)


def test_a_support_agent_is_not_offered_profile_changes(
    agent_client: Client, fresh_user: dict[str, Any]
) -> None:
    user_id = fresh_user["user_id"]
    page = agent_client.get(f"/t/userdesk-sandbox/users/{quote(user_id, safe='')}/").content
    assert action_url("edit-profile", user_id) not in page.decode()
    response = agent_client.post(
        action_url("edit-profile", user_id),
        {"token": str(uuid.uuid4()), "reason": REASON, "name": "Nope"},
    )
    assert response.status_code == 403


def test_an_sms_users_new_number_is_texted_or_marked_verified(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    """A passwordless SMS user's number: Auth0 texts the new one (`verify_phone_number`, only
    valid for SMS connections), or it is marked verified; a database user's form has no such
    choice (its number is sent alone, test above)."""
    number = f"+3361{uuid.uuid4().int % 10**7:07d}"
    with use_sandbox.api() as api:
        made = api.post(
            "/api/v2/users",
            json={"connection": "sms", "phone_number": number, "phone_verified": True},
        )
    assert made.status_code == 201, made.text
    user = made.json()
    user_id = user["user_id"]
    try:
        form = lead_client.get(action_url("edit-profile", user_id), headers=HX).content.decode()
        assert "If the phone number changes" in form
        assert 'name="email_mode"' not in form
        new = number[:-1] + str((int(number[-1]) + 1) % 10)
        done = submit(lead_client, user_id, **{**current(user), "phone_number": new})
        assert f"Auth0 texts {new}." in fragment_text(done)  # the choice not made: "verify"
        stored = read_back(use_sandbox, user_id)
        assert (stored["phone_number"], stored["phone_verified"]) == (new, False)
        assert last_sapi_body(use_sandbox) == {
            "phone_number": new,
            "phone_verified": False,
            "verify_phone_number": True,
            "connection": "sms",
        }
        with use_sandbox.api() as api:
            logs = api.get(f"/api/v2/users/{quote(user_id, safe='')}/logs").json()
        changed = next(e for e in logs if e["type"] == "scpn")
        assert changed["details"]["body"]["verify"] is True
        event = AuditEvent.objects.get(action="users.edit-profile")
        assert event.details["after"] == {"phone_number": new, "phone_verified": False}

        marked = submit(
            lead_client,
            user_id,
            **{**current(stored), "phone_number": number, "phone_mode": "verified"},
        )
        assert "The new number is marked verified." in fragment_text(marked)
        assert read_back(use_sandbox, user_id)["phone_verified"] is True
    finally:
        delete_user(use_sandbox, user_id)
