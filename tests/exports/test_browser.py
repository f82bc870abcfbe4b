"""In a real browser: an admin builds an export, watches it progress, downloads the CSV and
the import-ready JSON. A real Celery worker (Redis broker) runs the pipeline against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from staff.permissions import EXPORT_ADMIN_GROUP
from tests.fixtures.browser import collect_console_errors
from tests.fixtures.personas import PASSWORD, make_staff
from tests.fixtures.sandbox import SandboxServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]
HOLD_SECONDS = 3600


def test_admin_builds_watches_and_downloads_an_export(
    live_server: Any,
    page: Any,
    celery_worker: Any,
    use_sandbox: SandboxServer,
    export_settings: Path,
    settings: Any,
) -> None:
    # Short leases: a step that could not hand its lease back (SQLite's shared in-memory test
    # database sometimes refuses a write between threads) is taken up again within seconds.
    settings.EXPORT_LEASE_SECONDS = 5
    make_staff("admin@example.com", EXPORT_ADMIN_GROUP)
    errors = collect_console_errors(page)
    # Auth0's job stays pending until the page has shown it (the sandbox clock is moved on
    # below), so there is progress to watch however slowly the machine renders the page.
    use_sandbox.set_faults(job_pending_seconds=HOLD_SECONDS)

    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
    page.get_by_label("Email address").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/new/")

    counter = page.locator("#field-count")
    submit = page.get_by_role("button", name="Start export")
    picked = int(counter.inner_text())
    assert picked > 0
    # Whole metadata objects are refused for CSV while picking, before any submit.
    page.locator("label", has_text="user_metadata").first.click()
    assert counter.inner_text() == str(picked + 1)
    problem = page.locator("#field-counter-error").inner_text()
    assert "CSV cannot hold whole objects (user_metadata)" in problem
    assert submit.is_disabled()
    assert "of at most 30 for CSV" in page.locator("#field-counter").inner_text()
    page.get_by_label("NDJSON").check()
    assert submit.is_enabled()
    assert "of at most" not in page.locator("#field-counter").inner_text()
    page.get_by_label("CSV", exact=True).check()
    assert submit.is_disabled()
    page.locator("label", has_text="user_metadata").first.click()
    assert submit.is_enabled()

    # Reorder with the picked list's buttons: email moves before user_id.
    page.get_by_role("button", name="Move email up").click()
    assert page.locator("#picked-order li").first.inner_text().startswith("email")
    assert page.locator("input[name=r-1-order]").input_value() == "1"

    page.get_by_label("Sample of 10 users").check()
    assert page.get_by_label("Limit").input_value() == "10"
    submit.click()

    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/*/")
    status = page.locator("#export-status [data-status]")
    seen = {status.get_attribute("data-status")}
    assert seen <= {"queued", "submitted", "running"}
    # htmx polls the status block every 2 s; once it shows the job submitted to Auth0, the
    # sandbox clock passes the job's start time and the job runs.
    page.wait_for_function(
        "() => ['submitted', 'running'].includes("
        "document.querySelector('#export-status [data-status]').dataset.status)",
        polling=100,
    )
    seen.add(status.get_attribute("data-status"))
    use_sandbox.shift_clock(HOLD_SECONDS)
    # The status block keeps polling until the export settles; no reload.
    page.wait_for_function(
        "() => { const s = document.querySelector('#export-status [data-status]');"
        " window.__seen = (window.__seen || new Set()); window.__seen.add(s.dataset.status);"
        " return s.dataset.status === 'ready'; }",
        polling=100,
    )
    seen |= set(page.evaluate("Array.from(window.__seen)"))
    assert "ready" in seen
    assert len(seen) >= 2

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="CSV (.csv)").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    lines = Path(csv_download.value.path()).read_text().splitlines()
    assert lines[0].split(",")[:2] == ["email", "Id"]
    assert len(lines) == 11

    with page.expect_download() as json_download:
        page.get_by_role("link", name="JSON array of the rows (keys as exported)").click()
    users = json.loads(Path(json_download.value.path()).read_text())
    assert len(users) == 10
    assert all(not user["Id"].startswith("'") for user in users)

    page.get_by_role("link", name="All exports").click()
    assert (
        page.locator("tr[id^=export-row-] [data-status]").first.get_attribute("data-status")
        == "ready"
    )
    assert errors == []
