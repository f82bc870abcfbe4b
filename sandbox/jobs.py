"""Export jobs: creation, the background runner inside the sandbox process, expiry.

Jobs are rows (`ExportJob`); the runner claims a pending one with a conditional UPDATE, so a
restarted sandbox simply picks up what was queued (and re-runs what was interrupted).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import shutil
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction

from sandbox import faults, importing, tenant_logs
from sandbox.exporting import write_export
from sandbox.job_models import ExportJob, job_dir
from sandbox.models import TenantUser
from sandbox.routers import SANDBOX_DB

log = logging.getLogger(__name__)
ALPHANUMERIC = string.ascii_letters + string.digits
PROGRESS_EVERY_SECONDS = 0.5


def new_job_id() -> str:
    return "job_" + "".join(secrets.choice(ALPHANUMERIC) for _ in range(16))


def file_name(fmt: str) -> str:
    return f"{settings.SANDBOX_TENANT}.{fmt}.gz"


def _schedule(switches: dict[str, Any]) -> dict[str, Any]:
    """A new job's creation time, when it may run and its forced failure (the switches)."""
    now = faults.now()
    return {
        "created_at": now,
        "run_after": now + dt.timedelta(seconds=int(switches["job_pending_seconds"])),
        "forced_failure": str(switches["job_fail"] or ""),
    }


def create(
    *,
    fmt: str,
    fields: list[dict[str, str]] | None,
    limit: int | None,
    connection_id: str,
    connection_name: str,
    switches: dict[str, Any],
) -> ExportJob:
    job = ExportJob.objects.create(
        id=new_job_id(),
        format=fmt,
        fields=fields,
        limit=limit,
        connection_id=connection_id,
        connection_name=connection_name,
        **_schedule(switches),
    )
    runner.wake()
    return job


def create_verification(user_id: str, failure: str, switches: dict[str, Any]) -> ExportJob:
    """A `verification_email` job: the runner completes it (no mail is sent) or fails it with
    `failure` when that is set."""
    now = faults.now()
    job = ExportJob.objects.create(
        id=new_job_id(),
        type=ExportJob.VERIFICATION_EMAIL,
        user_id=user_id,
        format="",
        created_at=now,
        run_after=now + dt.timedelta(seconds=int(switches["job_pending_seconds"])),
        forced_failure=failure,
    )
    # Inside the caller's transaction the runner must not start before it commits.
    transaction.on_commit(runner.wake, using=SANDBOX_DB)
    return job


def create_import(
    *,
    users: bytes,
    connection_id: str,
    connection_name: str,
    upsert: bool,
    external_id: str,
    send_completion_email: bool,
    switches: dict[str, Any],
) -> ExportJob:
    """A `users_import` job with its file kept beside it; the runner imports it
    (sandbox.importing)."""
    job_id = new_job_id()
    path = importing.users_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(users)
    job = ExportJob.objects.create(
        id=job_id,
        type=ExportJob.USERS_IMPORT,
        format="json",
        connection_id=connection_id,
        connection_name=connection_name,
        upsert=upsert,
        external_id=external_id,
        send_completion_email=send_completion_email,
        **_schedule(switches),
    )
    runner.wake()
    return job


def is_expired(job: ExportJob, now: dt.datetime | None = None) -> bool:
    age = (now or faults.now()) - job.created_at
    return age >= dt.timedelta(seconds=settings.SANDBOX_JOB_RETENTION_SECONDS)


def delete(job: ExportJob) -> None:
    shutil.rmtree(job_dir(job.id), ignore_errors=True)
    job.delete()


def purge_expired() -> int:
    """Delete every job (and its file) older than the retention period; the count deleted."""
    cutoff = faults.now() - dt.timedelta(seconds=settings.SANDBOX_JOB_RETENTION_SECONDS)
    expired = list(ExportJob.objects.filter(created_at__lte=cutoff))
    for job in expired:
        delete(job)
    return len(expired)


def _estimate_total(job: ExportJob) -> int:
    with connections[SANDBOX_DB].cursor() as cursor:
        if job.connection_name:
            cursor.execute(
                "SELECT count(*) FROM sandbox_tenantuser WHERE s_connection = %s OR id IN "
                "(SELECT user_id FROM sandbox_searchterm WHERE path = 'identities.connection' "
                "AND value = %s)",
                [job.connection_name, job.connection_name],
            )
        else:
            cursor.execute("SELECT count(*) FROM sandbox_tenantuser")
        total = int(cursor.fetchone()[0])
    return min(total, job.limit) if job.limit else total


