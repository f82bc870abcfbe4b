"""The user page through HTTP against the sandbox as a real server: metadata saves that keep
others' changes, actions offered only where they can work, delete outcomes, timeline paging and
grouping, the MFA panel, no third-party picture, wording."""

from __future__ import annotations

import html as html_lib
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import logs_of
from tests.fixtures.search import Upstream, fragment_text
from tests.fixtures.support_cases import mfa_enrolled, with_devices
from users_admin.actions import ACTIONS
from users_admin.workbench import Workbench

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

REASON = "Ticket #5521: the customer moved to France"


class _Forms(HTMLParser):
    """The fields a browser would post from each form of a page (radios: the checked one)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.radios: dict[str, list[str]] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({})
        if not self.forms or "name" not in found:
            return
        fields = self.forms[-1]
        if tag == "input" and found.get("type") not in ("submit", "button"):
            if found.get("type") == "radio":
                self.radios.setdefault(found["name"], []).append(found.get("value", ""))
                if "checked" not in found:
                    return
            fields[found["name"]] = found.get("value", "")
        elif tag == "textarea":
            self._textarea = found["name"]
            fields[found["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.forms[-1][self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def form_fields(html: str) -> dict[str, str]:
    """The action form's fields (the one carrying an idempotency token)."""
    parser = _Forms()
    parser.feed(html)
    fields = next(form for form in parser.forms if "token" in form)
    if fields.get("document", "").startswith("\n"):
        fields["document"] = fields["document"][1:]  # the newline after <textarea> is markup
    return fields


def radios(html: str) -> dict[str, list[str]]:
    parser = _Forms()
    parser.feed(html)
    return parser.radios


def set_app_metadata(server: SandboxServer, user_id: str, values: dict[str, Any]) -> None:
    with server.api() as api:
        response = api.patch(
            f"/api/v2/users/{quote(user_id, safe='')}", json={"app_metadata": values}
        )
    response.raise_for_status()


def app_metadata(server: SandboxServer, user_id: str) -> dict[str, Any]:
    with server.api() as api:
        response = api.get(f"/api/v2/users/{quote(user_id, safe='')}")
    response.raise_for_status()
    return dict(response.json()["app_metadata"])


def open_editor(client: Client, user_id: str) -> tuple[str, dict[str, str]]:
    url = reverse("users_admin:action", args=["edit-metadata", user_id])
    fields = form_fields(client.get(url, {"which": "app_metadata"}).content.decode())
    return url, fields


def with_country(fields: dict[str, str], country: str) -> dict[str, str]:
    draft = json.loads(fields["document"])
    draft["country"] = country
    return {**fields, "document": json.dumps(draft, indent=2), "reason": REASON}


# --- 1. metadata edits keep what others changed since the editor opened --------------------


