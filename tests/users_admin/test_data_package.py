"""The data-subject package, built by a real Celery worker against the
sandbox: a user with a long history (more log events than a page, Userdesk events older than
Auth0's retention, exports holding them) downloads once, its manifest checks out, a second
download is refused, and the file is gone."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client

from exports.models import Export, Status
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, wait_for
from tests.fixtures.sandbox import SandboxServer
from users_admin.packages import prune_data_packages
from users_admin.pii_models import DataPackage

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox", "export_settings")
T = "/t/userdesk-sandbox"
REASON = "DSAR-2031: the user asked for a copy of their data"


def backdated(actor: User, action: str, target: str, days: int, **details: Any) -> None:
    event = AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username,
        action=action,
        target=target,
        tenant="userdesk-sandbox",
        details=details,
    )
    with connection.cursor() as cursor:  # append-only: backdated in SQL
        cursor.execute(
            "UPDATE staff_auditevent SET at = %s WHERE id = %s",
            [datetime.now(UTC) - timedelta(days=days), event.pk],
        )


def kept_export(admin: User, match_query: str = "") -> Export:
    """An export row as a finished one stands (no task: a worker would run its pipeline)."""
    return Export.objects.create(
        requested_by=admin,
        requested_by_label=admin.username,
        status=Status.READY,
        fields=CSV_SPEC["fields"],
        match_query=match_query,
    )


def exact_export_holding(user_id: str, admin: User) -> Export:
    export = kept_export(admin, match_query=f'user_id:"{user_id}"')
    rows = f"Id,email\n{user_id},someone@example.com\n".encode()
    export.file.save(f"exact-{export.pk}.csv.gz", ContentFile(gzip.compress(rows)))
    return export


def package_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name.removeprefix("data-package/"): archive.read(name) for name in archive.namelist()
        }


def test_a_package_of_a_long_history_downloads_once_and_its_manifest_checks_out(
    celery_worker: Any,
    lead_client: Client,
    agent_client: Client,
    support_lead: User,
    support_agent: User,
    export_admin: User,
    fresh_user: dict[str, Any],
    use_sandbox: SandboxServer,
    export_settings: Path,
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")
    user_id = fresh_user["user_id"]
    with use_sandbox.api() as api:
        for _ in range(120):  # each appends an event to the user's log: more than a page
            api.post("/api/v2/jobs/verification-email", json={"user_id": user_id})
        logs = [
            event
            for page in range(3)
            for event in api.get(
                f"/api/v2/users/{user_id}/logs", params={"page": page, "per_page": 100}
            ).json()
        ]
    backdated(support_agent, "users.view", user_id, days=400, found=True)
    backdated(support_lead, "users.block", user_id, days=380, reason="Ticket #1: fraud report")
    agent_client.get(f"{T}/users/{user_id}/")
    exact = exact_export_holding(user_id, export_admin)
    other = exact_export_holding("auth0|somebody-else", export_admin)
    whole = kept_export(export_admin)  # of all connections, made now

    assert agent_client.get(f"{T}/users/{user_id}/data-package/").status_code == 403
    form = lead_client.get(f"{T}/users/{user_id}/data-package/").content.decode()
    token = form.split('name="token" value="', 1)[1].split('"', 1)[0]
    sent = {"token": token, "reason": REASON}
    first = lead_client.post(f"{T}/users/{user_id}/data-package/", sent)
    again = lead_client.post(f"{T}/users/{user_id}/data-package/", sent)  # sent twice: one
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    package = DataPackage.objects.get()
    package = wait_for(
        lambda: DataPackage.objects.filter(pk=package.pk, status="ready").first(), timeout=60
    )
    page = lead_client.get(f"{T}/data-packages/{package.pk}/").content.decode()
    assert "Ready to download" in page
    assert package.sha256 in page

    # Only the staff member who asked for it sees and takes it.
    admin = Client()
    admin.force_login(export_admin)
    assert admin.post(f"{T}/data-packages/{package.pk}/download/").status_code == 403
    response = lead_client.post(f"{T}/data-packages/{package.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    data = response.content
    assert hashlib.sha256(data).hexdigest() == package.sha256
    files = package_files(data)
    manifest = files.pop("MANIFEST.sha256").decode().splitlines()
    assert sorted(line.split("  ", 1)[1] for line in manifest) == sorted(files)
    for line in manifest:  # what `sha256sum -c MANIFEST.sha256` checks
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(files[name]).hexdigest() == digest

    profile = json.loads(files["profile.json"])
    assert profile["user_id"] == user_id
    assert json.loads(files["identities.json"]) == profile["identities"]
    assert json.loads(files["user_metadata.json"]) == {"theme": "dark", "lang": "en"}
    assert json.loads(files["app_metadata.json"]) == profile.get("app_metadata", {})
    assert len(json.loads(files["auth0-log-events.json"])) == len(logs) > 100
    audit = json.loads(files["userdesk-audit-events.json"])
    assert [e["action"] for e in audit[:2]] == ["users.view", "users.block"]
    assert audit[1]["details"]["reason"] == "Ticket #1: fraud report"
    assert "users.data_package_requested" in [e["action"] for e in audit]
    exports = json.loads(files["exports.json"])
    assert [e["export"] for e in exports["exact_exports_holding_the_user"]] == [exact.pk]
    assert whole.pk in [e["export"] for e in exports["exports_of_their_connection"]]
    assert other.pk not in [e["export"] for e in exports["exact_exports_holding_the_user"]]
    summary = files["SUMMARY.txt"].decode()
    assert "outlives Auth0's log retention" in summary
    assert REASON in summary

    refused = lead_client.post(f"{T}/data-packages/{package.pk}/download/")
    assert refused.status_code == 410
    assert "it can be downloaded only once" in refused.content.decode()
    assert not (export_settings / package.file_name).exists()
    recorded = AuditEvent.objects.filter(target=user_id, action__startswith="users.data_package")
    assert sorted(recorded.values_list("action", flat=True)) == [
        "users.data_package_built",
        "users.data_package_downloaded",
        "users.data_package_refused",
        "users.data_package_requested",
    ]


def test_an_expired_package_is_deleted_and_refused(
    lead_client: Client, support_lead: User, export_settings: Path
) -> None:
    name = "data-packages/expired.zip"
    (export_settings / "data-packages").mkdir(parents=True)
    (export_settings / name).write_bytes(b"zip")
    package = DataPackage.objects.create(
        token="00000000-0000-0000-0000-000000000001",
        user_id="auth0|1",
        requested_by=support_lead,
        requested_by_label=support_lead.username,
        reason=REASON,
        status="ready",
        file_name=name,
        expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )
    assert prune_data_packages() == 1
    assert not (export_settings / name).exists()
    refused = lead_client.post(f"{T}/data-packages/{package.pk}/download/")
    assert refused.status_code == 410
    assert "expired and was deleted" in refused.content.decode()


def test_the_user_page_offers_the_package_to_the_roles_that_build_it(
    lead_client: Client, agent_client: Client, fresh_user: dict[str, Any]
) -> None:
    url = f"{T}/users/{fresh_user['user_id']}/"
    link = f'href="{url}data-package/"'.replace("|", "%7C")
    assert link in lead_client.get(url).content.decode()
    assert link not in agent_client.get(url).content.decode()
