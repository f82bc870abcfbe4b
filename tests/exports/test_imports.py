"""Imports in the app against a real sandbox server: a file is checked
before anything is sent, started once with a reason, sent in parts of at most 500 KB, each part
polled until Auth0 settles it, Auth0's per-user errors kept, shown and downloadable, all
audited; a part whose answer never arrived is never sent again.

A fresh sandbox per module (imports add users); its second database connection is made with
`POST /api/v2/connections`, as staff would."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from exports import importrun, retention, tasks
from exports.import_models import ImportPart, ImportRun, ImportStatus, PartStatus
from exports.models import Status
from exports.tasks import sweep_imports
from staff.models import AuditEvent
from tests.fixtures.celery import drive, drive_steps, wait_for
from tests.fixtures.sandbox import SandboxServer, make_sandbox_server, point_dashboard_at

BASE = "/t/userdesk-sandbox/exports/imports"
SECOND = "second-db"


@pytest.fixture(scope="module")
def imports_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = make_sandbox_server(
        tmp_path_factory.mktemp("app-imports"), users=20, seed=9, SANDBOX_SEARCH_LAG_SECONDS="0"
    )
    server.set_faults(rate_limit_plan="off")
    with server.api() as api:
        made = api.post("/api/v2/connections", json={"name": SECOND, "strategy": "auth0"})
        assert made.status_code == 201, made.text
    server.second_id = made.json()["id"]  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(
    imports_server: SandboxServer, settings: Any, export_settings: Path
) -> Iterator[SandboxServer]:
    point_dashboard_at(settings, imports_server)
    imports_server.reset_faults()
    imports_server.set_faults(rate_limit_plan="off")
    cache.clear()
    yield imports_server
    cache.clear()
    imports_server.reset_faults()


def drive_import(run_id: int, timeout: float = 60.0) -> ImportRun:
    """The task chain's steps, in this process, until the run settles."""
    run: ImportRun = drive_steps(importrun.advance, ImportRun, run_id, timeout)
    return run


