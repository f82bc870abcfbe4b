"""The search page in a real browser, as an agent with a full history of recent searches uses
it: the answer lands in view, the builder keeps what was typed and says what is wrong at the
row, Back returns to results, and the recent searches follow each search."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.page_checks import violations
from users_admin.models import RecentSearch

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]


SEARCH = "/t/userdesk-sandbox/users/"
LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 900}


@pytest.fixture
def ten_recent_searches(support_agent: User) -> list[str]:
    """A day's work: ten recent searches, with the underscores field names have."""
    now = timezone.now()
    queries = [f"app_metadata.plan_name:tier_{n} AND email_verified:true" for n in range(10)]
    for number, query in enumerate(queries):
        RecentSearch.objects.create(
            owner=support_agent,
            tenant="userdesk-sandbox",
            query_string=f"q={query}",
            digest=RecentSearch.digest_of(f"q={query}"),
            query=query,
            searched_at=now - timedelta(minutes=number + 1),
        )
    return queries


@pytest.fixture
def axe_page(browser: Any, live_server: Any, support_agent: User) -> Iterator[Any]:
    """A signed-in agent's page on which axe-core may be injected (CSP bypassed for it)."""
    context = browser.new_context(bypass_csp=True, viewport=LAPTOP)
    sign_in(context, live_server, support_agent)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def recent_queries(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#recent-searches li").all_inner_texts()]


def test_the_answer_lands_in_view_and_the_recent_searches_follow(
    agent_page: Any, live_server: Any, ten_recent_searches: list[str]
) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.set_viewport_size(LAPTOP)
    page.goto(live_server.url + SEARCH)
    # The button and its "Searching…" note are on screen when the agent presses Enter.
    assert in_view(page, ".search-submit")
    assert in_view(page, ".searching")
    assert recent_queries(page) == ten_recent_searches
    link = page.locator("#recent-searches a").first
    assert link.evaluate("a => getComputedStyle(a).textDecorationLine") == "none"

    page.get_by_label("Field, row 1").select_option("logins_count")
    page.get_by_label("Operator, row 1").select_option("gt")
    page.get_by_label("Value, row 1").fill("1")
    page.get_by_label("Value, row 1").press("Enter")
    expect(page.locator("#results .result-summary")).to_contain_text("match")
    assert in_view(page, "#results .result-summary")
    # The list follows without a reload: this search on top, the oldest one gone.
    expect(page.locator("#recent-searches li").first).to_have_text("logins_count:{1 TO *]")
    assert recent_queries(page) == ["logins_count:{1 TO *]", *ten_recent_searches[:9]]

    # The same query with another page size is the same recent search, not a second line.
    page.get_by_label("Per page").select_option("10")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results")).to_contain_text("Page 1 of")
    expect(page.locator("#recent-searches li")).to_have_count(10)
    assert recent_queries(page).count("logins_count:{1 TO *]") == 1


def test_adding_a_condition_leaves_history_alone(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(live_server.url + SEARCH)
    page.get_by_label("Operator, row 1").select_option("ends")
    page.get_by_label("Value, row 1").fill("@example.com")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results .result-summary")).to_contain_text("match")
    searched, entries = page.url, page.evaluate("history.length")

    page.get_by_role("button", name="Add a condition").click()
    expect(page.get_by_label("Field, row 2")).to_be_focused()
    assert page.url == searched
    assert page.evaluate("history.length") == entries
    # Nor does switching to Lucene and back: editing the search is not a page of its own.
    page.get_by_role("button", name="Advanced (Lucene)").click()
    page.get_by_role("button", name="Builder").click()
    expect(page.get_by_label("Field, row 2")).to_be_visible()
    assert page.url == searched
    assert page.evaluate("history.length") == entries

    # Back from a user lands on the results, not on a builder waiting for its search.
    page.locator("#results tbody tr").first.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    page.go_back()
    expect(page.locator("#results .result-summary")).to_contain_text("match")


def test_a_reversed_range_is_refused_at_its_row(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(live_server.url + SEARCH)
    page.get_by_label("Field, row 1").select_option("logins_count")
    page.get_by_label("Operator, row 1").select_option("between")
    page.get_by_label("Value, row 1").fill("50")
    page.get_by_label("Upper bound, row 1").fill("10")
    page.get_by_label("Upper bound, row 1").press("Enter")

    row = page.locator("#builder li.row").first
    expect(row.locator(".row-errors")).to_contain_text("from 50 down to 10")
    expect(page.get_by_label("Value, row 1")).to_have_value("50")
    expect(page.get_by_label("Upper bound, row 1")).to_have_value("10")
    expect(page.get_by_label("Value, row 1")).to_be_focused()
    expect(page.locator("#results table")).to_have_count(0)


def test_a_date_error_keeps_the_date_and_is_accessible(axe_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = axe_page
    # A day that is not in the calendar, as a shared link or Advanced -> Builder brings it.
    page.goto(
        live_server.url + SEARCH + "?mode=builder&c-0-field=created_at&c-0-op=gt"
        "&c-0-value=2024-02-30"
    )
    expect(page.locator("#builder .row-errors")).to_contain_text("2024-02-30")
    expect(page.get_by_label("Value, row 1")).to_have_value("2024-02-30")
    assert violations(page) == []

    # Typed into the date input: a five-digit year; answered in place.
    page.goto(live_server.url + SEARCH)
    page.get_by_label("Field, row 1").select_option("created_at")
    page.get_by_label("Operator, row 1").select_option("gt")
    page.get_by_label("Value, row 1").fill("20255-01-01")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results [role=alert]")).to_contain_text("is not a date")
    expect(page.locator("#builder .row-errors")).to_contain_text("is not a date")
    expect(page.get_by_label("Value, row 1")).to_have_value("20255-01-01")
    assert violations(page) == []


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390px", "1280px"])
def test_the_page_does_not_jump_on_load(
    agent_page: Any, live_server: Any, ten_recent_searches: list[str], viewport: dict[str, int]
) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.set_viewport_size(viewport)
    page.goto(live_server.url + SEARCH)
    expect(page.get_by_label("Value, row 1")).to_be_focused()
    assert page.evaluate("window.scrollY") == 0
    assert in_view(page, "#builder input.value")


def test_a_page_with_a_refused_row_opens_with_that_row_focused(
    agent_page: Any, live_server: Any
) -> None:
    """A shared link (or a search without JavaScript) whose second row is refused."""
    from playwright.sync_api import expect

    page = agent_page
    page.goto(
        live_server.url + SEARCH + "?mode=builder&c-0-field=email&c-0-op=ends"
        "&c-0-value=%40example.com&c-1-field=logins_count&c-1-op=between"
        "&c-1-value=50&c-1-value2=10"
    )
    expect(page.locator("#builder li.row").nth(1).locator(".row-errors")).to_contain_text(
        "from 50 down to 10"
    )
    expect(page.get_by_label("Value, row 2")).to_be_focused()
    # Put right and searched in place: the answer comes into view, not the old error's field.
    page.get_by_label("Upper bound, row 2").fill("60")
    page.get_by_label("Upper bound, row 2").press("Enter")
    expect(page.locator("#results .result-summary")).to_contain_text("match")
    expect(page.get_by_label("Value, row 2")).not_to_be_focused()
