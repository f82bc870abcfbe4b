"""In a real browser: the export page names what the import file holds before any download, the
import-ready file downloads with the keyboard, and the page passes axe without sideways scroll."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from exports import tasks
from exports.models import Status
from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.page_checks import violations
from tests.fixtures.sandbox import SandboxServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def ready(user: User, **spec: Any) -> int:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 20, **spec}, requested_by=user).pk)
    assert export.status == Status.READY, export.failure_reason
    return int(export.pk)


@pytest.mark.usefixtures("export_settings")
def test_the_import_plan_is_shown_and_the_file_downloads_with_the_keyboard(
    browser: Any, live_server: Any, export_admin: User, use_sandbox: SandboxServer
) -> None:
    database = ready(
        export_admin,
        connection_id="con_Db1Pw2Xk9LmQ4RtZ",
        connection_name="Username-Password-Authentication",
    )
    everything = ready(export_admin)
    context = browser.new_context(bypass_csp=True, accept_downloads=True)
    try:
        sign_in(context, live_server, export_admin)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        problems: list[str] = []
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            for pk in (database, everything):
                page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{pk}/")
                problems += [f"#{pk} at {width} px: {v}" for v in violations(page)]
                sideways = page.evaluate(
                    "document.documentElement.scrollWidth > document.documentElement.clientWidth"
                )
                if sideways:
                    wide = page.evaluate(
                        "Array.from(document.querySelectorAll('body *')).filter(e => "
                        "e.getBoundingClientRect().right > document.documentElement.clientWidth)"
                        ".slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + "
                        "Math.round(e.getBoundingClientRect().right))"
                    )
                    problems.append(f"#{pk} at {width} px scrolls sideways: {wide}")
        assert problems == [], "\n".join(problems)

        page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{everything}/")
        plan = page.get_by_role("region", name="Importing into Auth0")
        assert "No import-ready file is offered for this export" in plan.inner_text()
        assert page.get_by_role("link", name="Import-ready JSON for Auth0").count() == 0

        page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{database}/")
        plan = page.get_by_role("region", name="Importing into Auth0")
        rows = plan.locator("tbody tr").all_inner_texts()
        assert rows == [
            "Id\tuser_id (renamed from the title “Id”)",
            "email\temail",
            "created_at\tleft out: not an attribute of Auth0's import schema",
            "Connection\tleft out: not an attribute of Auth0's import schema",
        ]
        link = page.get_by_role("link", name="Import-ready JSON for Auth0")
        link.focus()
        with page.expect_download() as download:
            page.keyboard.press("Enter")
        assert download.value.suggested_filename.endswith("-import.json")
        users = json.loads(Path(download.value.path()).read_text())
        assert len(users) == 20
        assert all(set(user) == {"user_id", "email"} for user in users)
        assert errors == []
    finally:
        context.close()
