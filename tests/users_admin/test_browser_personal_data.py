"""Personal data in a real browser: the events about a user, one click from the user page, read well
at 1,280 px and 390 px (a wide details column, short rows, no sideways scroll, axe-clean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from staff.models import AuditEvent
from tests.fixtures.browser import card_problems, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]
AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"


def test_support_sees_who_looked_at_a_user_in_one_click(
    page: Any,
    live_server: Any,
    support_agent: User,
    support_lead: User,
    fresh_user: dict[str, Any],
) -> None:
    user_id = fresh_user["user_id"]
    for n in range(3):  # a lead's actions with long details, the kind that made rows tall
        AuditEvent.objects.create(
            actor=support_lead,
            actor_label=support_lead.username,
            action="users.edit-metadata",
            target=user_id,
            tenant="userdesk-sandbox",
            details={
                "reason": f"Ticket #{n}: the customer asked to change their plan and language",
                "before": {"user_metadata": {"plan": "basic", "lang": "en", "theme": "dark"}},
                "after": {"user_metadata": {"plan": "gold", "lang": "de", "theme": "light"}},
                "auth0": {"status": 200, "message": "updated"},
            },
        )
    sign_in(page.context, live_server, support_agent)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{user_id}/")
    page.get_by_role("link", name="Who looked at this user").click()
    expect(page.get_by_role("heading", name="Who looked at this user")).to_be_visible()
    rows = page.locator(".audit-table tbody tr")
    expect(rows).to_have_count(4)  # the agent's view and the lead's three edits
    expect(rows.first).to_contain_text("Viewed a user")
    expect(page.get_by_label("Action")).to_contain_text("Edit metadata")

    details = page.locator(".audit-table td.audit-details").first.bounding_box()
    assert details is not None
    assert details["width"] >= 480, details
    line = float(page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)"))
    heights = rows.evaluate_all("rows => rows.map(row => row.getBoundingClientRect().height)")
    tallest = max(heights)
    assert tallest <= 5 * line + 24, f"a row is {tallest}px tall"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert violations_of(page) == []  # CSP on: axe goes in through Playwright's evaluate

    page.set_viewport_size({"width": 390, "height": 900})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert card_problems(page, "audit") == []


def violations_of(page: Any) -> list[str]:
    page.evaluate(AXE.read_text())
    return list(
        page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => v.id + ': ' + v.help)"
        )
    )


def test_an_agent_reveals_a_masked_phone_with_a_reason(
    page: Any, live_server: Any, support_agent: User, use_sandbox: Any
) -> None:
    with use_sandbox.api() as api:
        user = api.get(
            "/api/v2/users",
            params={"q": "_exists_:phone_number", "search_engine": "v3", "per_page": 1},
        ).json()[0]
    sign_in(page.context, live_server, support_agent)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{user['user_id']}/")
    profile = page.locator("section[aria-labelledby=profile-heading]")
    expect(profile).to_contain_text("•••••• (masked)")
    expect(profile).not_to_contain_text(user["phone_number"])

    page.get_by_role("link", name="Reveal with a reason").click()
    reason = page.get_by_label("Why do you need to see it?")
    expect(reason).to_be_focused()  # focus where the eye goes
    assert violations_of(page) == []
    page.get_by_role("button", name="Reveal for 15 minutes").click()  # nothing chosen yet
    expect(
        page.get_by_text("Choose why you need to see this user's personal data.")
    ).to_be_visible()
    page.get_by_label("Why do you need to see it?").select_option(
        label="Checking the caller's identity"
    )
    ticket = page.get_by_label("Ticket reference")
    ticket.fill("SUP-4711")
    ticket.press("Enter")  # Enter does the primary action

    expect(page.get_by_text("Personal data revealed until")).to_be_visible()
    expect(profile).to_contain_text(user["phone_number"])
    entry = page.locator("#timeline li.entry.userdesk").filter(has_text="Personal data revealed")
    expect(entry).to_contain_text("reason: Checking the caller's identity, ticket SUP-4711")
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_lead_builds_a_data_package_and_downloads_it_once(
    page: Any,
    live_server: Any,
    celery_worker: Any,
    export_settings: Any,
    support_lead: User,
    fresh_user: dict[str, Any],
) -> None:
    user_id = fresh_user["user_id"]
    sign_in(page.context, live_server, support_lead)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{user_id}/")
    page.get_by_role("link", name="Data-subject package").click()
    reason = page.get_by_label("Reason")
    expect(reason).to_be_focused()
    reason.fill("DSAR-2031: access request")
    reason.press("Enter")
    # The status block polls (htmx) until the worker has built it.
    download = page.get_by_role("button", name="Download (once")
    expect(download).to_be_visible(timeout=60_000)
    assert violations_of(page) == []
    with page.expect_download() as started:
        download.click()
    assert started.value.suggested_filename.startswith("data-package-")
    page.reload()
    expect(page.locator("#package-status")).to_contain_text("Downloaded on")
    expect(page.get_by_role("button", name="Download (once")).to_have_count(0)
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
