"""The templates as source: a status's badge class comes from one mapping (the status_tone
filter) for every kind of stored job."""

from __future__ import annotations

import re

import pytest
from django.template import engines
from django.template.loader import render_to_string

from exports.import_models import ImportRun, ImportStatus
from exports.models import Export, Status
from users_admin.pii_models import PackageStatus

BADGE = re.compile(r'class="badge (\w+)"')


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
