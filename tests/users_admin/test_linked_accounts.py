"""Linked accounts on the user page, against the sandbox server: identities with their own
profiles, possible duplicates in any letter case, link (with metadata kept by choice, refused
for unverified addresses) and unlink; lead only, with a reason, audited with both ids."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import delete_user, read_back
from tests.fixtures.search import fragment_text
from tests.fixtures.user_actions import action_url, form_token
from users_admin.linking import Account, LinkForm

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

REASON = "Ticket #5150: two accounts, one person"
HX = {"HX-Request": "true"}


def test_a_lead_links_a_google_duplicate_then_unlinks_it(
    lead_client: Client,
    twins: tuple[dict[str, Any], str],
    use_sandbox: SandboxServer,
    support_lead: User,
) -> None:
    primary, google_id = twins
    user_id = primary["user_id"]
    page = lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    assert "Identities and linked accounts" in page
    duplicates_url = reverse("users_admin:duplicates", args=[user_id])
    assert f'hx-get="{duplicates_url}"' in page

    listed = lead_client.get(duplicates_url, headers=HX).content.decode()
    assert "<html" not in listed
    assert google_id in listed
    assert "Dana Twin (Google)" in listed
    assert "newsletter, theme" in fragment_text(listed)  # what it holds
    link = f"{action_url('link-account', user_id)}?other={quote(google_id, safe='')}"
    assert link in listed.replace("&amp;", "&")
    # The other way round: keep the Google account as the primary.
    assert f"{action_url('link-account', google_id)}?other={quote(user_id, safe='')}" in listed

    form = lead_client.get(link, headers=HX).content.decode()
    text = fragment_text(form)
    assert "loses" in text
    assert google_id in text
    assert 'value="user_metadata:newsletter"' in form
    assert "replaces the primary&#x27;s &quot;dark&quot;" in form  # theme exists on both
    assert "autofocus" in form
    token = form_token(form)

    missing = lead_client.post(
        action_url("link-account", user_id),
        {"token": token, "other": google_id, "reason": ""},
        headers=HX,
    ).content.decode()
    assert "Type the reason for this action." in missing
    assert read_back(use_sandbox, google_id)["user_id"] == google_id  # nothing linked

    done = lead_client.post(
        action_url("link-account", user_id),
        {
            "token": token,
            "other": google_id,
            "merge": ["user_metadata:newsletter"],
            "reason": REASON,
        },
        headers=HX,
    ).content.decode()
    assert f"{google_id} is now linked into {user_id}" in fragment_text(done)
    stored = read_back(use_sandbox, user_id)
    assert [i["provider"] for i in stored["identities"]] == ["auth0", "google-oauth2"]
    assert stored["user_metadata"] == {"theme": "dark", "newsletter": True}  # kept by choice
    with use_sandbox.api() as api:
        assert api.get(f"/api/v2/users/{quote(google_id, safe='')}").status_code == 404

    replay = lead_client.post(
        action_url("link-account", user_id),
        {"token": token, "other": google_id, "reason": REASON},
        headers=HX,
    ).content.decode()
    assert "nothing was sent again" in fragment_text(replay)

    event = AuditEvent.objects.get(action="users.link-account")
    assert event.actor == support_lead
    assert event.target == user_id
    assert event.details["reason"] == REASON
    assert event.details["before"]["secondary"] == google_id
    assert event.details["before"]["secondary_metadata"]["user_metadata"]["theme"] == "light"
    assert event.details["after"]["merged"] == {"user_metadata": {"newsletter": True}}
    assert event.details["auth0"]["status"] == 201

    page = lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    assert "Dana Twin (Google)" in page  # the linked identity's own profile
    assert "lh3.googleusercontent.com" in page
    assert "<img" not in page
    assert "Accounts linked" in page
    assert REASON in page

    identity = google_id  # provider|user_id: its user id once unlinked
    unlink_form = lead_client.get(action_url("unlink-account", user_id), headers=HX)
    unlink_token = form_token(unlink_form.content.decode())
    unlinked = lead_client.post(
        action_url("unlink-account", user_id),
        {"token": unlink_token, "identity": identity, "reason": REASON},
        headers=HX,
    ).content.decode()
    assert f"{google_id} is a user of its own again" in fragment_text(unlinked)
    assert reverse("users_admin:detail", args=[google_id]) in unlinked
    back = read_back(use_sandbox, google_id)
    assert back["name"] == "Dana Twin (Google)"
    assert "user_metadata" not in back
    assert len(read_back(use_sandbox, user_id)["identities"]) == 1
    event = AuditEvent.objects.get(action="users.unlink-account")
    assert event.target == user_id
    assert event.details["after"]["new_user"] == google_id
    assert event.details["before"]["primary"] == user_id

    # Sent twice (a double click): done once, nothing sent again.
    replay = lead_client.post(
        action_url("unlink-account", user_id),
        {"token": unlink_token, "identity": identity, "reason": REASON},
        headers=HX,
    ).content.decode()
    assert "nothing was sent again" in fragment_text(replay)
    assert AuditEvent.objects.filter(action="users.unlink-account").count() == 1


def test_an_unverified_address_is_refused_before_and_after_typing(
    lead_client: Client, twins: tuple[dict[str, Any], str], use_sandbox: SandboxServer
) -> None:
    primary, google_id = twins
    user_id = primary["user_id"]
    with use_sandbox.api() as api:
        api.patch(f"/api/v2/users/{quote(user_id, safe='')}", json={"email_verified": False})
    link = f"{action_url('link-account', user_id)}?other={quote(google_id, safe='')}"
    form = lead_client.get(link, headers=HX).content.decode()
    assert "Auth0 warns against linking an unverified address" in form
    token = form_token(form)
    refused = lead_client.post(
        action_url("link-account", user_id),
        {"token": token, "other": google_id, "reason": REASON},
        headers=HX,
    ).content.decode()
    assert f"{user_id} has {primary['email']} unverified" in refused
    assert read_back(use_sandbox, google_id)["user_id"] == google_id
    assert not AuditEvent.objects.filter(action="users.link-account").exists()


def test_a_support_agent_is_offered_none_of_it(
    agent_client: Client, twins: tuple[dict[str, Any], str], use_sandbox: SandboxServer
) -> None:
    primary, google_id = twins
    user_id = primary["user_id"]
    listed = agent_client.get(
        reverse("users_admin:duplicates", args=[user_id]), headers=HX
    ).content.decode()
    assert google_id in listed  # the agent sees the duplicate...
    assert "link-account" not in listed  # ...but is offered no link
    response = agent_client.post(
        action_url("link-account", user_id),
        {"token": str(uuid.uuid4()), "other": google_id, "reason": REASON},
    )
    assert response.status_code == 403
    assert read_back(use_sandbox, google_id)["user_id"] == google_id


def test_a_lead_links_an_account_typed_by_its_user_id(
    lead_client: Client, twins: tuple[dict[str, Any], str], use_sandbox: SandboxServer
) -> None:
    """The other account chosen by its user id, not only among the duplicates: the panel asks
    for it, compares the two, and for accounts of another address wants the lead's word that
    the user confirmed both are theirs; an account with no email needs a verified phone."""
    primary, _ = twins
    user_id = primary["user_id"]
    page = lead_client.get(f"/t/userdesk-sandbox/users/{quote(user_id, safe='')}/").content
    assert "Link another account by its user id" in page.decode()
    asked = fragment_text(
        lead_client.get(action_url("link-account", user_id), headers=HX).content.decode()
    )
    assert "User id of the account to link into this user" in asked
    assert "Link the accounts" not in asked  # nothing to link before the other is chosen
    nobody = lead_client.get(
        action_url("link-account", user_id) + "?other=auth0%7Cnobody0000", headers=HX
    ).content.decode()
    assert re.search(
        r"Auth0 has no user auth0\|nobody0000 ?: nothing to link\.", fragment_text(nobody)
    )
    itself = lead_client.get(
        action_url("link-account", user_id) + f"?other={quote(user_id, safe='')}", headers=HX
    ).content.decode()
    assert "That is this user" in fragment_text(itself)

    number = f"+3362{uuid.uuid4().int % 10**7:07d}"
    with use_sandbox.api() as api:
        made = api.post("/api/v2/users", json={"connection": "sms", "phone_number": number})
    assert made.status_code == 201, made.text
    sms_id = made.json()["user_id"]
    try:
        link = f"{action_url('link-account', user_id)}?other={quote(sms_id, safe='')}"
        unverified = fragment_text(lead_client.get(link, headers=HX).content.decode())
        assert f"{sms_id} has no verified email or phone number" in unverified
        with use_sandbox.api() as api:
            api.patch(f"/api/v2/users/{quote(sms_id, safe='')}", json={"phone_verified": True})
        form = lead_client.get(link, headers=HX).content.decode()
        assert "I checked with the user that both accounts are theirs" in fragment_text(form)
        data = {"other": sms_id, "reason": REASON}
        refused = lead_client.post(
            action_url("link-account", user_id), {"token": form_token(form), **data}, headers=HX
        ).content.decode()
        assert "confirmed both are theirs: tick the box" in fragment_text(refused)
        assert read_back(use_sandbox, sms_id)["user_id"] == sms_id
        done = lead_client.post(
            action_url("link-account", user_id),
            {"token": form_token(refused), "same_person": "on", **data},
            headers=HX,
        ).content.decode()
        assert f"{sms_id} is now linked into {user_id}" in fragment_text(done)
        identities = read_back(use_sandbox, user_id)["identities"]
        assert [i["provider"] for i in identities] == ["auth0", "sms"]
        event = AuditEvent.objects.get(action="users.link-account")
        assert event.details["before"]["secondary"] == sms_id
    finally:
        delete_user(use_sandbox, sms_id)


def test_the_link_form_focuses_its_first_metadata_box_alone() -> None:
    # One element a page may carry `autofocus`: the first of the secondary's metadata keys.
    primary = Account({"user_id": "auth0|1", "email": "a@x.io"})
    secondary = Account(
        {"user_id": "google-oauth2|2", "email": "a@x.io", "user_metadata": {"a": 1, "b": 2}}
    )
    html = str(LinkForm(primary=primary, secondary=secondary))
    assert html.count("autofocus") == 1
    assert re.search(r'<input[^>]*value="user_metadata:a"[^>]*autofocus', html)
