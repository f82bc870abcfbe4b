"""What a search page view costs the database: a bound on its SQL statements (a count, not a
timing), so that a change reading the roles again or the recent searches twice shows here; and
the recent searches the page shows are the ones stored."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from staff.models import AuditEvent
from tests.fixtures.search import builder_params
from users_admin.models import RECENT_KEPT, RecentSearch

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

SEARCH = "/t/userdesk-sandbox/users/"
HX = {"HX-Request": "true"}
# A search: the session, the user, their roles (one query), their recent searches, its UPDATE
# (or the INSERT of a new one), the audit row (docs/development/benchmarks.md).
SEARCHED = 6
# One more: the oldest recent search DELETEd from a full list, or the same query asked another
# way; a whole page (not htmx's results alone) reads the saved searches too.
ONE_MORE = 7


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent in the block. Not the savepoints: in a test, atomic() is one
    within the test's transaction; in production it is a transaction, no statement of its own."""
    sent: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        yield sent
    sent.extend(q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"])


def search(value: str, **extra: str) -> dict[str, str]:
    row = {"field": "identities.connection", "op": "is", "value": value}
    return builder_params(row, **{"per_page": "50", **extra})


def shown_recent(page: str) -> list[str]:
    section = page.split('id="recent-searches"', 1)[1].split("</section>", 1)[0]
    return [html.unescape(url) for url in re.findall(r'<a class="mono" href="([^"]*)"', section)]


def stored_recent(owner: User) -> list[str]:
    return [entry.url for entry in RecentSearch.objects.filter(owner=owner)]


@pytest.fixture
def signed_in_agent(agent_client: Client) -> Client:
    # The session's first request stamps it (staff.sessions): not a search's cost.
    agent_client.get(SEARCH)
    return agent_client


def test_a_search_page_view_makes_at_most_six_statements(signed_in_agent: Client) -> None:
    for label in ("new", "repeated"):
        with statements() as sent:
            response = signed_in_agent.get(SEARCH, search("github"), headers=HX)
        assert response.status_code == 200
        assert len(sent) <= SEARCHED, f"{label} search:\n" + "\n".join(sent)
        # Every search is audited: one INSERT.
        assert sum('INSERT INTO "staff_auditevent"' in sql for sql in sent) == 1
    assert AuditEvent.objects.filter(action="users.search").count() == 2
    with statements() as sent:
        assert signed_in_agent.get(SEARCH, search("github")).status_code == 200
    assert len(sent) <= ONE_MORE, "whole page:\n" + "\n".join(sent)


def test_the_recent_searches_shown_are_the_ones_stored(
    signed_in_agent: Client, support_agent: User
) -> None:
    now = timezone.now()
    for number in range(RECENT_KEPT):  # a full list
        query = f"email:user{number}@example.com"
        RecentSearch.objects.create(
            owner=support_agent,
            tenant="userdesk-sandbox",
            query_string=urlencode({"q": query}),
            digest=RecentSearch.digest_of(urlencode({"q": query})),
            query=query,
            searched_at=now - timedelta(minutes=number + 1),
        )
    oldest = stored_recent(support_agent)[-1]
    steps = [
        ("new, the oldest falls off", search("github"), HX, ONE_MORE),
        ("the same query, another page size", search("github", per_page="10"), HX, ONE_MORE),
        ("repeated", search("github", per_page="10"), HX, SEARCHED),
        ("an older one again", {"q": "email:user3@example.com"}, HX, SEARCHED),
        ("whole page", search("github", per_page="10"), {}, ONE_MORE),
    ]
    for label, params, headers, most in steps:
        with statements() as sent:
            page = signed_in_agent.get(SEARCH, params, headers=headers).content.decode()
        assert len(sent) <= most, f"{label}:\n" + "\n".join(sent)
        assert shown_recent(page) == stored_recent(support_agent), label
    shown = shown_recent(page)
    assert len(shown) == RECENT_KEPT
    assert oldest not in shown
    assert "per_page=10" in shown[0]
    assert sum("github" in url for url in shown) == 1
