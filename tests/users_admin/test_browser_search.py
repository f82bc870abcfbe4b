"""Support-agent flows in a real browser: builder search, paging, details, email lookup."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import database_user
from tests.fixtures.screenshots import docs_screenshot

pytestmark = [
    pytest.mark.browser,
    # live_server needs committed rows. No serialized rollback: after another transactional
    # test's flush has re-created the content types, restoring them fails on their unique key;
    # make_staff() re-creates the role groups a flush removed.
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]


def test_agent_builds_a_search_pages_and_opens_a_user(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_label("Field, row 1").select_option("email")
    page.get_by_label("Operator, row 1").select_option("ends")
    page.get_by_label("Value, row 1").fill("@example.com")

    page.get_by_role("button", name="Add a condition").click()
    expect(page.get_by_label("Field, row 2")).to_be_visible()
    # the first row survived the round trip
    expect(page.get_by_label("Value, row 1")).to_have_value("@example.com")
    page.get_by_label("Field, row 2").select_option("email_verified")
    page.get_by_label("Operator, row 2").select_option("true")
    expect(page.get_by_label("Value, row 2")).to_be_hidden()  # nothing to type for "is true"
    page.get_by_label("Per page").select_option("10")
    page.get_by_role("button", name="Search", exact=True).click()

    results = page.locator("#results")
    expect(results.locator("code")).to_have_text("email:*@example.com AND email_verified:true")
    expect(results).to_contain_text("Page 1 of")
    expect(page).to_have_url(re.compile(r"/t/userdesk-sandbox/users/\?.*c-0-value=%40example.com"))
    first_page_ids = results.locator("tbody tr").all_inner_texts()
    assert 0 < len(first_page_ids) <= 10
    docs_screenshot(page, "search-results", show=results)

    results.get_by_role("link", name="Next").click()
    expect(page.locator("#results")).to_contain_text("Page 2 of")
    expect(page).to_have_url(re.compile(r"page=1"))
    assert page.locator("#results tbody tr").all_inner_texts() != first_page_ids

    row = page.locator("#results tbody tr").first
    email = row.locator("td").first.locator(".copyable").inner_text().strip()
    row.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.locator("[aria-labelledby=profile-heading] dl.details")).to_contain_text(email)
    docs_screenshot(page, "user-page")
    page.get_by_text("Raw JSON").click()
    expect(page.locator("pre.raw-json")).to_contain_text('"user_id"')
    # no Content-Security-Policy violation or script error (pictures may fail to load offline)
    offline = ("ERR_NAME_NOT_RESOLVED", "Failed to load resource")
    assert [e for e in page.errors if not any(o in e for o in offline)] == []


def test_script_in_a_name_is_shown_not_run(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_label("Field, row 1").select_option("name")
    page.get_by_label("Operator, row 1").select_option("contains")
    page.get_by_label("Value, row 1").fill("script")
    page.get_by_role("button", name="Search", exact=True).click()
    cell = page.locator("#results tbody tr").first
    expect(cell).to_contain_text("<script>")
    cell.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("<script>alert('name')</script>")
    assert page.dialogs == []


def test_agent_looks_up_an_address_typed_with_capitals(
    agent_page: Any, live_server: Any, use_sandbox: SandboxServer
) -> None:
    from playwright.sync_api import expect

    user = database_user(use_sandbox)
    typed = user["email"].upper()
    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.locator("nav.nav").get_by_role("link", name="Email lookup").click()
    page.get_by_role("textbox", name="Email address").fill(typed)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator(".lowercased-note")).to_contain_text(user["email"])
    expect(page.locator(".lookup-result")).to_have_count(1)
    expect(page.locator(".lookup-result")).to_contain_text(user["user_id"])
    page.get_by_role("link", name=re.compile("Open details")).click()
    expect(page.locator("[aria-labelledby=profile-heading] dl.details")).to_contain_text(
        user["user_id"]
    )


def test_the_builder_works_without_javascript(
    browser: Any, live_server: Any, support_agent: User
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    try:
        sign_in(context, live_server, support_agent)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
        page.get_by_label("Value, row 1").fill("@example.com")
        page.get_by_label("Operator, row 1").select_option("ends")
        page.get_by_role("button", name="Add a condition").click()
        expect(page.get_by_label("Field, row 2")).to_be_visible()
        page.get_by_role("button", name="Remove row 2").click()
        expect(page.get_by_label("Field, row 2")).to_have_count(0)
        page.get_by_label("Per page").select_option("10")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#results")).to_contain_text("Page 1 of")
        page.get_by_role("link", name="Next").click()
        expect(page.locator("#results")).to_contain_text("Page 2 of")
    finally:
        context.close()


def test_back_after_signing_out_shows_the_sign_in_page_not_user_data(
    agent_page: Any, live_server: Any
) -> None:
    """Pages with user data are no-store and htmx keeps no snapshots of them (it would keep
    them in the tab's sessionStorage, which outlives signing out), so Back after signing out
    asks the server again, which sends the visitor to sign in."""
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_label("Field, row 1").select_option("email")
    page.get_by_label("Operator, row 1").select_option("ends")
    page.get_by_label("Value, row 1").fill("@example.com")
    page.get_by_label("Per page").select_option("10")
    page.get_by_label("Value, row 1").press("Enter")
    results = page.locator("#results")
    expect(results).to_contain_text("Page 1 of")
    emails = [
        e.strip() for e in results.locator("tbody tr td:first-child .copyable").all_inner_texts()
    ]
    assert emails
    # A second htmx navigation: htmx would snapshot page 1 before showing page 2.
    results.get_by_role("link", name="Next").click()
    expect(page.locator("#results")).to_contain_text("Page 2 of")
    page.locator("#results tbody tr").first.get_by_role("link", name=re.compile("Details")).click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in/"))
    storage = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage, localStorage))")
    assert not [email for email in emails if email in storage]
    for _ in range(3):  # the user page, then results page 2, then page 1
        page.go_back()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert not [email for email in emails if email in page.content()]
