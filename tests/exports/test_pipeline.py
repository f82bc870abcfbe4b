"""The export pipeline's functions, driven directly (no Celery) against the sandbox server."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

import management_api
from exports import lease, pipeline, retention, tasks
from exports.models import Export, Status
from tests.fixtures.celery import CSV_SPEC, drive, stored_files
from tests.fixtures.sandbox import SandboxServer


@pytest.fixture
def sandbox(use_sandbox: SandboxServer, export_settings: Path, db: None) -> SandboxServer:
    return use_sandbox


def make_export(user: User | None = None, **changes: Any) -> Export:
    return tasks.create_export({**CSV_SPEC, **changes}, requested_by=user)


def test_csv_export_completes_verified_and_kept(
    sandbox: SandboxServer, export_settings: Path, export_admin: User
) -> None:
    export = drive(make_export(export_admin).pk)

    assert export.status == Status.READY, export.failure_reason
    assert export.auth0_job_id.startswith("job_")
    files = stored_files(export_settings)
    assert [f.name for f in files] == [Path(export.file.name).name]
    data = files[0].read_bytes()
    assert hashlib.sha256(data).hexdigest() == export.sha256
    assert export.compressed_size == len(data)
    text = gzip.decompress(data)
    assert export.uncompressed_size == len(text)
    lines = text.decode().splitlines()
    assert lines[0] == "Id,email,created_at,Connection"
    assert export.row_count == len(lines) - 1 == 300
    assert export.verification
    statuses = list(export.events.values_list("status", flat=True))
    assert statuses[0] == Status.QUEUED
    assert statuses[-1] == Status.READY
    for expected in (Status.SUBMITTED, Status.DOWNLOADING, Status.VERIFYING):
        assert expected in statuses
    assert export.lease_token == ""


def test_ndjson_with_whole_metadata_and_limit(sandbox: SandboxServer) -> None:
    export = drive(
        make_export(
            format="ndjson",
            limit=10,
            fields=[{"name": "email"}, {"name": "user_metadata"}],
        ).pk
    )
    assert export.status == Status.READY, export.failure_reason
    assert export.row_count == 10


def test_auth0_failure_ends_failed_with_its_reason(sandbox: SandboxServer) -> None:
    sandbox.set_faults(job_fail="Export worker crashed (injected)")
    export = drive(make_export().pk)
    assert export.status == Status.FAILED
    assert "Export worker crashed (injected)" in export.failure_reason
    assert not export.file.name


def test_permanent_error_fails_at_once(sandbox: SandboxServer) -> None:
    export = drive(make_export(connection_id="con_DoesNotExist0000").pk)
    assert export.status == Status.FAILED
    assert "connection does not exist" in export.failure_reason
    assert export.auth0_job_id == ""
    assert export.poll_count == 0


class Recording(httpx.BaseTransport):
    """The real network, with every response's status code noted."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.codes: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.codes.append(response.status_code)
        return response


def test_rate_limit_and_server_error_storms_still_complete(
    sandbox: SandboxServer, export_settings: Path
) -> None:
    # The job stays pending a while, so the storm meets many polls, not just two calls.
    sandbox.set_faults(rate_limit_share=0.35, error_share=0.3, job_pending_seconds=2)
    transport = Recording()
    with management_api.use_transport(transport):
        export = drive(make_export(limit=50).pk, timeout=180)
    assert export.status == Status.READY, export.failure_reason
    assert export.row_count == 50
    assert len(stored_files(export_settings)) == 1
    assert {429, 500, 503} & set(transport.codes)


