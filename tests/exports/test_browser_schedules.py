"""The schedule pages in a real browser, as an export admin uses them: the empty list, a new
schedule made by the keyboard (a missing choice found at once through the error summary, Enter
saves), the schedule's page with a started, a skipped and a failed run, pausing by the keyboard,
and every page axe-clean with no sideways scroll at 390 and 1,280 px and a clean console."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from exports.models import Export, ExportSchedule, ExportTemplate, ScheduleRun, Status
from exports.schedule_models import RunOutcome
from staff.models import AuditEvent
from tests.fixtures.browser import signed_in_page
from tests.fixtures.page_checks import no_sideways_scroll_and_axe_clean

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPEC = {"format": "ndjson", "fields": [{"name": "user_id"}, {"name": "email"}]}


def check_widths(page: Any, where: str) -> list[str]:
    problems: list[str] = []
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        problems += no_sideways_scroll_and_axe_clean(page, f"{where} at {width} px")
    return problems


def add_runs(schedule: ExportSchedule, owner: User) -> None:
    """A ready run, a skipped one and one that could not start, as the beat leaves them."""
    now = timezone.now()
    ready = Export.objects.create(
        requested_by=owner,
        tenant=schedule.tenant,
        name=f"{schedule.name} — earlier",
        fields=SPEC["fields"],
        format="ndjson",
        status=Status.READY,
        row_count=42,
        ready_at=now,
    )
    ScheduleRun.objects.create(
        schedule=schedule,
        occurrence=now - timedelta(days=14),
        outcome=RunOutcome.STARTED,
        export=ready,
    )
    ScheduleRun.objects.create(
        schedule=schedule,
        occurrence=now - timedelta(days=7),
        outcome=RunOutcome.SKIPPED,
        message=f"Skipped: the run before (export #{ready.pk}) was still running.",
    )
    ScheduleRun.objects.create(
        schedule=schedule,
        occurrence=now - timedelta(days=1),
        outcome=RunOutcome.FAILED,
        message="Could not start: Fuzzy searches (~) are not supported by Auth0's user search.",
    )


def test_schedule_pages_by_keyboard(browser: Any, live_server: Any, export_admin: User) -> None:
    ExportTemplate.objects.create(
        name="People", owner=export_admin, tenant="userdesk-sandbox", spec=SPEC
    )
    problems: list[str] = []
    with signed_in_page(browser, live_server, export_admin) as (page, errors):
        base = f"{live_server.url}/t/userdesk-sandbox/exports/schedules"
        page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
        page.get_by_role("link", name="Scheduled exports").click()
        page.wait_for_url(f"{base}/")
        assert "No scheduled exports yet." in page.locator("main").inner_text()
        problems += check_widths(page, "empty list")

        page.get_by_role("link", name="New schedule").click()
        page.wait_for_url(f"{base}/new/")
        expect(page.locator("#id_name")).to_be_focused()
        problems += check_widths(page, "new schedule")
        name = page.get_by_label("Name")
        name.fill("Monday sign-ups")
        name.press("Enter")  # the source is not chosen yet
        summary = page.locator("#error-summary")
        expect(summary).to_be_focused()  # autofocus runs at the next rendering
        problems += check_widths(page, "new schedule with an error")
        summary.get_by_role("link").first.press("Enter")
        expect(page.locator("#id_source")).to_be_focused()
        page.keyboard.press("ArrowDown")  # the first template
        page.get_by_label("Which users").select_option("created")
        page.get_by_label("Time zone").select_option("Europe/Paris")
        page.locator("#id_at_time").press("Enter")
        page.wait_for_url(f"{base}/*/")

        schedule = ExportSchedule.objects.get()
        assert schedule.source_label == "Template “People”"
        assert schedule.zone == "Europe/Paris"
        assert schedule.at_time == time(7, 0)
        text = page.locator("main").inner_text()
        assert "Weekly on Monday at 07:00 (Europe/Paris)" in text
        assert "No run has succeeded yet" in text
        add_runs(schedule, export_admin)
        page.reload()
        runs = page.locator("#schedule-runs")
        assert runs.locator("[data-outcome=failed]").count() == 1
        assert runs.locator("[data-outcome=skipped]").count() == 1
        assert "42 rows" in runs.inner_text()
        assert "created_at is on or after" in page.locator("#window-note").inner_text()
        problems += check_widths(page, "schedule with runs")

        pause = page.get_by_role("button", name="Pause")
        pause.focus()
        page.keyboard.press("Enter")
        page.locator("#paused-badge").wait_for()
        assert page.locator("#next-run").inner_text() == "None while paused"
        assert AuditEvent.objects.filter(action="exports.schedule_paused").count() == 1

        page.goto(f"{base}/")
        assert page.locator("#schedules").get_by_text("Paused").count() == 1
        problems += check_widths(page, "list")
        assert errors == []
    assert problems == []
