"""User actions through HTTP against the sandbox server: permission, audit, effect read back."""

from __future__ import annotations

import html as html_lib
import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import read_back
from tests.fixtures.search import Upstream, fragment_text
from tests.fixtures.user_actions import REASON, action_url, form_token

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def test_a_lead_blocks_a_user_with_a_reason(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer, support_lead: User
) -> None:
    user_id = fresh_user["user_id"]
    page = lead_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    assert f'href="{action_url("block", user_id)}"' in page

    confirm = lead_client.get(action_url("block", user_id))
    text = fragment_text(confirm.content.decode())
    assert "will not be able to sign in" in text
    assert "Casey Action" in text
    token = form_token(confirm.content.decode())

    counter = Upstream()
    missing = lead_client.post(action_url("block", user_id), {"token": token, "reason": ""})
    assert "Type the reason for this action." in missing.content.decode()
    assert counter.path(f"/api/v2/users/{user_id}") == 1  # the page's read, no PATCH
    assert read_back(use_sandbox, user_id).get("blocked") is not True

    done = lead_client.post(action_url("block", user_id), {"token": token, "reason": REASON})
    assert "Blocked: Auth0 refuses every sign-in" in fragment_text(done.content.decode())
    assert read_back(use_sandbox, user_id)["blocked"] is True

    event = AuditEvent.objects.get(action="users.block")
    assert event.actor == support_lead
    assert event.target == user_id
    assert event.details["reason"] == REASON
    assert event.details["before"] == {"blocked": False}
    assert event.details["after"] == {"blocked": True}
    assert event.details["auth0"]["blocked"] is True

    page = lead_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    assert "Blocked by an administrator" in page
    assert f'href="{action_url("unblock", user_id)}"' in page
    assert f'href="{action_url("block", user_id)}"' not in page
    assert "by lead@example.com" in page  # the timeline names who acted
    assert REASON in page