def test_a_save_sends_only_the_keys_edited_and_keeps_what_the_api_changed_meanwhile(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    set_app_metadata(use_sandbox, user_id, {"plan": "gold", "seats": 5, "country": "DE"})
    url, opened = open_editor(lead_client, user_id)
    set_app_metadata(use_sandbox, user_id, {"plan": "platinum", "seats": 20})  # meanwhile

    preview = lead_client.post(url, {**with_country(opened, "FR"), "stage": "preview"})
    html = preview.content.decode()
    assert "changed at Auth0 since" not in html  # country: nobody else touched it
    confirm = form_fields(html)
    saved = lead_client.post(url, {**confirm, "stage": "save"}).content.decode()
    assert "app_metadata saved." in saved

    assert app_metadata(use_sandbox, user_id) == {"plan": "platinum", "seats": 20, "country": "FR"}
    event = AuditEvent.objects.get(action="users.edit-metadata")
    assert event.details["auth0"]["sent"] == {"app_metadata": {"country": "FR"}}


@pytest.mark.parametrize(("choice", "country"), [("theirs", "NL"), ("yours", "FR")])
def test_a_key_changed_at_auth0_too_shows_the_three_versions_and_the_person_chooses(
    lead_client: Client,
    fresh_user: dict[str, Any],
    use_sandbox: SandboxServer,
    choice: str,
    country: str,
) -> None:
    user_id = fresh_user["user_id"]
    set_app_metadata(use_sandbox, user_id, {"plan": "gold", "country": "DE"})
    url, opened = open_editor(lead_client, user_id)
    set_app_metadata(use_sandbox, user_id, {"plan": "platinum", "country": "NL"})  # meanwhile

    draft = with_country(opened, "FR")
    draft["document"] = json.dumps({**json.loads(draft["document"]), "vat": "FR123"})
    html = lead_client.post(url, {**draft, "stage": "preview"}).content.decode()
    text = html_lib.unescape(fragment_text(html))
    assert "changed at Auth0 since you opened it" in text
    assert 'Theirs (now at Auth0) "NL"' in text
    assert 'As you opened it "DE"' in text
    assert 'Yours "FR"' in text
    assert "plan" not in text  # not edited: not offered, not sent
    assert app_metadata(use_sandbox, user_id)["country"] == "NL"  # nothing sent yet

    # Saving the stale form as it was (the same post again) still stops at the conflict.
    counter = Upstream()
    again = lead_client.post(url, {**draft, "stage": "save"}).content.decode()
    assert "changed at Auth0 since you opened it" in again
    assert counter.path(f"/api/v2/users/{user_id}") == 1  # the page's read, no PATCH

    fields = form_fields(html)
    assert radios(html) == {"take-country": ["theirs", "yours"]}
    resolved = lead_client.post(url, {**fields, "take-country": choice, "stage": "resolve"})
    confirm = form_fields(resolved.content.decode())
    saved = lead_client.post(url, {**confirm, "stage": "save"}).content.decode()
    assert "app_metadata saved." in saved
    assert app_metadata(use_sandbox, user_id) == {
        "plan": "platinum",
        "country": country,
        "vat": "FR123",
    }


def test_keeping_theirs_for_the_only_key_changed_leaves_nothing_to_save(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    url, opened = open_editor(lead_client, user_id)
    set_app_metadata(use_sandbox, user_id, {"country": "NL"})  # meanwhile
    draft = with_country(opened, "FR")
    conflict = lead_client.post(url, {**draft, "stage": "preview"}).content.decode()
    fields = {**form_fields(conflict), "take-country": "theirs", "stage": "resolve"}
    counter = Upstream()
    html = lead_client.post(url, fields).content.decode()
    assert "Nothing left to save: you kept Auth0&#x27;s value of every key you changed." in html
    assert counter.path(f"/api/v2/users/{user_id}") == 1  # the read, no PATCH
    assert app_metadata(use_sandbox, user_id) == {"plan": "gold", "country": "NL"}


# --- 2. "Edit again" returns to the editor with the draft and the reason --------------------


def test_edit_again_returns_to_the_editor_with_the_draft_and_the_reason(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    url, opened = open_editor(lead_client, user_id)
    draft = with_country(opened, "FR")
    preview = lead_client.post(url, {**draft, "stage": "preview"}).content.decode()
    back = lead_client.post(
        url, {**form_fields(preview), "stage": "edit"}, headers={"HX-Request": "true"}
    ).content.decode()
    editor = form_fields(back)
    assert json.loads(editor["document"]) == json.loads(draft["document"])
    assert editor["reason"] == REASON
    assert editor["stage"] == "preview"
    assert editor["original"]
    assert json.loads(editor["original"]) == json.loads(opened["original"])
    assert "Show the changes" in back
    assert 'class="errorlist' not in back
    assert app_metadata(use_sandbox, user_id) == {"plan": "gold"}


# --- 3. actions that cannot work are not offered; a deleted user's page says who and why --------


def test_sign_out_is_offered_only_to_a_user_signed_in_somewhere(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    url = reverse("users_admin:action", args=["sign-out", fresh_user["user_id"]])
    page = lead_client.get(reverse("users_admin:detail", args=[fresh_user["user_id"]]))
    assert url not in page.content.decode()
    panel = fragment_text(lead_client.get(url).content.decode())
    assert "The user has no session and no refresh token: there is nothing to sign out." in panel
    assert "Reason" not in panel  # known before the reason is typed

    signed_in = with_devices(use_sandbox)[-1]["user_id"]
    page = lead_client.get(reverse("users_admin:detail", args=[signed_in]))
    assert reverse("users_admin:action", args=["sign-out", signed_in]) in page.content.decode()


@pytest.mark.parametrize(
    ("ours", "auth0s", "said"),
    [
        ("professional", "professional", "on Enterprise plans only; this tenant is on the Pro"),
        ("enterprise", "professional", "Auth0 does not let this tenant manage sessions"),
    ],
)
def test_sign_out_on_a_plan_without_sessions_is_not_offered(
    lead_client: Client,
    use_sandbox: SandboxServer,
    settings: Any,
    ours: str,
    auth0s: str,
    said: str,
) -> None:
    settings.AUTH0_TENANT_PLAN = ours
    use_sandbox.set_faults(tenant_plan=auth0s)
    user_id = with_devices(use_sandbox)[-1]["user_id"]
    url = reverse("users_admin:action", args=["sign-out", user_id])
    assert (
        url not in lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    )
    assert said in fragment_text(lead_client.get(url).content.decode())


def test_a_password_link_is_not_offered_for_a_user_without_email() -> None:
    bench = Workbench(
        "auth0|nomail",
        {"username": "nomail", "identities": [{"provider": "auth0", "connection": "db"}]},
    )
    assert ACTIONS["password-link"].applies_to(bench) == "The user has no email address."


def test_after_a_delete_the_search_is_offered_and_the_page_says_who_deleted_it_when_and_why(
    lead_client: Client,
    agent_client: Client,
    fresh_user: dict[str, Any],
    settings: Any,
    support_lead: Any,
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = True
    user_id = fresh_user["user_id"]
    url = reverse("users_admin:action", args=["delete", user_id])
    fields = form_fields(lead_client.get(url).content.decode())
    done = lead_client.post(url, {**fields, "reason": REASON, "confirm": user_id}).content.decode()
    assert f"{user_id} was deleted at Auth0." in fragment_text(done)
    assert "Reload the user" not in done
    assert f'href="{reverse("users_admin:search")}" class="button">Search users' in done
    assert f'href="{reverse("users_admin:detail", args=[user_id])}"' not in done

    event = AuditEvent.objects.get(action="users.delete")
    for client in (lead_client, agent_client):  # Support too
        page = client.get(reverse("users_admin:detail", args=[user_id]))
        assert page.status_code == 404
        text = fragment_text(page.content.decode())
        assert "User deleted" in text
        assert f"by {support_lead.get_username()} on {event.at:%Y-%m-%d %H:%M} UTC" in text
        assert f"Reason: {REASON}" in text


# --- 4. the timeline's pages, groups of identical events, and hiding views --------------------

VIEWED = '<strong class="entry-title">Viewed in Userdesk</strong>'


def queue_verification_emails(server: SandboxServer, user_id: str, count: int) -> None:
    """`count` identical `svr` events on the user's log, seconds apart."""
    server.set_faults(rate_limit_plan="off")
    with server.api() as api:
        for _ in range(count):
            sent = api.post("/api/v2/jobs/verification-email", json={"user_id": user_id})
            assert sent.status_code == 201, sent.text


def test_timeline_pages_hold_their_own_userdesk_entries_and_say_which_page_they_are(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    queue_verification_emails(use_sandbox, user_id, 55)
    agent_client.get(reverse("users_admin:detail", args=[user_id]))  # two views, newer than
    agent_client.get(reverse("users_admin:detail", args=[user_id]))  # every log event
    url = reverse("users_admin:timeline", args=[user_id])

    def page(**params: str) -> tuple[int, str]:
        response = agent_client.get(url, params, headers={"HX-Request": "true"})
        html = response.content.decode().replace(VIEWED, "(viewed entry)")
        return response.status_code, html_lib.unescape(fragment_text(html))

    status, first = page(page="0")
    assert status == 200
    assert "Page 1 (the newest)" in first
    assert first.count("(viewed entry)") == 2

    status, second = page(page="1")  # typed by hand: no `until`
    assert status == 200
    assert "Page 2 (Auth0 events from number 51, newest first)" in second
    assert "(viewed entry)" not in second  # they belong to page 1
    assert "Verification email queued" in second
    assert len(logs_of(use_sandbox, user_id, page=1)) >= 5

    status, past = page(page="2")
    assert status == 200
    assert "Page 3" in past
    assert "No events on this page" in past
    assert "(viewed entry)" not in past

    for typed in ("99", "-1", "x"):
        status, text = page(page=typed)
        assert status == 404
        assert f"There is no timeline page “{typed}”" in text
        assert "Newest" in text
        assert "(viewed entry)" not in text

    status, hidden = page(page="0", views="hide")
    assert "(viewed entry)" not in hidden
    assert "“Viewed in Userdesk” entries are hidden. Show them" in hidden


def test_repeated_identical_auth0_events_are_one_expandable_row(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    queue_verification_emails(use_sandbox, user_id, 11)
    html = agent_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    timeline = html.split('id="timeline"', 1)[1]
    assert timeline.count('<li class="entry-group"><details><summary>') == 1
    group = timeline.split('<li class="entry-group">', 1)[1].split("</details>", 1)[0]
    summary = fragment_text(group.split("</summary>", 1)[0])
    assert "Verification email queued" in summary
    assert "11 times within" in summary
    assert group.count('<li class="entry auth0') == 11  # each one is inside, expandable


# --- 5. MFA methods in words, the phone masked, last use shown, removals say which -----------


def test_mfa_methods_are_in_words_masked_with_their_last_use_and_a_removal_says_which(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")
    for user in mfa_enrolled(use_sandbox)[:-1]:  # the last one is another test's
        path = f"/api/v2/users/{quote(user['user_id'], safe='')}/authentication-methods"
        with use_sandbox.api() as api:
            methods = api.get(path).json()
        phone = next((m for m in methods if m["type"] == "phone"), None)
        if phone is not None and any(m["type"] == "totp" for m in methods):
            break
    else:
        pytest.fail("the sandbox seeds a user with a phone and an authenticator app")
    user_id = user["user_id"]
    whole_number = str(user.get("phone_number") or phone["name"])
    html = lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    card = html.split('id="mfa-heading"', 1)[1].split("</section>", 1)[0]
    text = fragment_text(card)
    assert phone["phone_number"].startswith("XXX")  # Auth0 answers it masked
    assert f"Phone (text message) · {phone['phone_number']}" in text
    assert whole_number not in card  # never beside its masked form
    assert "Authenticator app" in text
    assert ">totp<" not in card
    assert "last used" in text
    totp = next(m for m in methods if m["type"] == "totp")
    assert f"last used {totp['last_auth_at'][:10]}" in text

    url = reverse("users_admin:action", args=["remove-mfa", user_id])
    fields = form_fields(lead_client.get(url).content.decode())
    lead_client.post(url, {**fields, "reason": REASON, "method": totp["id"]})
    page = lead_client.get(reverse("users_admin:detail", args=[user_id])).content.decode()
    timeline = fragment_text(page.split('id="timeline"', 1)[1])
    assert f"MFA device removed Authenticator app ({totp['id']})" in timeline


# --- 6. no picture from a third party: an initials avatar, and the CSP allows no other host ----


def test_the_user_page_draws_initials_and_loads_no_picture(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    with use_sandbox.api() as api:
        api.patch(
            f"/api/v2/users/{quote(user_id, safe='')}",
            json={
                "picture": "https://s.gravatar.com/avatar/abc?s=480&d=https%3A%2F%2Fcdn.auth0.com"
            },
        )
    response = agent_client.get(reverse("users_admin:detail", args=[user_id]))
    html = response.content.decode()
    head = html.split('class="page-header profile-head"', 1)[1].split("</div>", 1)[0]
    assert '<span class="avatar avatar-' in head
    assert ">CA</span>" in head  # Casey Action
    assert "<img" not in html
    assert "gravatar.com/avatar" not in html.split("Raw JSON", 1)[0]  # only in the raw JSON
    policy = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in policy + ";"


# --- 7. wording -------------------------------------------------------------------------------


def test_a_sign_out_counts_in_words(lead_client: Client, use_sandbox: SandboxServer) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")
    user_id = with_devices(use_sandbox)[0]["user_id"]
    url = reverse("users_admin:action", args=["sign-out", user_id])
    fields = form_fields(lead_client.get(url).content.decode())
    outcome = fragment_text(lead_client.post(url, {**fields, "reason": REASON}).content.decode())
    assert "Auth0 accepted:" in outcome
    assert "(s)" not in outcome
    assert re.search(r"(no|1|\d+) sessions? and (no|1|\d+) refresh tokens? revoked", outcome)


def test_a_failed_verification_email_ends_its_sentence_once(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(email_template_disabled=True)
    user_id = fresh_user["user_id"]
    url = reverse("users_admin:action", args=["resend-verification", user_id])
    fields = form_fields(agent_client.get(url).content.decode())
    agent_client.post(url, {**fields, "reason": REASON})
    job_id = AuditEvent.objects.get(action="users.resend-verification").details["auth0"]["id"]
    poll = reverse("users_admin:verification_job", args=[job_id])
    for _ in range(400):  # the sandbox's job runner has no event to await from outside
        answer = agent_client.get(poll, {"user": user_id}, headers={"HX-Request": "true"})
        if answer.status_code == 286:
            break
        time.sleep(0.05)
    text = fragment_text(answer.content.decode())
    assert "The verification email template is disabled." in text
    assert ".." not in text


TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_every_request_into_the_action_panel_is_dropped_while_one_is_out() -> None:
    """A link or form that loads the action panel carries hx-sync="this:drop": a second click
    while its request is out (a double click) asks nothing. Without it htmx queues the click
    and swaps its answer in after the first, over what was typed meanwhile; `disabled`
    (hx-disabled-elt) does not stop a link."""
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for tag in re.finditer(r"<(?:a|form)\b[^>]*>", path.read_text()):
            loads = 'hx-target="#action-panel"' in tag[0] and "hx-get=" in tag[0]
            if loads and 'hx-sync="this:drop"' not in tag[0]:
                missing.append(f"{path.relative_to(TEMPLATES)}: {tag[0][:90]}")
    assert missing == []