def _verification_failed(job: ExportJob) -> None:
    user = TenantUser.objects.using(SANDBOX_DB).filter(user_id=job.user_id).first()
    if user is not None:
        tenant_logs.append(
            "fv",
            user=json.loads(user.profile),
            details={"job_id": job.id, "error": job.forced_failure},
        )


class _Stopping(Exception):
    pass


def run(job_id: str, stopping: threading.Event | None = None) -> None:
    """Run one claimed job to completion or failure (all its status changes happen here)."""
    job = ExportJob.objects.get(id=job_id)
    if job.forced_failure:
        ExportJob.objects.filter(id=job_id).update(
            status=ExportJob.FAILED, status_details=job.forced_failure, finished_at=faults.now()
        )
        if job.type == ExportJob.VERIFICATION_EMAIL:
            _verification_failed(job)
        return
    if job.type == ExportJob.VERIFICATION_EMAIL:
        ExportJob.objects.filter(id=job_id).update(
            status=ExportJob.COMPLETED, finished_at=faults.now()
        )
        return
    if job.type == ExportJob.USERS_IMPORT:
        importing.run(job)
        return
    total = _estimate_total(job)
    ExportJob.objects.filter(id=job_id).update(rows_total=total, rows_done=0)
    last_report = time.monotonic()

    def progress(rows: int) -> None:
        nonlocal last_report
        if stopping is not None and stopping.is_set():
            raise _Stopping
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            ExportJob.objects.filter(id=job_id).update(rows_done=rows)

    name = file_name(job.format)
    try:
        rows = write_export(
            job_dir(job_id) / name,
            fmt=job.format,
            fields=job.fields,
            limit=job.limit,
            connection_name=job.connection_name or None,
            progress=progress,
            rows_per_second=float(faults.current()["job_rows_per_second"]),
        )
    except _Stopping:
        # Left "processing": the next start re-queues it.
        return
    except Exception as exc:
        log.exception("Export job %s failed", job_id)
        ExportJob.objects.filter(id=job_id).update(
            status=ExportJob.FAILED,
            status_details=f"The export failed: {exc}",
            finished_at=faults.now(),
        )
        return
    ExportJob.objects.filter(id=job_id).update(
        status=ExportJob.COMPLETED,
        rows_done=rows,
        rows_total=rows,
        file_name=name,
        finished_at=faults.now(),
    )


class JobRunner:
    """A dispatcher thread that claims due jobs and runs them on a small thread pool."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._busy = 0
        self._lock = threading.Lock()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        # Whatever was processing when the last run stopped starts again from the top.
        ExportJob.objects.filter(status=ExportJob.PROCESSING).update(
            status=ExportJob.PENDING, rows_done=0
        )
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(
            settings.SANDBOX_EXPORT_WORKERS, thread_name_prefix="sandbox-export"
        )
        self._thread = threading.Thread(target=self._loop, name="sandbox-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                purge_expired()
                self._dispatch()
            except Exception:
                log.exception("Sandbox job dispatcher failed; retrying")
            finally:
                close_old_connections()
            # Woken at once by a new job; the timeout notices jobs whose pending time is up.
            self._wake.wait(timeout=0.25)
            self._wake.clear()
        connections.close_all()

    def _dispatch(self) -> None:
        assert self._pool is not None
        due = ExportJob.objects.filter(
            status=ExportJob.PENDING, run_after__lte=faults.now()
        ).order_by("created_at")
        for job_id in due.values_list("id", flat=True):
            with self._lock:
                if self._busy >= settings.SANDBOX_EXPORT_WORKERS:
                    return
            claimed = ExportJob.objects.filter(id=job_id, status=ExportJob.PENDING).update(
                status=ExportJob.PROCESSING, started_at=faults.now()
            )
            if claimed:
                with self._lock:
                    self._busy += 1
                self._pool.submit(self._work, job_id)

    def _work(self, job_id: str) -> None:
        try:
            run(job_id, self._stopping)
        except Exception:
            log.exception("Export job %s crashed", job_id)
        finally:
            connections.close_all()
            with self._lock:
                self._busy -= 1
            self._wake.set()


runner = JobRunner()
