"""In a real browser: the history page finds any of 50 exports with the
keyboard, its rows' actions never clip at 1,280 px, cancelling asks first, the builder says
beside the disabled button why it is disabled and honours the Include box of typed-in rows,
and the preview keeps ids whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from exports import tasks
from exports.models import Export, Status
from tests.fixtures.browser import sign_in
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.exports import fifty
from tests.fixtures.page_checks import assert_fits, axe_problems

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox", "export_settings"),
]


def test_the_history_finds_any_of_50_exports_by_keyboard_and_never_clips_its_actions(
    page: Any, live_server: Any, export_admin: User
) -> None:
    made = fifty(export_admin)
    sign_in(page.context, live_server, export_admin)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
    # Every action of every row is inside the table's frame and the window, not cut off.
    wrap = page.locator(".table-wrap").evaluate("e => e.getBoundingClientRect().right")
    boxes = page.locator(".export-actions .button").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(), t = document.createRange();"
        " t.selectNodeContents(e); return [r.right, e.scrollWidth, e.clientWidth,"
        " t.getClientRects().length, e.textContent]; })"
    )
    assert len(boxes) >= 25 * 2
    for right, scroll, client, lines, text in boxes:
        assert right <= wrap <= 1280, f"{text} ends at {right} px, past {wrap} px"
        assert scroll <= client, f"{text} is clipped"
        assert lines == 1, f"{text} is broken over {lines} lines"
    # Compact: one row of actions per export, and no row taller than six lines of text.
    heights = page.locator("tr[id^=export-row-]").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height /"
        " parseFloat(getComputedStyle(e).lineHeight))"
    )
    assert max(heights) <= 6, heights
    assert_fits(page, "exports at 1280 px")
    assert axe_problems(page, 1280) == []

    # Keyboard only: type a few characters of a name and press Enter.
    target = made[7]
    page.get_by_label("Name, query or #id contains").focus()
    page.keyboard.type("customers 07")
    page.keyboard.press("Enter")
    page.wait_for_url("**/exports/?*q=customers+07*")
    assert page.locator("tr[id^=export-row-]").count() == 1
    assert page.locator(f"#export-row-{target.pk}").is_visible()
    # The filter stays filled in, and the status filter narrows further from there.
    assert page.get_by_label("Name, query or #id contains").input_value() == "customers 07"
    page.get_by_label("Status").select_option("failed")
    page.get_by_label("Name, query or #id contains").press("Enter")
    page.wait_for_url("**status=failed*")
    assert page.locator("tr[id^=export-row-]").count() == 0
    assert "No exports match these filters." in page.locator("main").inner_text()

    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/?sort=oldest&page=2")
    assert page.locator("tr[id^=export-row-]").count() == 25
    assert_fits(page, "exports at 390 px")
    assert axe_problems(page, 390) == []


def test_cancel_from_the_export_page_by_keyboard(
    page: Any, live_server: Any, export_admin: User, use_sandbox: Any
) -> None:
    from exports import pipeline

    use_sandbox.set_faults(job_pending_seconds=3600)
    export = tasks.create_export({**CSV_SPEC, "name": "To stop"}, requested_by=export_admin)
    assert pipeline.advance(export.pk, export.step) is not None
    sign_in(page.context, live_server, export_admin)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{export.pk}/")
    page.get_by_role("link", name="Cancel export").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/exports/{export.pk}/cancel/")
    assert axe_problems(page, 1280) == []
    page.get_by_role("button", name=f"Cancel export #{export.pk}").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/exports/{export.pk}/")
    status = page.locator("#export-status [data-status]")
    assert status.get_attribute("data-status") == "cancelled"
    assert "Cancelled by admin@example.com" in page.locator("#export-status").inner_text()
    assert Export.objects.get(pk=export.pk).status == Status.CANCELLED


def test_the_builder_explains_the_disabled_button_and_honours_typed_in_boxes(
    page: Any, live_server: Any, export_admin: User
) -> None:
    sign_in(page.context, live_server, export_admin)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
    counter = page.locator("#field-count")
    picked = int(counter.inner_text())
    submit = page.get_by_role("button", name="Start export")
    beside = page.locator("#submit-blocked")
    assert not beside.is_visible()

    # An empty typed-in row (the first ones hold the default identities[0].connection).
    row = page.locator("li.kind-free").last
    other = row.get_by_label("Other field", exact=True)
    other.fill("identities[0]")
    box = row.get_by_label("Include this other field")
    assert box.is_checked()  # typing a name ticks its box
    assert counter.inner_text() == str(picked + 1)
    assert submit.is_disabled()
    assert beside.is_visible()
    assert "CSV cannot hold whole objects (identities[0])" in beside.inner_text()
    # Beside the button: on its line, to its right.
    button_box, message_box = submit.bounding_box(), beside.bounding_box()
    assert message_box["x"] >= button_box["x"] + button_box["width"]
    assert message_box["y"] < button_box["y"] + button_box["height"]

    other.fill("nickname")
    assert submit.is_enabled()
    assert not beside.is_visible()
    box.uncheck()  # typed in, then left out
    assert counter.inner_text() == str(picked)
    other.press("Enter")
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/*/")
    export = Export.objects.latest("pk")
    assert "nickname" not in [field["name"] for field in export.fields]
    assert len(export.fields) == picked


def test_the_preview_keeps_ids_and_emails_whole(
    page: Any, live_server: Any, export_admin: User, export_settings: Path
) -> None:
    fields = [
        {"name": name}
        for name in (
            "user_id",
            "email",
            "name",
            "nickname",
            "given_name",
            "family_name",
            "created_at",
            "updated_at",
            "last_login",
            "logins_count",
            "email_verified",
            "identities[0].connection",
            "identities[0].provider",
            "picture",
        )
    ]
    spec = {"format": "csv", "fields": fields, "limit": 5}
    export = drive(tasks.create_export(spec, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    sign_in(page.context, live_server, export_admin)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{export.pk}/")
    lines = page.locator(".preview-table tbody tr:first-child td").evaluate_all(
        "els => els.slice(0, 2).map(e => { const r = document.createRange();"
        " r.selectNodeContents(e); return [e.textContent, r.getClientRects().length]; })"
    )
    for text, count in lines:
        assert count == 1, f"“{text}” is broken over {count} lines"
    # Fourteen columns do not fit 1,280 px whole: the preview scrolls inside its own frame
    # (which the keyboard can scroll), never the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator(".preview-table").evaluate("e => e.parentElement.tabIndex") == 0
    assert axe_problems(page, 1280) == []
    page.set_viewport_size({"width": 390, "height": 900})
    assert_fits(page, "export page at 390 px")
    assert axe_problems(page, 390) == []


def test_the_header_offers_delete_not_cancel_once_the_poll_sees_the_export_ready(
    page: Any, live_server: Any, export_admin: User
) -> None:
    """The header is outside the polled status block: the settling poll swaps it too."""
    from playwright.sync_api import expect

    export = tasks.create_export(
        {**CSV_SPEC, "match_query": "email_verified:true"}, requested_by=export_admin
    )
    sign_in(page.context, live_server, export_admin)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{export.pk}/")
    header = page.locator(".page-header")
    expect(header.get_by_role("link", name="Cancel export")).to_be_visible()
    assert drive(export.pk).status == Status.READY
    expect(page.locator("#export-status [data-status]")).to_have_attribute("data-status", "ready")
    expect(header.get_by_role("link", name="Delete")).to_be_visible()
    expect(header.get_by_role("link", name="Cancel export")).to_have_count(0)


def test_a_filter_applied_on_a_phone_lands_on_its_result(
    page: Any, live_server: Any, export_admin: User
) -> None:
    fifty(export_admin)
    sign_in(page.context, live_server, export_admin)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
    in_view = (
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= "
        "innerHeight; }"
    )
    found = (("customers 07", "1 export matches these filters"), ("nothing like it", "No exports"))
    for typed, said in found:
        box = page.get_by_label("Name, query or #id contains")
        box.fill("")
        box.focus()
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
        page.wait_for_url(f"**q={typed.replace(' ', '+')}*")
        count = page.locator("#history-count")
        assert said in count.inner_text()
        assert count.evaluate(in_view), f"the result of {typed!r} is off screen"