class LapseFirstDownload(httpx.BaseTransport):
    """The real network, except that before the first download the sandbox clock jumps past
    the link's lifetime, as when a worker is slow between polling and downloading."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.inner = httpx.HTTPTransport()
        self.downloads: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        is_download = request.url.path.startswith("/exports/")
        if is_download and not self.downloads:
            self.sandbox.shift_clock(120)
        response = self.inner.handle_request(request)
        if is_download:
            self.downloads.append(response.status_code)
        return response


def test_lapsed_link_is_fetched_again(sandbox: SandboxServer, export_settings: Path) -> None:
    transport = LapseFirstDownload(sandbox)
    with management_api.use_transport(transport):
        export = drive(make_export(limit=20).pk)
    assert export.status == Status.READY, export.failure_reason
    assert transport.downloads[0] == 403
    assert transport.downloads[-1] == 200
    messages = " ".join(export.events.values_list("message", flat=True))
    assert "lapsed" in messages


def test_a_lapsed_link_from_the_sandbox_is_fetched_again(
    sandbox: SandboxServer, export_settings: Path
) -> None:
    sandbox.set_faults(link_lapses=1)
    export = drive(make_export(limit=20).pk)
    assert export.status == Status.READY, export.failure_reason
    assert export.download_attempts == 2
    messages = " ".join(export.events.values_list("message", flat=True))
    assert "The download link has lapsed" in messages


def test_cut_short_download_is_never_offered_then_fetched_again(
    sandbox: SandboxServer, export_settings: Path, admin_client_: Any
) -> None:
    sandbox.set_faults(download_cut_bytes=200)
    export = make_export(limit=100)
    step = export.step
    deadline = time.monotonic() + 60
    while True:
        following = pipeline.advance(export.pk, step)
        export.refresh_from_db()
        if export.download_attempts:
            break
        assert following is not None
        assert time.monotonic() < deadline
        step = following.step
        time.sleep(min(following.delay, 0.2))
    # Every attempt in that step was cut short: nothing kept, nothing offered.
    assert following is not None
    assert export.status == Status.DOWNLOADING
    assert export.download_attempts >= 1
    assert not export.file.name
    assert stored_files(export_settings) == []
    assert admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").status_code == 200
    assert (
        b"/download/" not in admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content
    )

    sandbox.reset_faults()
    export = drive(export.pk)
    assert export.status == Status.READY, export.failure_reason
    assert export.row_count == 100
    assert len(stored_files(export_settings)) == 1


def test_a_download_that_keeps_breaking_says_what_happened_in_words_with_advice(
    sandbox: SandboxServer, export_settings: Path, settings: Any
) -> None:
    """A broken download fails with advice, not only "RemoteProtocolError"."""
    settings.EXPORT_DOWNLOAD_ATTEMPTS = 1
    sandbox.set_faults(download_cut_bytes=200)
    export = drive(make_export(limit=100).pk)
    assert export.status == Status.FAILED
    reason = export.failure_reason
    assert "RemoteProtocolError" not in reason
    assert "closed the connection before the whole file arrived" in reason
    assert "Run the export again" in reason
    assert "proxy" in reason
    notes = " ".join(export.events.values_list("message", flat=True))
    assert "RemoteProtocolError" not in notes


def test_an_exact_export_auth0_refused_does_not_say_its_job_is_done(
    sandbox: SandboxServer, export_settings: Path, admin_client_: Any
) -> None:
    """A job Auth0 refused is not called done."""
    sandbox.set_faults(job_fail="the connection is being migrated")
    export = drive(make_export(match_query="email_verified:true").pk)
    assert export.status == Status.FAILED
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    stage = page[page.index("Auth0's export job:") :]
    stage = stage[: stage.index("</li>")]
    assert "done" not in stage
    assert "failed" in stage

    sandbox.reset_faults()
    ready = drive(make_export(match_query="email_verified:true").pk)
    assert ready.status == Status.READY, ready.failure_reason
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{ready.pk}/").content.decode()
    assert "Auth0's export job: done</li>" in page


def test_unknown_status_runs_until_the_job_is_24_hours_old(sandbox: SandboxServer) -> None:
    sandbox.set_faults(job_pending_seconds=3600)
    export = make_export()
    following = pipeline.advance(export.pk, export.step)
    assert following is not None
    export.refresh_from_db()
    assert export.status == Status.SUBMITTED
    Export.objects.filter(pk=export.pk).update(
        auth0_job_created_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    assert pipeline.advance(export.pk, following.step) is None
    export.refresh_from_db()
    assert export.status == Status.FAILED
    assert "24 hours" in export.failure_reason


def test_duplicate_and_stale_deliveries_do_nothing(sandbox: SandboxServer) -> None:
    export = make_export(limit=5)
    first = lease.claim(export.pk, export.step)
    assert isinstance(first, pipeline.Claim)
    # The same message delivered again while the first holds the lease: wait, don't work.
    second = lease.claim(export.pk, export.step)
    assert isinstance(second, float)
    assert second > 0
    next_step = pipeline.release(first, next_step=True)
    # A late copy of the old step is stale once the step moved on.
    assert lease.claim(export.pk, export.step) is None
    assert pipeline.advance(export.pk, export.step) is None
    # A writer that lost its lease can no longer change the row.
    with pytest.raises(pipeline.LeaseLost):
        pipeline.transition(first, Status.FAILED, "late writer")
    export = drive(export.pk)
    assert export.status == Status.READY
    assert export.step >= next_step
    assert Export.objects.filter(status=Status.FAILED).count() == 0


def test_poll_delay_follows_time_left_within_bounds(settings: Any) -> None:
    settings.EXPORT_POLL_MIN_SECONDS = 1.0
    settings.EXPORT_POLL_MAX_SECONDS = 30.0
    assert pipeline.poll_delay(None, 0) == 1.0
    assert pipeline.poll_delay(None, 3) == 8.0
    assert pipeline.poll_delay(None, 20) == 30.0
    assert pipeline.poll_delay(20, 5) == 10.0
    assert pipeline.poll_delay(0, 5) == 1.0
    assert pipeline.poll_delay(10_000, 0) == 30.0


@pytest.fixture
def ready_export(sandbox: SandboxServer, export_admin: User) -> Export:
    export = drive(make_export(export_admin, limit=5).pk)
    assert export.status == Status.READY
    return export


def test_retention_purges_old_files_and_keeps_a_tombstone(
    ready_export: Export, export_settings: Path, settings: Any
) -> None:
    settings.EXPORT_RETENTION_DAYS = 30
    assert retention.prune() == []
    Export.objects.filter(pk=ready_export.pk).update(ready_at=timezone.now() - timedelta(days=31))
    call_command("prune_exports", stdout=open("/dev/null", "w"))  # noqa: SIM115
    export = Export.objects.get(pk=ready_export.pk)
    assert export.status == Status.PURGED
    assert export.purged_at is not None
    assert export.file.name == ""
    assert export.sha256 == ready_export.sha256
    assert stored_files(export_settings) == []
    assert export.events.last().status == Status.PURGED  # type: ignore[union-attr]


def test_prune_exports_days_0_says_the_days_it_used(
    ready_export: Export, export_settings: Path, settings: Any, caplog: Any
) -> None:
    """`--days 0` logs the days it was given (it logged "older than 30 days")."""
    settings.EXPORT_RETENTION_DAYS = 30
    out = io.StringIO()
    with caplog.at_level("INFO", logger="exports.retention"):
        call_command("prune_exports", "--days", "0", stdout=out)
    assert out.getvalue().strip() == "Purged 1 export file(s) older than 0 days."
    assert f"Purged export {ready_export.pk} (older than 0 days)" in caplog.text
    assert "30 days" not in caplog.text
    export = Export.objects.get(pk=ready_export.pk)
    assert export.events.last().message == "File deleted (older than 0 days)"  # type: ignore[union-attr]


def test_retention_removes_orphan_files_but_not_kept_ones(
    ready_export: Export, export_settings: Path
) -> None:
    stray = export_settings / str(ready_export.pk) / "export-stray.csv.gz"
    stray.write_bytes(b"left behind by a worker that died before publishing")
    young = export_settings / "999" / "export-young.csv.gz"
    young.parent.mkdir()
    young.write_bytes(b"may still be on its way")
    old = time.time() - 7 * 3600
    os.utime(stray, (old, old))

    assert retention.prune_orphans() == [f"{ready_export.pk}/export-stray.csv.gz"]
    assert not stray.exists()
    assert young.exists()
    assert (export_settings / ready_export.file.name).exists()
