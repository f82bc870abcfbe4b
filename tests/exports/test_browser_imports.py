"""The round trip in a real browser, as an export admin would do it: a CSV
export of the sandbox's database connection with array metadata (`app_metadata.roles`), built
and followed in the browser, converted and imported from the import page into a second database
connection (made with `POST /api/v2/connections`, no SQL), with a real Celery worker: zero
errors, and the arrays are arrays again in the sandbox. The import pages pass axe with no
sideways scroll at 390 and 1,280 px, and the form is driven by the keyboard."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from playwright.sync_api import expect

from exports.import_models import ImportRun, ImportStatus
from tests.fixtures.browser import signed_in_page
from tests.fixtures.page_checks import no_sideways_scroll_and_axe_clean
from tests.fixtures.sandbox import SandboxServer, make_sandbox_server, point_dashboard_at

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = "Username-Password-Authentication"
SOURCE_ID = "con_Db1Pw2Xk9LmQ4RtZ"
SECOND = "second-db"
FIELDS = "email,email_verified,name,app_metadata.roles,app_metadata.plan"


@pytest.fixture
def fresh(tmp_path: Path, settings: Any) -> Iterator[SandboxServer]:
    server = make_sandbox_server(
        tmp_path / "sandbox", users=40, seed=5, SANDBOX_SEARCH_LAG_SECONDS="0"
    )
    server.set_faults(rate_limit_plan="off")
    point_dashboard_at(settings, server)
    cache.clear()
    try:
        yield server
    finally:
        cache.clear()
        server.stop()


def by_email(server: SandboxServer, connection: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT profile FROM sandbox_tenantuser").fetchall()
    found = [json.loads(text) for (text,) in rows]
    return {p["email"]: p for p in found if p["identities"][0]["connection"] == connection}


def test_a_csv_export_with_arrays_is_imported_into_a_second_connection(
    browser: Any,
    live_server: Any,
    celery_worker: Any,
    fresh: SandboxServer,
    export_admin: User,
    export_settings: Path,
    settings: Any,
) -> None:
    settings.EXPORT_LEASE_SECONDS = 5
    with fresh.api() as api:
        made = api.post("/api/v2/connections", json={"name": SECOND, "strategy": "auth0"})
        assert made.status_code == 201, made.text
    source = by_email(fresh, SOURCE)
    assert any(isinstance(p.get("app_metadata", {}).get("roles"), list) for p in source.values())

    with signed_in_page(browser, live_server, export_admin) as (page, errors):
        base = f"{live_server.url}/t/userdesk-sandbox/exports"

        # 1. The export: the builder, prefilled with the connection and the fields.
        page.goto(f"{base}/new/?connection={SOURCE_ID}&fields={FIELDS}")
        page.get_by_label("CSV", exact=True).check()
        page.get_by_role("button", name="Start export").click()
        page.wait_for_url(f"{base}/*/")
        page.wait_for_function(
            "() => document.querySelector('#export-status [data-status]')"
            ".dataset.status === 'ready'",
            polling=200,
        )
        plan = page.get_by_role("region", name="Columns in the import file")
        assert "app_metadata.roles" in plan.inner_text()

        # 2. Converted and checked: the export's own link, the export chosen.
        page.get_by_role("link", name="Import these users into a connection").click()
        page.wait_for_url(f"{base}/imports/new/?export=*")
        page.get_by_role("button", name="Check the file").click()
        page.wait_for_url(f"{base}/imports/*/")
        counts = page.locator("#user-counts").inner_text()
        assert counts == f"{len(source)} pass Auth0's import schema", counts

        problems: list[str] = []
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            problems += no_sideways_scroll_and_axe_clean(page, f"draft at {width} px")

        # 3. Started by the keyboard: a field left out is found at once, then Enter starts it.
        page.get_by_label("Reason").fill("TICKET-19 round trip")
        page.get_by_label("Reason").press("Enter")
        summary = page.locator("#error-summary")
        summary.wait_for()
        expect(summary).to_be_focused()
        assert "Choose the database connection to import into." in summary.inner_text()
        page.get_by_role("combobox", name="Import into").select_option(label=SECOND)
        page.get_by_label("Reason").fill("TICKET-19 round trip")
        page.get_by_label("Reason").press("Enter")
        page.wait_for_function(
            "() => { const s = document.querySelector('#import-status [data-status]');"
            " return s && ['completed', 'failed'].includes(s.dataset.status); }",
            polling=200,
        )
        status = page.locator("#import-status [data-status]").get_attribute("data-status")
        assert status == "completed", page.locator("#import-status").inner_text()
        totals = page.locator("#import-totals").inner_text()
        assert totals == f"{len(source)} inserted, 0 updated, 0 failed, of {len(source)}"
        assert page.locator("#no-auth0-errors").is_visible()
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            problems += no_sideways_scroll_and_axe_clean(page, f"import at {width} px")
        page.goto(f"{base}/imports/")
        problems += no_sideways_scroll_and_axe_clean(page, "history")
        assert problems == [], "\n".join(problems)
        assert errors == []

    run = ImportRun.objects.get()
    assert run.status == ImportStatus.COMPLETED
    assert run.auth0_errors() == []
    imported = by_email(fresh, SECOND)
    assert set(imported) == set(source)
    for email, original in source.items():
        for key in ("roles", "plan"):
            assert imported[email].get("app_metadata", {}).get(key) == original.get(
                "app_metadata", {}
            ).get(key), (email, key)
    assert any(isinstance(p.get("app_metadata", {}).get("roles"), list) for p in imported.values())


def test_an_uploaded_file_s_failing_users_are_shown_and_hold_the_import_back(
    browser: Any,
    live_server: Any,
    use_sandbox: SandboxServer,
    export_admin: User,
    export_settings: Path,
    tmp_path: Path,
) -> None:
    good = tmp_path / "users.json"
    good.write_text(
        json.dumps(
            [
                {"email": "ok@example.com", "user_metadata": {"roles": ["a", "b"]}},
                {"email": "not an address"},
                {"email": "OK@example.com"},
            ]
        )
    )
    bad = tmp_path / "broken.json"
    bad.write_text("[{")
    with signed_in_page(browser, live_server, export_admin) as (page, errors):
        base = f"{live_server.url}/t/userdesk-sandbox/exports/imports"
        page.set_viewport_size({"width": 390, "height": 900})

        page.goto(f"{base}/new/")
        page.get_by_label("Upload a file").set_input_files(str(bad))
        page.get_by_role("button", name="Check the file").click()
        summary = page.locator("#error-summary")
        assert "broken.json is not valid JSON" in summary.inner_text()
        expect(summary).to_be_focused()
        problems = no_sideways_scroll_and_axe_clean(page, "refused file at 390 px")

        page.get_by_label("Upload a file").set_input_files(str(good))
        page.get_by_role("button", name="Check the file").click()
        page.wait_for_url(f"{base}/*/")
        assert page.locator("#user-counts").inner_text() == ("1 pass Auth0's import schema; 2 fail")
        failing = page.get_by_role("table", name="Users that fail the checks (never sent)")
        text = failing.inner_text()
        assert "#2 not an address" in text
        assert "#3 OK@example.com" in text
        assert "the same email as user 1 of this file" in text
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            problems += no_sideways_scroll_and_axe_clean(page, f"draft at {width} px")

        page.get_by_role("combobox", name="Import into").select_option(
            label="Username-Password-Authentication"
        )
        page.get_by_label("Reason").fill("TICKET-19 check only")
        page.get_by_label("Reason").press("Enter")
        summary = page.locator("#error-summary")
        summary.wait_for()
        assert "2 users of this file fail the checks above" in summary.inner_text()
        expect(summary).to_be_focused()
        problems += no_sideways_scroll_and_axe_clean(page, "refused start at 1280 px")
        assert problems == [], "\n".join(problems)
        assert errors == []
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.DRAFT
    assert not run.parts.exists()
