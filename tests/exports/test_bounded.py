"""Every export failure ends, with a plain reason, and nothing is offered that is not
there. Through the pipeline functions (against the sandbox server, or Auth0 faked at the
lowest seam where the sandbox cannot produce the case) and through the test client."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from exports import lease, pipeline, retention, tasks
from exports.models import Export, Status
from management_api import use_transport
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, drive, stored_files
from tests.fixtures.processes import embedded_env, manage
from tests.fixtures.sandbox import SandboxServer


@pytest.fixture
def sandbox(use_sandbox: SandboxServer, export_settings: Path, db: None) -> SandboxServer:
    return use_sandbox


def ready(user: User | None, **spec: Any) -> Export:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 60, **spec}, requested_by=user).pk)
    assert export.status == Status.READY, export.failure_reason
    return export


# --- Auth0 faked at the lowest seam ----------------------------------------------------------


@pytest.fixture
def fake_auth0(export_settings: Path, db: None) -> Iterator[Callable[..., Counter[str]]]:
    """Route the Management API through httpx.MockTransport: a token, then `jobs(request)`
    answers every /api/v2/jobs request. Returns the count of requests per method and path."""
    stack: list[Any] = []

    def install(jobs: Callable[[httpx.Request], httpx.Response]) -> Counter[str]:
        seen: Counter[str] = Counter()

        def handler(request: httpx.Request) -> httpx.Response:
            seen[f"{request.method} {request.url.path}"] += 1
            if request.url.path == "/oauth/token":
                return httpx.Response(
                    200, json={"access_token": "t", "expires_in": 86400, "token_type": "Bearer"}
                )
            return jobs(request)

        stack.append(use_transport(httpx.MockTransport(handler)))
        stack[-1].__enter__()
        return seen

    yield install
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def pending_job(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"id": "job_fake1", "status": "pending", "type": "users_export"}
    )


def test_an_unanswered_job_request_is_never_sent_twice_and_says_auth0_may_hold_it(
    fake_auth0: Callable[..., Counter[str]], export_admin: User
) -> None:
    def jobs(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            # The request left; its answer never came. Auth0 may well have created the job.
            raise httpx.ReadTimeout("no answer", request=request)
        return pending_job(request)

    seen = fake_auth0(jobs)
    export = drive(tasks.create_export(CSV_SPEC, requested_by=export_admin).pk, timeout=15)

    assert export.status == Status.FAILED
    assert "Auth0 may hold an export job" in export.failure_reason
    assert "never start a second job" in export.failure_reason
    assert export.auth0_submitted_at is not None
    assert seen["POST /api/v2/jobs/users-exports"] == 1
    # A late redelivery of the first step does not ask again either.
    Export.objects.filter(pk=export.pk).update(status=Status.QUEUED, step=0)
    assert pipeline.advance(export.pk, 0) is None
    assert seen["POST /api/v2/jobs/users-exports"] == 1


def answering_then_failing(
    answers: Iterator[httpx.Response],
) -> Callable[[httpx.Request], httpx.Response]:
    """Auth0's jobs endpoint: each job request gets the next of `answers`, then a pending job
    (job_fake1); a read of the job says it failed ("x")."""

    def jobs(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return next(answers, None) or pending_job(request)
        return httpx.Response(
            200, json={"id": "job_fake1", "status": "failed", "status_details": "x"}
        )

    return jobs


def test_a_refused_job_request_may_be_asked_again_later(
    fake_auth0: Callable[..., Counter[str]], export_admin: User
) -> None:
    answers = iter(
        [httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "0"})] * 5
    )
    seen = fake_auth0(answering_then_failing(answers))
    export = drive(tasks.create_export(CSV_SPEC, requested_by=export_admin).pk, timeout=30)

    # A 429 was never processed, so asking again is safe; then the job is followed to its end.
    assert seen["POST /api/v2/jobs/users-exports"] > 1
    assert export.auth0_job_id == "job_fake1"
    assert export.failure_reason == "Auth0 reported the job as failed: x"


def test_a_job_request_answered_with_a_server_error_is_asked_again_and_noted(
    fake_auth0: Callable[..., Counter[str]], export_admin: User
) -> None:
    answers = iter([httpx.Response(500, json={"message": "Internal Server Error"})])
    seen = fake_auth0(answering_then_failing(answers))
    export = drive(tasks.create_export(CSV_SPEC, requested_by=export_admin).pk, timeout=30)

    # Auth0 answered, so the request was not lost: asked again, and the timeline says why.
    assert seen["POST /api/v2/jobs/users-exports"] == 2
    assert export.auth0_job_id == "job_fake1"
    assert any(
        "answered the job request with HTTP 500" in event.message for event in export.events.all()
    )


def test_the_soft_time_limit_ends_the_export_as_failed_saying_so(
    fake_auth0: Callable[..., Counter[str]], export_admin: User
) -> None:
    def jobs(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return pending_job(request)
        # Celery raises this wherever the task happens to be when its soft limit passes.
        raise SoftTimeLimitExceeded()

    fake_auth0(jobs)
    export = drive(tasks.create_export(CSV_SPEC, requested_by=export_admin).pk, timeout=15)

    assert export.status == Status.FAILED
    assert "soft time limit" in export.failure_reason
    assert export.lease_token == ""


# --- Against the sandbox ----------------------------------------------------------------------


def test_a_derivative_whose_parent_is_deleted_while_queued_fails_saying_so(
    sandbox: SandboxServer, export_admin: User
) -> None:
    parent = ready(export_admin)
    first = parent.open_file().read()
    assert first
    child = tasks.create_export(
        parent.spec,
        requested_by=export_admin,
        parent=parent,
        filter_conditions=[{"column": "Id", "operator": "equals", "value": "no-such-user"}],
    )
    retention.delete(parent)

    child = drive(child.pk)

    # Before: the child ran a full Auth0 export of every user and ended ready with all rows.
    assert child.status == Status.FAILED
    assert "filtered from has been deleted" in child.failure_reason
    assert child.auth0_job_id == ""
    assert child.row_count is None


def test_a_step_that_raises_unexpectedly_fails_once_with_a_logged_reference(
    sandbox: SandboxServer, export_admin: User, caplog: pytest.LogCaptureFixture
) -> None:
    parent = ready(export_admin)
    # A kept file damaged in storage: the derivative's step fails every time it runs.
    Path(parent.file.path).write_bytes(b"\x1f\x8b not really gzip")
    child = tasks.create_export(
        parent.spec,
        requested_by=export_admin,
        parent=parent,
        filter_conditions=[{"column": "email", "operator": "contains", "value": "@"}],
    )

    with caplog.at_level(logging.ERROR, logger="exports"):
        child = drive(child.pk)

    assert child.status == Status.FAILED
    found = re.search(r"reference ([0-9a-f]{10})", child.failure_reason)
    assert found, child.failure_reason
    assert "unexpected error" in child.failure_reason
    assert any(found.group(1) in record.getMessage() for record in caplog.records)
    assert child.lease_token == ""


def test_a_step_whose_deliveries_keep_getting_lost_fails_after_its_attempt_budget(
    sandbox: SandboxServer, export_admin: User, settings: Any
) -> None:
    settings.EXPORT_STEP_ATTEMPTS = 3
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    for _ in range(3):
        # A worker claims the step and is killed: its lease lapses and the sweep sends it again.
        assert isinstance(lease.claim(export.pk, export.step), lease.Claim)
        Export.objects.filter(pk=export.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1),
            heartbeat_at=timezone.now() - timedelta(hours=1),
        )
        assert tasks.sweep_exports() == 1

    assert pipeline.advance(export.pk, export.step) is None

    export.refresh_from_db()
    assert export.status == Status.FAILED
    assert "Gave up after 3 attempts" in export.failure_reason
    assert export.auth0_job_id == ""
    assert tasks.sweep_exports() == 0


def test_stored_files_and_folders_are_private(
    sandbox: SandboxServer, export_settings: Path
) -> None:
    ready(None)
    (kept,) = stored_files(export_settings)
    assert kept.stat().st_mode & 0o777 == 0o600
    assert kept.parent.stat().st_mode & 0o777 == 0o700


def test_the_sqlite_databases_and_the_embedded_broker_are_private(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    result = manage(env, "migrate", "--noinput", timeout=300)
    assert result.returncode == 0, result.stderr
    # The sandbox's database is made by its own commands, under its own settings.
    sandbox = manage(env, "sandbox_faults", timeout=300)
    assert sandbox.returncode == 0, sandbox.stderr
    var = tmp_path / "var"
    assert var.stat().st_mode & 0o777 == 0o700
    databases = sorted(var.glob("*.sqlite3*"))
    assert {path.name for path in databases} >= {"userdesk.sqlite3", "sandbox.sqlite3"}
    assert {path.name: path.stat().st_mode & 0o777 for path in databases} == {
        path.name: 0o600 for path in databases
    }
    broker = [var / "celery-broker", var / "celery-broker" / "processed"]
    assert {str(path): path.stat().st_mode & 0o777 for path in broker} == {
        str(path): 0o700 for path in broker
    }


# --- Pages and downloads ----------------------------------------------------------------------


def test_a_ready_export_whose_file_is_gone_says_so_and_every_download_is_a_404(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User
) -> None:
    export = ready(export_admin)
    Path(export.file.path).unlink()  # lost disk, S3 lifecycle, a race with pruning

    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f"The file of export #{export.pk} is no longer in storage" in body
    assert f"/t/userdesk-sandbox/exports/{export.pk}/download/" not in body
    for variant in ("original", "uncompressed", "json", "import"):
        response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/{variant}/")
        assert response.status_code == 404, variant
        assert not response.streaming
    outcomes = list(
        AuditEvent.objects.filter(action="exports.download").values_list(
            "details__outcome", flat=True
        )
    )
    assert outcomes == ["missing"] * 4
    assert (
        admin_client_.post(f"/t/userdesk-sandbox/exports/{export.pk}/derive/", {}).status_code
        == 404
    )
    # The history says so too, with no Ready and no Download.
    history = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    row = history[history.index(f'id="export-row-{export.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "File gone" in row
    assert "no longer in storage" in row
    assert 'data-status="ready"' not in row
    assert "/download/" not in row


def test_downloads_are_audited_with_their_outcome(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User, exporter: User
) -> None:
    export = ready(export_admin)
    assert (
        admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/").status_code
        == 200
    )
    other = Client()
    other.force_login(exporter)
    assert (
        other.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/").status_code == 404
    )
    assert (
        admin_client_.get(
            f"/t/userdesk-sandbox/exports/{export.pk + 1000}/download/json/"
        ).status_code
        == 404
    )

    events = AuditEvent.objects.filter(action="exports.download").order_by("at", "id")
    assert [(e.actor, e.details["outcome"]) for e in events] == [
        (export_admin, "served"),
        (exporter, "refused"),
        (export_admin, "missing"),
    ]


def test_an_exports_page_lists_only_the_derivatives_its_viewer_may_see(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User, exporter: User
) -> None:
    parent = ready(exporter)
    theirs = tasks.create_export(
        parent.spec,
        requested_by=export_admin,
        parent=parent,
        filter_conditions=[{"column": "email", "operator": "contains", "value": "@"}],
    )
    mine = tasks.create_export(
        parent.spec,
        requested_by=exporter,
        parent=parent,
        filter_conditions=[{"column": "email", "operator": "contains", "value": "a"}],
    )
    viewer = Client()
    viewer.force_login(exporter)

    body = viewer.get(f"/t/userdesk-sandbox/exports/{parent.pk}/").content.decode()
    assert f"/t/userdesk-sandbox/exports/{mine.pk}/" in body
    assert f"/t/userdesk-sandbox/exports/{theirs.pk}/" not in body
    admin_body = admin_client_.get(f"/t/userdesk-sandbox/exports/{parent.pk}/").content.decode()
    assert f"/t/userdesk-sandbox/exports/{theirs.pk}/" in admin_body


@pytest.mark.parametrize("title", ["=HYPERLINK(1)", "+1", "-1+2", "@SUM(A1)", "\t=1"])
def test_a_column_title_that_a_spreadsheet_would_run_is_refused_at_the_field(
    use_sandbox: SandboxServer, admin_client_: Client, title: str
) -> None:
    data = {
        "format": "csv",
        "limit": "",
        "connection": "",
        "r-TOTAL_FORMS": "1",
        "r-INITIAL_FORMS": "0",
        "r-0-kind": "free",
        "r-0-name": "email",
        "r-0-on": "on",
        "r-0-export_as": title,
        "r-0-order": "1",
    }
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    assert "a spreadsheet would run the column title as a formula" in response.content.decode()
    assert not Export.objects.exists()


def test_pages_with_user_data_are_never_stored_nor_kept_by_htmx(
    sandbox: SandboxServer, admin_client_: Client, export_admin: User
) -> None:
    export = ready(export_admin)
    for url in (
        "/t/userdesk-sandbox/exports/",
        f"/t/userdesk-sandbox/exports/{export.pk}/",
        "/t/userdesk-sandbox/exports/new/",
        "/t/userdesk-sandbox/users/",
        "/t/userdesk-sandbox/audit/",
    ):
        response = admin_client_.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
        body = response.content.decode()
        assert '"historyCacheSize": 0' in body, url
        assert 'hx-history="false"' in body, url
    assert (
        "no-store"
        in admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/")[
            "Cache-Control"
        ]
    )
