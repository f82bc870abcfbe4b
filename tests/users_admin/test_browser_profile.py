"""A lead changes a database user's email with verification, then creates an invited user: in a
real browser, with the keyboard, focus where the eye goes, each step on the timeline, nothing
requested elsewhere, no sideways scroll, axe-clean."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

from staff.models import AuditEvent
from tests.fixtures.browser import TIMEOUT_MS, sign_in, watch_requests_and_errors
from tests.fixtures.page_checks import no_sideways_scroll, violations
from tests.fixtures.sandbox_api import delete_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

REASON = "Ticket 7311: new job, new address"


def test_a_lead_changes_an_email_with_verification_and_invites_a_user(
    browser: Any,
    live_server: Any,
    support_lead: User,
    fresh_user: dict[str, Any],
    use_sandbox: Any,
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(bypass_csp=False)
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    elsewhere, errors = watch_requests_and_errors(page, live_server.url)
    user_page = (
        f"{live_server.url}/t/userdesk-sandbox/users/{quote(fresh_user['user_id'], safe='')}/"
    )
    page.goto(user_page)

    button = page.get_by_role("link", name="Change the profile")
    button.focus()
    button.press("Enter")
    panel = page.locator("#action-panel")
    email = panel.get_by_role("textbox", name="Email")
    expect(email).to_be_focused()  # the first field
    new = f"moved-{uuid.uuid4().hex[:8]}@example.org"
    email.fill(new)
    expect(panel.get_by_label("Auth0 emails the new address a verification link")).to_be_checked()
    panel.get_by_label("Phone number").fill("06 12")
    reason = panel.get_by_label("Reason")
    reason.fill(REASON)
    reason.press("Enter")
    phone = panel.get_by_label("Phone number")
    expect(phone).to_be_focused()  # the field in error
    expect(panel).to_contain_text("Auth0 takes E.164 numbers only")
    phone.fill("")
    panel.get_by_label("Reason").press("Enter")
    expect(panel.locator(".outcome")).to_contain_text(f"Auth0 emails {new} a link to verify it.")
    for width in (390, 1280):
        no_sideways_scroll(page, width)
    page.get_by_role("link", name="Reload the user").click()
    expect(page.locator(".status-panel")).to_contain_text(
        f"The email address {new} is not verified"
    )
    expect(page.locator("#timeline")).to_contain_text("Profile changed")
    expect(page.locator("#timeline")).to_contain_text(REASON)

    page.get_by_role("link", name="Create a user").click()
    expect(page.get_by_label("Database connection")).to_be_focused()
    invited = f"invited-{uuid.uuid4().hex[:8]}@example.com"
    page.get_by_role("textbox", name="Email").fill(invited)
    page.get_by_label("Given name").fill("Ines")
    page.get_by_label("Family name").fill("Invited")
    expect(page.get_by_label("Invite: show me a link")).to_be_checked()
    reason = page.get_by_label("Reason")
    reason.fill("Ticket 7312: new employee, starts Monday")
    reason.press("Enter")
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("was created on Username-Password-Authentication")
    expect(page.get_by_label("Invitation link (shown once, valid 7 days)")).to_have_value(
        re.compile(r"/u/reset-password\?ticket=")
    )
    created = re.search(r"(auth0\|[0-9a-f]+) was created", outcome.inner_text())
    assert created
    try:
        for width in (390, 1280):
            no_sideways_scroll(page, width)
        page.get_by_role("link", name=f"Open {created.group(1)}").click()
        expect(page.locator("#timeline")).to_contain_text("Created in Userdesk")
        assert AuditEvent.objects.filter(action="users.create", target=created.group(1)).exists()
        assert not elsewhere, elsewhere
        assert not errors, errors
        context.close()

        checked = browser.new_context(bypass_csp=True)  # for axe's script alone
        sign_in(checked, live_server, support_lead)
        page = checked.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{live_server.url}/t/userdesk-sandbox/new-user/")
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            assert not violations(page), violations(page)
        page.goto(user_page)
        page.get_by_role("link", name="Change the profile").click()
        expect(page.locator("#action-panel").get_by_role("textbox", name="Email")).to_be_visible()
        assert not violations(page), violations(page)
        checked.close()
    finally:
        delete_user(use_sandbox, created.group(1))


def test_a_long_address_in_an_outcome_wraps_on_a_phone(
    browser: Any,
    live_server: Any,
    support_lead: User,
    fresh_user: dict[str, Any],
    use_sandbox: Any,
) -> None:
    """A work address is often longer than a phone is wide: the outcome that names it (the new
    user's, the changed email's) wraps it instead of scrolling the page sideways."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 900})
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    tag = uuid.uuid4().hex[:8]
    page.goto(f"{live_server.url}/t/userdesk-sandbox/new-user/")
    long_address = f"firstname.lastname.{tag}@subsidiary.example.com"
    page.get_by_role("textbox", name="Email").fill(long_address)
    page.get_by_label("Reason").fill("Ticket 7313: new employee, long address")
    page.get_by_label("Reason").press("Enter")
    outcome = page.locator(".outcome")
    expect(outcome).to_contain_text("was created on Username-Password-Authentication")
    created = re.search(r"(auth0\|[0-9a-f]+) was created", outcome.inner_text())
    assert created
    try:
        no_sideways_scroll(page, 390)
        page.goto(
            f"{live_server.url}/t/userdesk-sandbox/users/{quote(fresh_user['user_id'], safe='')}/"
        )
        page.get_by_role("link", name="Change the profile").click()
        panel = page.locator("#action-panel")
        panel.get_by_role("textbox", name="Email").fill(f"moved.{tag}.long@department.example.org")
        panel.get_by_label("Reason").fill(REASON)
        panel.get_by_label("Reason").press("Enter")
        expect(panel.locator(".outcome")).to_contain_text("a link to verify it")
        no_sideways_scroll(page, 390)
    finally:
        context.close()
        delete_user(use_sandbox, created.group(1))
