"""The user's timeline against the sandbox: Auth0's logs in plain words, paged, merged with
Userdesk's own audit events about the user."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import logs_of
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import brute_force_blocked

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def entries(html: str) -> list[str]:
    return re.findall(r'<li class="entry ([^"]*)">', html)


def test_the_timeline_shows_auth0_logs_in_plain_words_with_failures_highlighted(
    agent_client: Client, use_sandbox: SandboxServer, settings: Any
) -> None:
    settings.AUTH0_LOG_RETENTION_DAYS = 5
    user = brute_force_blocked(use_sandbox)[0]
    logs = logs_of(use_sandbox, user["user_id"])
    html = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    timeline = html.split('id="timeline"', 1)[1]
    text = fragment_text(timeline)
    assert "Auth0 keeps logs for 5 days" in text
    assert "Sign-in failed: wrong password" in text
    assert " fp " not in f" {text} "  # the code is translated, not shown raw
    kinds = entries(timeline)
    assert len([k for k in kinds if k.startswith("auth0")]) == len(logs)
    failures = sum(1 for e in logs if e["type"].startswith(("f", "limit_")))
    assert sum(1 for k in kinds if "failure" in k) == failures > 0


def test_userdesk_events_are_merged_in_with_who_and_why(
    lead_client: Client, use_sandbox: SandboxServer, support_lead: User
) -> None:
    user = brute_force_blocked(use_sandbox)[0]
    lead_client.get(
        f"/t/userdesk-sandbox/users/{user['user_id']}/"
    )  # a view is an event about the user
    html = lead_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    timeline = html.split('id="timeline"', 1)[1]
    first = timeline.split('<li class="entry', 2)[1]
    assert "userdesk" in first.split(">", 1)[0]  # newest first: the view a moment ago
    assert "Viewed in Userdesk" in fragment_text(first)
    assert "by lead@example.com" in fragment_text(first)


def test_a_userdesk_event_without_timeline_words_reads_as_the_audit_log_names_it(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    """Reading the audit log about a user is an event about them: never shown as its code."""
    user = brute_force_blocked(use_sandbox)[0]
    lead_client.get("/t/userdesk-sandbox/audit/", {"user": user["user_id"]})
    html = lead_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    timeline = fragment_text(html.split('id="timeline"', 1)[1])
    assert "Read the audit log (in Userdesk)" in timeline
    assert "audit.read" not in timeline


def test_older_pages_follow_and_htmx_gets_the_timeline_alone(
    agent_client: Client, use_sandbox: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")
    user = fresh_user
    with use_sandbox.api() as api:
        for _ in range(55):  # each request appends an `svr` event to the user's log
            sent = api.post("/api/v2/jobs/verification-email", json={"user_id": user["user_id"]})
            assert sent.status_code == 201, sent.text
    assert len(logs_of(use_sandbox, user["user_id"])) == 50
    html = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    link = re.search(r'href="([^"]*)"[^>]*rel="next">Older events', html)
    assert link, "a full first page links to the older events"
    older_url = link[1].replace("&amp;", "&")
    assert older_url.startswith(reverse("users_admin:timeline", args=[user["user_id"]]))
    partial = agent_client.get(older_url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert partial.lstrip().startswith('<section class="card timeline" id="timeline"')
    second = logs_of(use_sandbox, user["user_id"], page=1)
    assert 5 <= len(second) < 50  # the 55 requests and the signup spill onto page 2
    assert len([k for k in entries(partial) if k.startswith("auth0")]) == len(second)
    assert "Verification email queued" in fragment_text(partial)
    full = agent_client.get(older_url).content.decode()
    assert "<html" in full
    assert "Newest" in full