def profiles(server: SandboxServer, connection: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT profile FROM sandbox_tenantuser").fetchall()
    found = [json.loads(text) for (text,) in rows]
    return {p["email"]: p for p in found if p["identities"][0]["connection"] == connection}


def sandbox_import_jobs(server: SandboxServer) -> int:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        (count,) = db.execute(
            "SELECT count(*) FROM sandbox_exportjob WHERE type = 'users_import'"
        ).fetchone()
    return int(count)


def upload(client: Client, users: Any, name: str = "users.json") -> ImportRun:
    data = json.dumps(users).encode()
    response = client.post(f"{BASE}/new/", {"file": SimpleUploadedFile(name, data)})
    assert response.status_code == 302, response.content.decode()[:3000]
    return ImportRun.objects.latest("pk")


def start_form(server: SandboxServer, **extra: Any) -> dict[str, Any]:
    return {
        "connection": server.second_id,  # type: ignore[attr-defined]
        "reason": "TICKET-19 move users",
        **extra,
    }


@pytest.mark.django_db
def test_a_checked_file_is_imported_once_and_auth0s_errors_are_kept(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User
) -> None:
    users = [
        {"email": "ana@example.com", "user_metadata": {"roles": ["billing", "viewer"]}},
        {"email": "bo@example.com", "email_verified": True},
        {"name": "no email at all"},
        {"email": "ANA@example.com"},
        {"email": "cy@example.com", "app_metadata": {"plan": "pro"}},
    ]
    run = upload(admin_client_, users)
    assert run.status == ImportStatus.DRAFT
    assert run.user_count == 3
    assert [item["index"] for item in run.rejects] == [3, 4]
    page = admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
    assert "Missing required property" in page or "email" in page
    assert "the same email as user 1 of this file" in page
    assert run.sha256 in page

    # Nothing is sent while any fail, unless they are left out.
    refused = admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    assert refused.status_code == 200
    assert "nothing is sent while any fail" in refused.content.decode()
    assert "error-summary" in refused.content.decode()
    assert not ImportPart.objects.filter(run=run).exists()
    no_reason = admin_client_.post(
        f"{BASE}/{run.pk}/start/", start_form(sandbox, leave_out="on", reason="")
    )
    assert "Type the reason for this import." in no_reason.content.decode()

    jobs_before = sandbox_import_jobs(sandbox)
    form = start_form(sandbox, leave_out="on")
    assert admin_client_.post(f"{BASE}/{run.pk}/start/", form).status_code == 302
    # Submitted twice (a double click, a resent form): queued once.
    assert admin_client_.post(f"{BASE}/{run.pk}/start/", form).status_code == 302
    run.refresh_from_db()
    assert run.status == ImportStatus.QUEUED
    assert run.parts.count() == 1
    assert (
        "Queued: a worker sends the first part shortly."
        in admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
    )

    run = drive_import(run.pk)
    assert run.status == ImportStatus.COMPLETED, run.failure_reason
    assert run.totals() == {"inserted": 3, "updated": 0, "failed": 0, "total": 3}
    assert sandbox_import_jobs(sandbox) == jobs_before + 1
    imported = profiles(sandbox, SECOND)
    assert imported["ana@example.com"]["user_metadata"] == {"roles": ["billing", "viewer"]}
    assert imported["cy@example.com"]["app_metadata"] == {"plan": "pro"}

    # The same users again, upsert off: Auth0 refuses each, and says why.
    again = upload(admin_client_, [u for i, u in enumerate(users) if i in (0, 1, 4)])
    admin_client_.post(f"{BASE}/{again.pk}/start/", start_form(sandbox, external_id="T-19"))
    again = drive_import(again.pk)
    assert again.status == ImportStatus.COMPLETED
    assert again.totals()["failed"] == 3
    assert again.parts.get().job_answer["external_id"] == "T-19"
    page = admin_client_.get(f"{BASE}/{again.pk}/").content.decode()
    assert "DUPLICATED_USER" in page
    assert "Users Auth0 refused (3)" in page
    download = admin_client_.get(f"{BASE}/{again.pk}/errors/auth0/")
    assert download["Content-Disposition"].endswith('-auth0-errors.json"')
    errors = json.loads(download.content)
    assert sorted(e["user"]["email"] for e in errors) == [
        "ana@example.com",
        "bo@example.com",
        "cy@example.com",
    ]
    assert {e["errors"][0]["code"] for e in errors} == {"DUPLICATED_USER"}
    checks = json.loads(admin_client_.get(f"{BASE}/{run.pk}/errors/checks/").content)
    assert len(checks) == 2

    history = admin_client_.get(f"{BASE}/").content.decode()
    assert f"import-row-{run.pk}" in history
    assert f"import-row-{again.pk}" in history

    started = AuditEvent.objects.get(action="imports.start", target=f"import #{run.pk}")
    assert started.actor == export_admin
    assert started.details["reason"] == "TICKET-19 move users"
    assert started.details["sha256"] == run.sha256
    assert started.details["connection"] == SECOND
    assert started.details["left_out"] == 2
    finished = AuditEvent.objects.get(action="imports.finish", target=f"import #{again.pk}")
    assert finished.details["totals"]["failed"] == 3
    assert finished.details["auth0"][0]["job"].startswith("job_")
    assert AuditEvent.objects.filter(action="imports.check").count() == 2


@pytest.mark.django_db
def test_a_large_file_goes_in_parts_of_at_most_500_kb(
    sandbox: SandboxServer, admin_client_: Client
) -> None:
    padding = "x" * 900
    users = [
        {"email": f"bulk{n:04d}@example.com", "user_metadata": {"note": padding}}
        for n in range(1200)
    ]
    run = upload(admin_client_, users, name="bulk.json")
    assert run.user_count == 1200
    admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    parts = list(run.parts.order_by("number"))
    assert len(parts) >= 3
    assert all(len(p.users.encode()) <= 500_000 for p in parts)
    assert sum(p.user_count for p in parts) == 1200
    run = drive_import(run.pk, timeout=120)
    assert run.status == ImportStatus.COMPLETED, run.failure_reason
    assert run.totals()["inserted"] == 1200
    assert len({p.auth0_job_id for p in run.parts.all()}) == len(parts)


@pytest.mark.django_db
def test_a_part_whose_answer_never_arrived_is_never_sent_again(
    sandbox: SandboxServer, admin_client_: Client
) -> None:
    run = upload(admin_client_, [{"email": "lost@example.com"}, {"email": "lost2@example.com"}])
    admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    # As a worker killed right after it sent the request leaves the part: sent, no job id.
    run.parts.update(submitted_at=timezone.now() - timedelta(minutes=5))
    jobs_before = sandbox_import_jobs(sandbox)
    run = drive_import(run.pk)
    assert run.status == ImportStatus.FAILED
    assert "never arrived" in run.failure_reason
    assert "not sent again" in run.failure_reason
    assert run.parts.get().status == PartStatus.FAILED
    assert sandbox_import_jobs(sandbox) == jobs_before
    assert "lost@example.com" not in profiles(sandbox, SECOND)


def test_a_killed_worker_s_import_is_taken_up_and_no_part_is_sent_twice(
    celery_broker: str,
    worker_process: Any,
    sandbox: SandboxServer,
    admin_client_: Client,
    settings: Any,
) -> None:
    settings.EXPORT_LEASE_SECONDS = 3
    settings.EXPORT_STALE_SECONDS = 1
    padding = "y" * 900
    users = [
        {"email": f"kill{n:04d}@example.com", "user_metadata": {"note": padding}}
        for n in range(1200)
    ]
    run = upload(admin_client_, users, name="killed.json")
    jobs_before = sandbox_import_jobs(sandbox)
    # Auth0's first job stays pending, so the worker is polling it when it is killed.
    sandbox.set_faults(job_pending_seconds=3600)
    first = worker_process(EXPORT_LEASE_SECONDS="3").start()
    admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    parts = run.parts.count()
    assert parts >= 3

    def first_part_polled() -> bool:
        return ImportPart.objects.filter(run=run, number=1, poll_count__gte=1).exists()

    wait_for(first_part_polled, timeout=60, every=0.1)
    first.kill()
    assert ImportRun.objects.get(pk=run.pk).status == ImportStatus.RUNNING

    def said_stalled() -> bool:
        page = admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
        return "Stalled: no worker has worked on it since" in page

    # Once its lease has lapsed, the page says the worker was lost and what happens next.
    wait_for(said_stalled, timeout=30, every=0.2)
    sandbox.set_faults(job_pending_seconds=0)
    sandbox.shift_clock(3600)

    worker_process(EXPORT_LEASE_SECONDS="3").start()
    # The sweep finds the run with a lapsed lease and no heartbeat, and sends it again.
    wait_for(lambda: sweep_imports() > 0, timeout=30, every=0.2)

    def settled() -> ImportRun | None:
        found = ImportRun.objects.get(pk=run.pk)
        return found if found.is_settled else None

    run = wait_for(settled, timeout=120, every=0.2)
    assert run.status == ImportStatus.COMPLETED, run.failure_reason
    assert run.totals()["inserted"] == 1200
    # One Auth0 job per part: the killed worker's part was polled again, never sent again.
    assert sandbox_import_jobs(sandbox) == jobs_before + parts


@pytest.mark.django_db
def test_two_active_import_jobs_hold_the_part_back_until_one_ends(
    sandbox: SandboxServer, admin_client_: Client
) -> None:
    # Someone else's two import jobs, held pending: Auth0 answers a third with 429.
    sandbox.set_faults(job_pending_seconds=3600)
    with sandbox.api() as api:
        for n in range(2):
            held = api.post(
                "/api/v2/jobs/users-imports",
                data={"connection_id": sandbox.second_id},  # type: ignore[attr-defined]
                files={"users": ("u.json", json.dumps([{"email": f"held{n}@example.com"}]))},
            )
            assert held.status_code == 202, held.text
    sandbox.set_faults(job_pending_seconds=0)
    run = upload(admin_client_, [{"email": "waits@example.com"}])
    admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    jobs_before = sandbox_import_jobs(sandbox)

    following = importrun.advance(run.pk, 0)
    assert following is not None
    part = run.parts.get()
    assert part.status == PartStatus.WAITING
    assert part.submitted_at is None
    assert "There are 2 active import users jobs" in part.failure_reason
    page = admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
    assert "Part 1 of 1: Sent again later" in page
    assert sandbox_import_jobs(sandbox) == jobs_before

    sandbox.shift_clock(3600)
    run = drive_import(run.pk)
    assert run.status == ImportStatus.COMPLETED, run.failure_reason
    assert run.totals()["inserted"] == 1
    assert sandbox_import_jobs(sandbox) == jobs_before + 1


@pytest.mark.django_db
def test_userdesk_s_zip_of_parts_is_read_without_its_not_importable_files(
    admin_client_: Client,
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as made:
        made.writestr("x-import-0001.json", json.dumps([{"email": "one@example.com"}]))
        made.writestr("x-import-0002.json", json.dumps([{"email": "two@example.com"}]))
        made.writestr(
            "not-importable-0001.json", json.dumps([{"user": {"name": "n"}, "errors": ["x"]}])
        )
    response = admin_client_.post(
        f"{BASE}/new/", {"file": SimpleUploadedFile("x-import.zip", archive.getvalue())}
    )
    assert response.status_code == 302
    run = ImportRun.objects.get()
    assert run.user_count == 2
    assert run.rejects == []


@pytest.mark.django_db
def test_a_file_that_is_not_users_is_refused_at_the_field(admin_client_: Client) -> None:
    for data, message in [
        (b"{not json", "is not valid JSON"),
        (b'{"email": "a@example.com"}', "not an array of users"),
        (b"", "The submitted file is empty."),
    ]:
        response = admin_client_.post(
            f"{BASE}/new/", {"file": SimpleUploadedFile("bad.json", data)}
        )
        assert response.status_code == 200
        assert message in response.content.decode()
    assert not ImportRun.objects.exists()
    assert (
        "Upload a file, or choose an export"
        in admin_client_.post(f"{BASE}/new/", {}).content.decode()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "data", "status"),
    [
        ("get", "/new/", {"export": "²"}, 200),
        ("get", "/new/", {"export": "9" * 4301}, 200),
        ("get", "/", {"page": "²"}, 200),
        ("get", "/", {"page": "9" * 4301}, 200),
        ("post", "/new/", {"export": "²"}, 200),
        ("post", "/new/", {"export": "999"}, 200),
        ("get", "/1/errors/nope/", {}, 404),
        ("post", "/999999/start/", {"connection": "x"}, 404),
    ],
)
def test_hostile_inputs_get_a_message_or_a_404(
    sandbox: SandboxServer,
    admin_client_: Client,
    method: str,
    path: str,
    data: dict[str, str],
    status: int,
) -> None:
    upload(admin_client_, [{"email": "h@example.com"}])
    response = getattr(admin_client_, method)(f"{BASE}{path}", data)
    assert response.status_code == status


@pytest.mark.django_db
def test_a_connection_that_is_not_offered_is_refused_at_its_field(
    sandbox: SandboxServer, admin_client_: Client
) -> None:
    run = upload(admin_client_, [{"email": "h2@example.com"}])
    for connection in ("con_Go0gLe7Aa3Bb5Cc8", "nope\r\n", "con_" + "x" * 5000):
        response = admin_client_.post(
            f"{BASE}/{run.pk}/start/", start_form(sandbox, connection=connection)
        )
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
    assert not run.parts.exists()


@pytest.mark.django_db
def test_only_export_admins_import(client: Client, support_lead: User, use_sandbox: Any) -> None:
    client.force_login(support_lead)
    assert client.get(f"{BASE}/").status_code == 403
    assert client.get(f"{BASE}/new/").status_code == 403


@pytest.mark.django_db
def test_retention_keeps_a_draft_s_file_then_forgets_an_old_import_s_users(
    sandbox: SandboxServer, admin_client_: Client, export_settings: Path
) -> None:
    draft = upload(admin_client_, [{"email": "keep@example.com"}, {"name": "no email"}])
    stored = export_settings / draft.file.name
    # Older than the orphan grace: still the draft's, so kept.
    old = time.time() - 7 * 3600
    os.utime(stored, (old, old))
    assert retention.prune() == []
    assert stored.exists()

    done = upload(admin_client_, [{"email": "gone@example.com"}])
    admin_client_.post(f"{BASE}/{done.pk}/start/", start_form(sandbox))
    done = drive_import(done.pk)
    assert done.status == ImportStatus.COMPLETED
    ImportRun.objects.update(created_at=timezone.now() - timedelta(days=31))
    retention.prune()

    assert not stored.exists()
    for run in ImportRun.objects.all():
        assert run.purged_at is not None
        assert run.rejects == []
        assert not run.file
        assert not run.parts.exclude(users="").exists()
    done.refresh_from_db()
    assert done.parts.get().auth0_job_id.startswith("job_")
    page = admin_client_.get(f"{BASE}/{draft.pk}/").content.decode()
    assert "its file is deleted" in page
    refused = admin_client_.post(f"{BASE}/{draft.pk}/start/", start_form(sandbox), follow=True)
    assert "was deleted by retention" in refused.content.decode()
    assert not draft.parts.exists()


@pytest.mark.django_db
def test_an_export_s_users_go_into_another_connection_of_its_tenant_with_new_ids(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User
) -> None:
    source_name = "Username-Password-Authentication"
    fields = [{"name": "user_id"}, {"name": "email"}, {"name": "app_metadata.roles"}]
    spec = {"format": "csv", "connection_id": "con_Db1Pw2Xk9LmQ4RtZ", "fields": fields}
    export = drive(
        tasks.create_export({**spec, "connection_name": source_name}, requested_by=export_admin).pk
    )
    assert export.status == Status.READY, export.failure_reason
    source = profiles(sandbox, source_name)
    response = admin_client_.post(f"{BASE}/new/", {"export": export.pk})
    assert response.status_code == 302, response.content.decode()[:3000]
    run = ImportRun.objects.latest("pk")
    assert "Give the users new ids" in admin_client_.get(f"{BASE}/{run.pk}/").content.decode()

    # The tenant holds these ids in the source connection: every user would fail in another,
    # so keeping them is a choice made, not a default.
    unchosen = admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox))
    assert unchosen.status_code == 200
    assert "Auth0 refuses every one of them in another connection" in unchosen.content.decode()
    assert not ImportPart.objects.filter(run=run).exists()

    started = admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox, user_ids="new"))
    assert started.status_code == 302
    assert not any("user_id" in user for part in run.parts.all() for user in json.loads(part.users))
    run = drive_import(run.pk)
    assert run.status == ImportStatus.COMPLETED, run.failure_reason
    rows = export.row_count
    assert run.totals() == {"inserted": rows, "updated": 0, "failed": 0, "total": rows}
    imported = profiles(sandbox, SECOND)
    for email, profile in source.items():
        assert imported[email]["user_id"] != profile["user_id"]
        assert imported[email].get("app_metadata", {}).get("roles") == profile.get(
            "app_metadata", {}
        ).get("roles")
    audited = AuditEvent.objects.get(action="imports.start", target=f"import #{run.pk}")
    assert audited.details["new_user_ids"] is True
    assert "new user ids" in admin_client_.get(f"{BASE}/{run.pk}/").content.decode()


@pytest.mark.django_db
def test_a_started_import_s_page_leads_with_its_status(
    sandbox: SandboxServer, admin_client_: Client
) -> None:
    run = upload(admin_client_, [{"email": "first-in-view@example.com"}])
    draft = admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
    assert draft.index('id="file-title"') < draft.index('id="start-title"')
    assert admin_client_.post(f"{BASE}/{run.pk}/start/", start_form(sandbox)).status_code == 302
    page = admin_client_.get(f"{BASE}/{run.pk}/").content.decode()
    assert page.index('id="import-status"') < page.index('id="file-title"')
    assert page.count('id="file-title"') == 1
