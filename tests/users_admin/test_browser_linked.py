"""A lead finds a user's Google duplicate, links it with the keyboard, unlinks it again: in a
real browser, focus where the eye goes, no request elsewhere, no sideways scroll, axe-clean."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import TIMEOUT_MS, sign_in, watch_requests_and_errors
from tests.fixtures.page_checks import no_sideways_scroll, violations
from tests.fixtures.sandbox_api import add_google_user, delete_user
from tests.fixtures.support_cases import create_database_user, seeded

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

REASON = "Ticket 6021: signed up twice, Google and password"


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.name"))


def test_a_lead_links_and_unlinks_a_google_duplicate_with_the_keyboard(
    browser: Any,
    live_server: Any,
    support_lead: User,
    twins: tuple[dict[str, Any], str],
) -> None:
    from playwright.sync_api import expect

    primary, google_id = twins
    user_page = f"{live_server.url}/t/userdesk-sandbox/users/{quote(primary['user_id'], safe='')}/"
    # axe (its script needs the CSP bypassed) on the user page with its duplicates, and the form:
    # first, while the sandbox's search still finds the duplicate (an unlinked account comes
    # back to the search index a moment later, as at Auth0).
    checked = browser.new_context(bypass_csp=True)
    sign_in(checked, live_server, support_lead)
    page = checked.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(user_page)
    expect(page.locator("#duplicates")).to_contain_text(google_id)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        assert not violations(page), violations(page)
    page.locator("#duplicates").get_by_role("link", name="Link it into this user").click()
    expect(page.locator("#action-panel")).to_contain_text("loses")
    assert not violations(page), violations(page)
    checked.close()

    context = browser.new_context()
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    elsewhere, errors = watch_requests_and_errors(page, live_server.url)

    page.goto(user_page)
    duplicates = page.locator("#duplicates")
    expect(duplicates).to_contain_text(google_id)
    expect(duplicates).to_contain_text("Dana Twin (Google)")
    for width in (390, 1280):
        no_sideways_scroll(page, width)

    link = duplicates.get_by_role("link", name="Link it into this user")
    link.focus()
    link.press("Enter")
    panel = page.locator("#action-panel")
    expect(panel).to_contain_text("loses")
    expect(panel.get_by_label("user_metadata.newsletter = true")).to_be_focused()
    assert focused(page) == "merge"
    page.keyboard.press("Space")  # keep the newsletter flag
    reason = panel.get_by_label("Reason")
    reason.fill(REASON)
    reason.press("Enter")  # Enter does the primary action
    expect(panel.locator(".outcome")).to_contain_text(f"{google_id} is now linked into")

    page.get_by_role("link", name="Reload the user").click()
    identities = page.locator(".linked-accounts .identities")
    expect(identities).to_contain_text("google-oauth2")
    expect(identities).to_contain_text("Dana Twin (Google)")
    expect(page.locator("#timeline")).to_contain_text("Accounts linked")
    expect(page.locator("#timeline")).to_contain_text(REASON)

    unlink = page.get_by_role("link", name="Unlink an account")
    unlink.focus()
    unlink.press("Enter")
    choice = panel.get_by_role("radio")
    expect(choice).to_be_focused()
    expect(choice).to_be_checked()  # the only linked account
    reason = panel.get_by_label("Reason")
    reason.fill(REASON)
    reason.press("Enter")
    expect(panel.locator(".outcome")).to_contain_text(f"{google_id} is a user of its own again")
    panel.get_by_role("link", name=f"Open {google_id}").click()
    expect(page.locator("h1")).to_have_text("Dana Twin (Google)")

    assert not elsewhere, elsewhere
    assert not errors, errors
    context.close()


def test_the_seeded_shapes_open_at_both_widths_axe_clean(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any
) -> None:
    """Passwordless SMS and email users, three linked identities, a profile near 10 KB."""
    from playwright.sync_api import expect

    shapes = {
        "sms": "SELECT user_id FROM sandbox_tenantuser WHERE user_id LIKE 'sms|%' LIMIT 1",
        "email": "SELECT user_id FROM sandbox_tenantuser WHERE user_id LIKE 'email|%' LIMIT 1",
        "three identities": "SELECT user_id FROM sandbox_tenantuser WHERE id = 4",
        "10 KB": "SELECT user_id FROM sandbox_tenantuser WHERE id = 12",
    }
    context = browser.new_context(bypass_csp=True)  # for axe's script alone
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    for shape, sql in shapes.items():
        (profile,) = seeded(use_sandbox, sql)
        page.goto(
            f"{live_server.url}/t/userdesk-sandbox/users/{quote(profile['user_id'], safe='')}/"
        )
        expect(page.locator("#duplicates")).not_to_contain_text("Look for other accounts")
        if shape == "three identities":
            expect(page.locator(".linked-accounts .identity")).to_have_count(3)
        for width in (390, 1280):
            no_sideways_scroll(page, width)
            assert not violations(page), (shape, width, violations(page))
    context.close()


def test_a_long_shared_address_wraps_in_the_duplicates_on_a_phone(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any
) -> None:
    """The duplicates' sentence names the shared address in bold: one word that, at 36
    characters, is wider than a phone's card; it wraps instead of widening the page."""
    from playwright.sync_api import expect

    local = f"soren.smithjones.{uuid.uuid4().hex[:6]}"
    made = create_database_user(use_sandbox, f"{local}@umbrella.example", email_verified=True)
    google = add_google_user(use_sandbox, email=f"{local}@umbrella.example", name="Soren")
    context = browser.new_context(viewport={"width": 390, "height": 900})
    try:
        sign_in(context, live_server, support_lead)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{quote(made['user_id'], safe='')}/")
        expect(page.locator("#duplicates")).to_contain_text(google["user_id"])
        no_sideways_scroll(page, 390)
    finally:
        context.close()
        for user_id in (made["user_id"], google["user_id"]):
            delete_user(use_sandbox, user_id)
