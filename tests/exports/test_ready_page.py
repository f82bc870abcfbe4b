"""A ready export's page leads with what staff came for: the downloads,
the file's integrity and the date its file is deleted come first; the timeline, the checks one
by one, the spec and the rename and template forms are folded (<details>)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import tasks
from exports.models import Status
from tests.fixtures.celery import CSV_SPEC, drive

pytestmark = pytest.mark.usefixtures("use_sandbox", "export_settings")


def test_a_ready_export_leads_with_downloads_integrity_and_retention(
    admin_client_: Client, export_admin: User
) -> None:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 3}, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    places = [
        body.index(marker)
        for marker in (
            'id="export-downloads"',
            f'href="/t/userdesk-sandbox/exports/{export.pk}/download/',
            'id="export-integrity"',
            export.sha256,
            'id="kept-until"',
            'id="export-verification"',
            "<h3>Timeline</h3>",
            'id="export-spec"',
            'id="export-keep"',
        )
    ]
    assert places == sorted(places)
    checks = len(export.verification)
    assert checks > 0
    assert f"{checks} check{'s' if checks > 1 else ''} passed" in body
    # Folded and closed once the export is settled: each is a <details> without "open".
    for fold in ('id="export-verification"', 'id="export-spec"', 'id="export-keep"'):
        tag = body[body.rindex("<details", 0, body.index(fold)) : body.index(fold) + len(fold)]
        assert " open" not in tag
    timeline = body[body.rindex("<details", 0, body.index("<h3>Timeline</h3>")) :]
    assert re.match(r'<details class="fold">', timeline)
    assert f"{export.get_format_display()}, 4 fields, {export.connection_label}" in body


def test_a_running_exports_timeline_is_open(admin_client_: Client, export_admin: User) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    timeline = body[body.rindex("<details", 0, body.index("<h3>Timeline</h3>")) :]
    assert timeline.startswith('<details class="fold" open>')
    assert 'id="export-downloads"' not in body