def test_a_double_submit_acts_once(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    token = form_token(lead_client.get(action_url("block", user_id)).content.decode())
    lead_client.post(action_url("block", user_id), {"token": token, "reason": REASON})
    # Someone unblocks in between: a replay of the old form must not block again.
    with use_sandbox.api() as api:
        api.patch(f"/api/v2/users/{quote(user_id, safe='')}", json={"blocked": False})
    counter = Upstream()
    replay = lead_client.post(action_url("block", user_id), {"token": token, "reason": REASON})
    assert "nothing was sent again" in fragment_text(replay.content.decode())
    assert read_back(use_sandbox, user_id)["blocked"] is False
    assert counter.total <= 4  # the page's reads only
    assert AuditEvent.objects.filter(action="users.block").count() == 1


def test_a_support_agent_cannot_do_what_a_lead_can(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    page = agent_client.get(f"/t/userdesk-sandbox/users/{user_id}/").content.decode()
    for name in ("block", "sign-out", "edit-metadata", "delete"):
        assert action_url(name, user_id) not in page
    response = agent_client.post(
        action_url("block", user_id), {"token": str(uuid.uuid4()), "reason": REASON}
    )
    assert response.status_code == 403
    assert read_back(use_sandbox, user_id).get("blocked") is not True
    assert not AuditEvent.objects.filter(action="users.block").exists()


def test_htmx_gets_the_panel_alone(lead_client: Client, fresh_user: dict[str, Any]) -> None:
    user_id = fresh_user["user_id"]
    response = lead_client.get(action_url("block", user_id), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "<html" not in body
    assert 'class="card action-card danger"' in body
    assert f'hx-post="{action_url("block", user_id)}"' in body
    assert response["Vary"] == "HX-Request" or "HX-Request" in response["Vary"]
    token = form_token(body)
    done = lead_client.post(
        action_url("block", user_id),
        {"token": token, "reason": REASON},
        headers={"HX-Request": "true"},
    )
    assert "<html" not in done.content.decode()
    assert 'class="outcome alert success"' in done.content.decode()


def test_auth0s_refusal_is_shown_in_place_and_audited(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer, settings: Any
) -> None:
    import httpx

    import management_api

    user_id = fresh_user["user_id"]
    token = form_token(lead_client.get(action_url("block", user_id)).content.decode())
    real = httpx.HTTPTransport()

    def handler(request: httpx.Request) -> httpx.Response:
        # The sandbox's rate-limit switch hits every call; this refuses the PATCH alone.
        if request.method == "PATCH":
            return httpx.Response(
                429,
                headers={"Retry-After": "7"},
                json={
                    "statusCode": 429,
                    "error": "Too Many Requests",
                    "message": "Global per second users_write group limit has been reached",
                    "errorCode": "too_many_requests",
                },
            )
        return real.handle_request(request)

    settings.AUTH0_MAX_RETRIES = 0
    with management_api.use_transport(httpx.MockTransport(handler)):
        response = lead_client.post(
            action_url("block", user_id), {"token": token, "reason": REASON}
        )
    text = html_lib.unescape(fragment_text(response.content.decode()))
    assert "Auth0 did not do it: Auth0's rate limit was reached" in text
    assert "try again in 7 seconds" in text
    assert "users_write group limit" in text
    assert 'class="outcome alert warning"' in response.content.decode()
    assert read_back(use_sandbox, user_id).get("blocked") is not True
    event = AuditEvent.objects.get(action="users.block")
    assert event.details["outcome"] == "error"
    assert event.details["auth0"]["status"] == 429
    assert event.details["auth0"]["errorCode"] == "too_many_requests"


def test_metadata_is_validated_diffed_then_saved(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    url = action_url("edit-metadata", user_id)
    form = lead_client.get(url, {"which": "user_metadata"}).content.decode()
    assert "&quot;theme&quot;: &quot;dark&quot;" in form
    token = form_token(form)

    bad = lead_client.post(
        url,
        {"token": token, "reason": REASON, "which": "user_metadata", "document": "{theme: 1"},
    ).content.decode()
    assert "This is not valid JSON" in bad

    new = {"theme": "light", "beta": True}  # lang removed, theme changed, beta added
    preview = lead_client.post(
        url,
        {
            "token": token,
            "reason": REASON,
            "which": "user_metadata",
            "document": json.dumps(new),
            "stage": "preview",
        },
    ).content.decode()
    assert '<span class="diff-remove">-   &quot;lang&quot;: &quot;en&quot;' in preview
    assert '<span class="diff-add">+   &quot;beta&quot;: true' in preview
    assert read_back(use_sandbox, user_id)["user_metadata"] == {"theme": "dark", "lang": "en"}
    # The reason beside the diff keeps the limits of the form's own reason field.
    inputs = [re.search(r'<input[^>]*name="reason"[^>]*>', page) for page in (form, preview)]
    limits = [sorted(re.findall(r'(?:min|max)length="\d+"', i[0])) for i in inputs if i]
    assert limits == [['maxlength="500"', 'minlength="5"']] * 2

    found = re.search(r'name="document" value="([^"]*)"', preview)
    assert found, "the preview carries the document to save"
    document = html_lib.unescape(found[1])
    saved = lead_client.post(
        url,
        {
            "token": token,
            "reason": REASON,
            "which": "user_metadata",
            "document": document,
            "stage": "save",
        },
    ).content.decode()
    assert "user_metadata saved." in saved
    assert read_back(use_sandbox, user_id)["user_metadata"] == new
    event = AuditEvent.objects.get(action="users.edit-metadata")
    assert event.details["before"] == {"user_metadata": {"theme": "dark", "lang": "en"}}
    assert event.details["after"] == {"user_metadata": new}
    assert event.details["auth0"]["sent"] == {
        "user_metadata": {"lang": None, "theme": "light", "beta": True}
    }


def test_reserved_app_metadata_keys_are_refused_where_typed(
    lead_client: Client, fresh_user: dict[str, Any]
) -> None:
    url = action_url("edit-metadata", fresh_user["user_id"])
    html = lead_client.post(
        url,
        {
            "token": str(uuid.uuid4()),
            "reason": REASON,
            "which": "app_metadata",
            "document": '{"plan": "gold", "email": "x@y.z"}',
            "stage": "preview",
        },
    ).content.decode()
    assert "These keys are user attributes, not app_metadata: email." in html


def test_the_audit_page_filters_by_user(
    admin_client_: Client, lead_client: Client, fresh_user: dict[str, Any]
) -> None:
    user_id = fresh_user["user_id"]
    lead_client.get(f"/t/userdesk-sandbox/users/{user_id}/")
    lead_client.get("/t/userdesk-sandbox/users/auth0|someoneelse/")
    html = admin_client_.get("/t/userdesk-sandbox/audit/", {"user": user_id}).content.decode()
    assert user_id in html
    assert "auth0|someoneelse" not in html


def test_an_action_that_no_longer_applies_is_not_sent(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    # As from a page opened while the user was still blocked: a token never submitted.
    stale = str(uuid.uuid4())
    counter = Upstream()
    html = lead_client.post(action_url("unblock", user_id), {"token": stale, "reason": REASON})
    assert "does not apply" in html.content.decode()
    assert counter.path(f"/api/v2/users/{user_id}") == 1  # the read, no PATCH
    assert not AuditEvent.objects.filter(action="users.unblock").exists()
