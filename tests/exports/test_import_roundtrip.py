"""Round trip through real servers: a database connection of the sandbox is exported by the
dashboard's pipeline, downloaded as import-ready JSON from the export page, and imported with
our client into another database connection of the sandbox: the same users, metadata intact,
zero errors. From a CSV export and from an NDJSON export.

Each run gets a fresh sandbox. The source users are deleted before the import, because the
sandbox keeps a user_id unique across the tenant (docs/sandbox/differences.md): that also
proves the ids come back without a second `auth0|`.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

import management_api
from exports import importformat, tasks
from exports.fields import EXPORTABLE_FIELDS, METADATA_ROOTS, OBJECT_FIELDS
from exports.models import Status
from tests.fixtures.celery import drive, wait_for
from tests.fixtures.import_connections import SOURCE_ID, TARGET, TARGET_ID, start
from tests.fixtures.sandbox import SandboxServer, point_dashboard_at

SOURCE = "Username-Password-Authentication"
# The profile's own attributes an import file takes back (the user id is kept apart).
ROOT_FIELDS = [
    name
    for name in EXPORTABLE_FIELDS
    if name in importformat.ATTRIBUTES and name not in OBJECT_FIELDS and name != "user_id"
]
# CSV holds no whole objects: metadata leaves (https://auth0.com/docs/manage-users/user-migration/bulk-user-exports).
CSV_LEAVES = [
    "app_metadata.plan",
    "app_metadata.country",
    "app_metadata.seats",
    # An array: its JSON text in CSV, an array again in the import file.
    "app_metadata.roles",
    "user_metadata.consent.given",
    "user_metadata.consent.date",
    "user_metadata.consent.text_details",
    "user_metadata.preferences.language",
    "user_metadata.preferences.newsletter",
]
LEFT_OUT = [
    {"name": "identities[0].connection", "export_as": "Connection"},
    {"name": "created_at"},
    {"name": "last_login"},
    {"name": "logins_count"},
]


def fields(fmt: str) -> list[dict[str, str]]:
    metadata = CSV_LEAVES if fmt == "csv" else METADATA_ROOTS
    return [
        {"name": "user_id", "export_as": "Id"},
        *({"name": name} for name in ROOT_FIELDS),
        *({"name": name} for name in metadata),
        *LEFT_OUT,
    ]


def at(profile: dict[str, Any], path: str) -> Any:
    value: Any = profile
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def profiles(server: SandboxServer, connection: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT profile FROM sandbox_tenantuser ORDER BY id").fetchall()
    found = [json.loads(text) for (text,) in rows]
    return {p["user_id"]: p for p in found if p["identities"][0]["connection"] == connection}


@pytest.fixture
def fresh_sandbox(tmp_path: Path, settings: Any) -> Iterator[SandboxServer]:
    server = start(tmp_path / "sandbox")
    server.set_faults(rate_limit_plan="off")
    point_dashboard_at(settings, server)
    cache.delete(management_api.cache_key("connections"))
    try:
        yield server
    finally:
        cache.delete(management_api.cache_key("connections"))
        server.stop()


def import_files(response: Any) -> list[bytes]:
    body = b"".join(response.streaming_content)
    if response["Content-Type"] == "application/json":
        return [body]
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert not [name for name in archive.namelist() if name.startswith("not-importable")]
    return [archive.read(name) for name in archive.namelist()]


@pytest.mark.usefixtures("export_settings")
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_an_exported_connection_imports_into_another_with_every_user_intact(
    fmt: str, fresh_sandbox: SandboxServer, admin_client_: Client, export_admin: User
) -> None:
    source = profiles(fresh_sandbox, SOURCE)
    assert len(source) > 10
    # Worth the trip: nested metadata, arrays, usernames and phones are among them.
    assert any(at(p, "user_metadata.consent.given") is not None for p in source.values())
    assert any(at(p, "app_metadata.roles") for p in source.values())
    assert any("username" in p for p in source.values())
    assert any("phone_number" in p for p in source.values())
    spec = {"format": fmt, "connection_id": SOURCE_ID, "connection_name": SOURCE}
    export = drive(
        tasks.create_export({**spec, "fields": fields(fmt)}, requested_by=export_admin).pk
    )
    assert export.status == Status.READY, export.failure_reason
    assert export.row_count == len(source)

    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert f"/t/userdesk-sandbox/exports/{export.pk}/download/import/" in page
    # Warned before the download: CSV holds arrays as text (NDJSON keeps every type).
    assert ("export NDJSON with the metadata whole" in page) == (fmt == "csv")
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/import/")
    assert response.status_code == 200
    files = import_files(response)

    # Moved, not copied: the sandbox keeps user ids unique across the tenant.
    for user_id in source:
        management_api.delete_user(user_id)
    for data in files:
        assert len(data) <= 500_000
        job = management_api.create_users_import(data, connection_id=TARGET_ID)

        def settled(job_id: str = job["id"]) -> dict[str, Any] | None:
            found = management_api.get_job(job_id)
            return found if found and found["status"] in ("completed", "failed") else None

        done = wait_for(settled)
        assert done["status"] == "completed"
        assert done["summary"]["failed"] == 0, management_api.get_job_errors(job["id"])
        assert management_api.get_job_errors(job["id"]) == []

    imported = profiles(fresh_sandbox, TARGET)
    assert set(imported) == set(source)
    for user_id, original in source.items():
        again = imported[user_id]
        for name in ROOT_FIELDS:
            assert again.get(name) == original.get(name), (user_id, name)
        if fmt == "ndjson":
            for root in METADATA_ROOTS:
                assert again.get(root) == original.get(root), (user_id, root)
        else:
            for path in CSV_LEAVES:
                assert at(again, path) == at(original, path), (user_id, path)
        assert again["identities"][0]["user_id"] == user_id.removeprefix("auth0|")

    def searchable() -> bool:
        page = management_api.search_users(f'identities.connection:"{TARGET}"', per_page=100)
        return page.total == len(source)

    assert wait_for(searchable)
