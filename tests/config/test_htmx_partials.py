"""A page that htmx polls or swaps answers an htmx request with the part it asked for, and a
history restore (Back, once htmx's snapshot of the page was evicted: an htmx request too) with
the whole page, as every staff page does through config.htmx.wants_partial."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports.import_models import ImportRun
from exports.models import Export
from users_admin import bulk_select
from users_admin.models import BulkRun

PART = {"HX-Request": "true"}
RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
TENANT = "/t/userdesk-sandbox"


def whole_page(html: str) -> bool:
    return html.lstrip().lower().startswith("<!doctype html>") and "</html>" in html


def test_an_export_page_restored_from_history_is_whole(
    admin_client_: Client, export_admin: User
) -> None:
    export = Export.objects.create(status="running", requested_by=export_admin)
    url = f"{TENANT}/exports/{export.pk}/"
    assert not whole_page(admin_client_.get(url, headers=PART).content.decode())
    restored = admin_client_.get(url, headers=RESTORE)
    assert restored.status_code == 200
    assert whole_page(restored.content.decode())


def test_an_import_page_restored_from_history_is_whole(
    admin_client_: Client, export_admin: User
) -> None:
    run = ImportRun.objects.create(
        requested_by=export_admin,
        source_name="users.json",
        sha256="0" * 64,
        size=2,
        status="running",
    )
    url = f"{TENANT}/exports/imports/{run.pk}/"
    assert not whole_page(admin_client_.get(url, headers=PART).content.decode())
    restored = admin_client_.get(url, headers=RESTORE)
    assert restored.status_code == 200
    assert whole_page(restored.content.decode())


@pytest.mark.django_db
def test_a_bulk_run_page_restored_from_history_is_whole(lead_client: Client) -> None:
    run = BulkRun.objects.create(tenant=bulk_select.tenant_slug(), source="query", query="a:b")
    url = f"{TENANT}/bulk/{run.pk}/"
    assert not whole_page(lead_client.get(url, headers=PART).content.decode())
    restored = lead_client.get(url, headers=RESTORE)
    assert restored.status_code == 200
    assert whole_page(restored.content.decode())
