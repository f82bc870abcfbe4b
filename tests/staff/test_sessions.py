"""Staff sessions: an idle timeout, a Permissions-Policy header, an HttpOnly CSRF cookie
(htmx sends the token from the page, never from the cookie)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from staff import audit
from staff.models import AuditEvent
from staff.sessions import LAST_SEEN, POLL_HEADER

PAGE = "/password/"


def idle_for(client: Client, seconds: float) -> None:
    """As if the session's last request was `seconds` ago."""
    session = client.session
    session[LAST_SEEN] = time.time() - seconds
    session.save()


def test_a_session_idle_too_long_is_signed_out_and_audited(
    agent_client: Client, support_agent: User, settings: Any
) -> None:
    settings.SESSION_IDLE_MINUTES = 20
    assert agent_client.get(PAGE).status_code == 200
    idle_for(agent_client, 19 * 60)
    assert agent_client.get(PAGE).status_code == 200  # not idle long enough: and it counts
    idle_for(agent_client, 21 * 60)
    answer = agent_client.get(PAGE)
    assert answer.status_code == 302
    assert answer["Location"] == f"/sign-in/?next={PAGE}"
    assert "_auth_user_id" not in agent_client.session
    page = agent_client.get(answer["Location"]).content.decode()
    assert "signed out after 20 minutes without activity" in page
    (event,) = AuditEvent.objects.filter(action=audit.SIGN_OUT)
    assert (event.actor, event.details["reason"]) == (support_agent, "idle for over 20 minutes")


def test_a_pages_own_polling_does_not_keep_an_idle_session_open(
    agent_client: Client, settings: Any
) -> None:
    settings.SESSION_IDLE_MINUTES = 20
    agent_client.get(PAGE)
    poll = {"HX-Request": "true", POLL_HEADER: "true"}
    idle_for(agent_client, 19 * 60)
    before = agent_client.session[LAST_SEEN]
    assert agent_client.get(PAGE, headers=poll).status_code == 200  # still signed in
    assert agent_client.session[LAST_SEEN] == before  # but the poll is no activity
    assert agent_client.get(PAGE).status_code == 200
    assert agent_client.session[LAST_SEEN] > before  # a page the member opened is


def test_a_session_ends_its_age_after_the_sign_in_however_active(
    agent_client: Client, settings: Any
) -> None:
    settings.SESSION_COOKIE_AGE = 3600
    agent_client.get(PAGE)
    ends = agent_client.session.get_expiry_date()
    assert 3590 <= (ends - timezone.now()).total_seconds() <= 3600
    idle_for(agent_client, 60)  # a minute later, another page
    agent_client.get(PAGE)
    assert agent_client.session.get_expiry_date() == ends


def test_an_idle_htmx_request_sends_the_page_to_the_sign_in(
    agent_client: Client, settings: Any
) -> None:
    settings.SESSION_IDLE_MINUTES = 5
    agent_client.get(PAGE)
    idle_for(agent_client, 6 * 60)
    answer = agent_client.get(PAGE, headers={"HX-Request": "true"})
    assert answer["HX-Redirect"] == "/sign-in/"
    assert "_auth_user_id" not in agent_client.session


def test_pages_may_use_no_powerful_browser_feature(db: None) -> None:
    policy = Client().get("/sign-in/")["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()"):
        assert feature in policy
    assert "clipboard-write=(self)" in policy  # the copy buttons


@pytest.mark.browser
def test_the_browser_understands_every_feature_the_policy_names(
    live_server: Any, page: Any
) -> None:
    # Chromium warns in the console of every page about a feature it does not know.
    said: list[str] = []
    page.on("console", lambda message: said.append(f"{message.type}: {message.text}"))
    page.goto(f"{live_server.url}/sign-in/")
    page.get_by_role("button", name="Sign in").first.wait_for()
    assert [text for text in said if "Permissions-Policy" in text] == []


def test_the_csrf_cookie_is_out_of_scripts_reach(db: None) -> None:
    client = Client()
    page = client.get("/sign-in/")
    assert page.cookies["csrftoken"]["httponly"]
