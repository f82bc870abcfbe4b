"""The templates as source: no line longer than 200 characters (break a long line between a
tag's attributes, or at a space of the text, so the page stays the same), and a status's badge
class from one mapping (the status_tone filter) for every kind of stored job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.template import engines
from django.template.loader import render_to_string

from exports import tasks
from exports.import_models import ImportRun, ImportStatus
from exports.models import Export, ExportPart, PartStatus, Status
from tests.fixtures.celery import CSV_SPEC
from users_admin.pii_models import PackageStatus

BADGE = re.compile(r'class="badge (\w+)"')
PART_BADGE = re.compile(r'class="badge (\w+)"\s+data-part-status="(\w+)"')
LONGEST_LINE = 200


def test_no_template_line_is_longer_than_200_characters() -> None:
    folder = Path(settings.BASE_DIR) / "templates"
    long = [
        f"{path.relative_to(folder)}:{number} ({len(line)} characters)"
        for path in sorted(folder.rglob("*.html"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if len(line) > LONGEST_LINE
    ]
    assert long == []


def badge(template: str, **context: object) -> str:
    found = BADGE.search(render_to_string(template, context))
    assert found, template
    return found.group(1)


@pytest.mark.parametrize("status", Status.values)
def test_an_export_status_badge(status: str) -> None:
    expected = {"ready": "ok", "failed": "error", "purged": "muted"}.get(status, "info")
    assert badge("exports/status_badge.html", export=Export(status=status)) == expected


@pytest.mark.parametrize("status", ImportStatus.values)
def test_an_import_status_badge(status: str) -> None:
    expected = {"completed": "ok", "failed": "error", "draft": "muted"}.get(status, "info")
    assert badge("exports/imports/_badge.html", run=ImportRun(status=status)) == expected


@pytest.mark.django_db
def test_an_export_part_status_badge(export_admin: User) -> None:
    """A part is done once downloaded and verified: Auth0's "completed" is a step on the way."""
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    for position, status in enumerate(PartStatus.values):
        ExportPart.objects.create(
            export=export, position=position, connection_id=f"con_{position}", status=status
        )
    page = render_to_string("exports/parts.html", {"export": export})
    found = {status: tone for tone, status in PART_BADGE.findall(page)}
    assert found == {
        "waiting": "info",
        "running": "info",
        "completed": "info",
        "verified": "ok",
        "failed": "error",
    }


def test_a_data_package_status_badge() -> None:
    """Ready and failed as the others; queued, building, downloaded, expired are info."""
    tone = engines["django"].from_string("{% load userdesk %}{{ status|status_tone }}")
    found = {status: tone.render({"status": status}) for status in PackageStatus.values}
    assert found == {
        "queued": "info",
        "building": "info",
        "ready": "ok",
        "failed": "error",
        "downloaded": "info",
        "expired": "info",
    }
