"""The export pipeline: every status change of an Export happens here.

Plain functions, testable without Celery; exports.tasks only calls `advance` and
reschedules. Work on a row is claimed with a conditional UPDATE:

- `step` numbers the pipeline's steps. A task carries the step it was sent for; a
  delivery whose step is not the row's current one is a stale duplicate and does nothing.
- The lease (`lease_token`, `lease_expires_at`) says which worker holds the row right now.
  Every write a worker makes is conditional on its token, so a worker whose lease lapsed
  (it hung, or it was killed and its message redelivered) can no longer change the row.
- `heartbeat_at` moves whenever a worker makes progress; `sweep` re-enqueues exports that
  nobody has touched for a while (the broker was down at submit, a worker was killed).

One `advance` call does one step: submit the Auth0 job, or poll it once, or download,
verify and publish the file. It returns when to come back (`Next`), or None when the
export has settled or another delivery owns it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

import management_api
from management_api.errors import PermanentError, TransientError

from . import derive, ingest
from .models import ACTIVE_STATUSES, Export, ExportEvent, Status

logger = logging.getLogger(__name__)

AUTH0_JOB_LIFETIME = timedelta(hours=24)
COPY_CHUNK = 1024 * 1024
# Seconds between two lease renewals while a long download runs.
HEARTBEAT_EVERY_SECONDS = 5.0


@dataclass(frozen=True)
class Next:
    """Come back for `step` after `delay` seconds."""

    step: int
    delay: float


class LeaseLost(Exception):
    """Another delivery took this export over; stop without touching it."""


def export_storage() -> Storage:
    return storages["exports"]


@contextmanager
def local_path(export: Export) -> Iterator[Path]:
    """A local path to an export's kept .gz: the file itself on disk storage, else a
    temporary copy (S3) streamed down in chunks and removed afterwards."""
    storage = export_storage()
    try:
        on_disk = Path(storage.path(export.file_name))
    except NotImplementedError:
        pass
    else:
        yield on_disk
        return
    handle, name = tempfile.mkstemp(prefix=f"userdesk-export-{export.pk}-", suffix=".gz")
    try:
        with os.fdopen(handle, "wb") as target, storage.open(export.file_name, "rb") as source:
            shutil.copyfileobj(source, target, COPY_CHUNK)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


# --- Creating and enqueueing ----------------------------------------------------------


def create_export(
    spec: dict[str, Any],
    *,
    requested_by: AbstractBaseUser | None,
    parent: Export | None = None,
    filter_conditions: list[dict[str, Any]] | None = None,
) -> Export:
    """Save a queued export and enqueue it once the transaction commits.

    If the broker is down, the row stays queued and `sweep` enqueues it later.
    """
    with transaction.atomic():
        export = Export.objects.create(
            requested_by_id=requested_by.pk if requested_by else None,
            requested_by_label=requested_by.get_username() if requested_by else "",
            connection_id=spec.get("connection_id") or "",
            connection_name=spec.get("connection_name") or "",
            format=spec["format"],
            limit=spec.get("limit") or None,
            fields=spec["fields"],
            source_query=spec.get("source_query") or "",
            parent=parent,
            filter_conditions=filter_conditions or [],
            heartbeat_at=timezone.now(),
        )
        message = f"Filtered from export #{parent.pk}" if parent else "Saved"
        ExportEvent.objects.create(export=export, status=Status.QUEUED, message=message)
        transaction.on_commit(lambda: enqueue(export.pk))
    return export


def enqueue(export_id: int, step: int | None = None, countdown: float | None = None) -> bool:
    """Send the export's next step to the workers. False when the broker is unreachable."""
    from .tasks import run_export

    if step is None:
        current = Export.objects.filter(pk=export_id).values_list("step", flat=True).first()
        if current is None:
            return False
        step = current
    try:
        run_export.apply_async((export_id, step), countdown=countdown or 0)
    except (BrokerError, OSError) as exc:
        logger.warning("Export %s stays queued, the broker is unreachable: %s", export_id, exc)
        return False
    return True


# --- Claiming -------------------------------------------------------------------------


@dataclass
class Claim:
    export: Export
    token: str
    last_beat: float = 0.0

    def beat(self, force: bool = False) -> None:
        """Renew the lease; raise LeaseLost when another delivery has taken the export."""
        now_mono = time.monotonic()
        every = min(HEARTBEAT_EVERY_SECONDS, settings.EXPORT_LEASE_SECONDS / 3)
        if not force and now_mono - self.last_beat < every:
            return
        now = timezone.now()
        updated = Export.objects.filter(pk=self.export.pk, lease_token=self.token).update(
            lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
            heartbeat_at=now,
        )
        if not updated:
            raise LeaseLost(f"export {self.export.pk} was taken over")
        self.last_beat = now_mono


def claim(export_id: int, step: int) -> Claim | float | None:
    """Take the lease for `step`. Returns the Claim, seconds to wait while another
    delivery holds the lease, or None when this delivery is stale or the export settled."""
    now = timezone.now()
    token = uuid.uuid4().hex
    updated = (
        Export.objects.filter(pk=export_id, step=step, status__in=ACTIVE_STATUSES)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
            heartbeat_at=now,
        )
    )
    if updated:
        return Claim(Export.objects.get(pk=export_id), token, time.monotonic())
    row = (
        Export.objects.filter(pk=export_id, step=step, status__in=ACTIVE_STATUSES)
        .values_list("lease_expires_at", flat=True)
        .first()
    )
    if row is None:
        return None
    return max((row - now).total_seconds(), 0.0) + 1.0


def release(c: Claim, *, next_step: bool) -> int:
    """Give the lease back; with next_step, the next delivery must carry step + 1."""
    fields: dict[str, Any] = {
        "lease_token": "",
        "lease_expires_at": None,
        "heartbeat_at": timezone.now(),
    }
    if next_step:
        fields["step"] = F("step") + 1
    updated = Export.objects.filter(pk=c.export.pk, lease_token=c.token).update(**fields)
    if not updated:
        raise LeaseLost(f"export {c.export.pk} was taken over")
    return Export.objects.values_list("step", flat=True).get(pk=c.export.pk)


def transition(c: Claim, status: Status, message: str = "", **fields: Any) -> None:
    """Change status (and other columns) while holding the lease; log it in the timeline."""
    now = timezone.now()
    with transaction.atomic():
        updated = Export.objects.filter(pk=c.export.pk, lease_token=c.token).update(
            status=status, heartbeat_at=now, updated_at=now, **fields
        )
        if not updated:
            raise LeaseLost(f"export {c.export.pk} was taken over")
        if status != c.export.status or message:
            ExportEvent.objects.create(export=c.export, status=status, message=message)
    c.export.status = status
    for name, value in fields.items():
        setattr(c.export, name, value)
    c.last_beat = time.monotonic()


def note(export: Export, message: str) -> None:
    """A timeline entry that does not change the status."""
    ExportEvent.objects.create(export=export, status=export.status, message=message)


def fail(c: Claim, reason: str) -> None:
    transition(
        c,
        Status.FAILED,
        reason,
        failure_reason=reason,
        lease_token="",
        lease_expires_at=None,
        time_left_seconds=None,
    )


# --- The step ---------------------------------------------------------------------------


def advance(export_id: int, step: int) -> Next | None:
    """Do one step of the export. See the module docstring."""
    claimed = claim(export_id, step)
    if claimed is None:
        return None
    if isinstance(claimed, float):
        return Next(step=step, delay=claimed)
    c = claimed
    try:
        if c.export.parent_id:
            _derive(c)
            return None
        return _advance_auth0(c)
    except LeaseLost:
        logger.info("Export %s: another delivery took over step %s", export_id, step)
        return None
    except BaseException:
        # Time limit, a database error, a bug: hand the step back so a redelivery or the
        # sweep can take it at once instead of waiting for the lease to lapse.
        try:
            Export.objects.filter(pk=export_id, lease_token=c.token).update(
                lease_token="", lease_expires_at=None
            )
        except DatabaseError:
            logger.warning("Export %s: could not hand back the lease; it lapses", export_id)
        raise


def _advance_auth0(c: Claim) -> Next | None:
    export = c.export
    try:
        if not export.auth0_job_id:
            _submit(c)
        job = management_api.get_job(export.auth0_job_id)
    except TransientError as exc:
        return _later(c, exc.retry_after_seconds, f"Auth0 is busy ({exc}); trying again")
    except PermanentError as exc:
        fail(c, f"Auth0 refused the export: {exc}")
        return None
    if job is None:
        fail(c, "Auth0 no longer knows this job (job data is deleted after 24 hours).")
        return None

    auth0_status = str(job.get("status") or "")
    if auth0_status == "failed":
        details = job.get("status_details") or "no reason given"
        fail(c, f"Auth0 reported the job as failed: {details}")
        return None
    if auth0_status == "completed":
        return _fetch_and_publish(c, job)

    if _job_expired(export):
        fail(c, f"Auth0's job did not complete within 24 hours (last status {auth0_status!r}).")
        return None
    percentage = _int_or_none(job.get("percentage_done"))
    time_left = _int_or_none(job.get("time_left_seconds"))
    status = Status.RUNNING if auth0_status != "pending" or percentage else Status.SUBMITTED
    transition(
        c,
        status,
        "Auth0 started the job" if status != export.status and status == Status.RUNNING else "",
        auth0_status=auth0_status[:32],
        percentage_done=None if percentage is None else max(0, min(percentage, 100)),
        time_left_seconds=None if time_left is None else max(0, time_left),
        poll_count=F("poll_count") + 1,
    )
    export.refresh_from_db(fields=["poll_count"])
    return Next(step=release(c, next_step=True), delay=poll_delay(time_left, export.poll_count))


def _submit(c: Claim) -> None:
    export = c.export
    job = management_api.create_users_export(export.auth0_request())
    job_id = str(job["id"])
    # Keep the job id first, in a statement of its own: whatever fails next, a retry resumes
    # this job instead of creating a second one.
    Export.objects.filter(pk=export.pk, lease_token=c.token).update(
        auth0_job_id=job_id, auth0_job_created_at=timezone.now()
    )
    transition(
        c,
        Status.SUBMITTED,
        f"Auth0 job {job_id} created",
        auth0_job_id=job_id,
        auth0_job_created_at=timezone.now(),
        auth0_status=str(job.get("status") or "")[:32],
        connection_name=export.connection_name or str(job.get("connection") or ""),
    )


def _later(c: Claim, retry_after: float, message: str) -> Next | None:
    if c.export.auth0_job_id and _job_expired(c.export):
        fail(c, f"Auth0's job could not be read within 24 hours: {message}")
        return None
    note(c.export, message)
    delay = max(retry_after, settings.EXPORT_POLL_MIN_SECONDS)
    return Next(step=release(c, next_step=True), delay=delay)


def _job_expired(export: Export) -> bool:
    started = export.auth0_job_created_at or export.created_at
    return timezone.now() - started > AUTH0_JOB_LIFETIME


def poll_delay(time_left_seconds: int | None, poll_count: int) -> float:
    """Seconds until the next poll: about half the time Auth0 says is left, else an
    exponential backoff; never below the minimum the rate limit allows."""
    floor = float(settings.EXPORT_POLL_MIN_SECONDS)
    ceiling = float(settings.EXPORT_POLL_MAX_SECONDS)
    if time_left_seconds is not None and time_left_seconds >= 0:
        wanted = time_left_seconds / 2
    else:
        wanted = floor * 2 ** min(poll_count, 10)
    return max(floor, min(wanted, ceiling))


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


# --- Download, verify, publish ------------------------------------------------------------


@contextmanager
def _workdir(export_id: int) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"userdesk-export-{export_id}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fetch_and_publish(c: Claim, job: dict[str, Any]) -> Next | None:
    export = c.export
    transition(
        c,
        Status.DOWNLOADING,
        "Auth0 finished the job; downloading the file",
        auth0_status="completed",
        percentage_done=100,
        time_left_seconds=0,
    )
    location = str(job.get("location") or "")
    last_error = ""
    attempts = settings.EXPORT_DOWNLOAD_ATTEMPTS
    with _workdir(export.pk) as workdir:
        for attempt in range(1, attempts + 1):
            Export.objects.filter(pk=export.pk).update(download_attempts=F("download_attempts") + 1)
            try:
                if not location:
                    location = _fresh_location(export)
                target = workdir / f"attempt-{attempt}.gz"
                result = _download(c, location, target)
            except TransientError as exc:
                last_error = str(exc)
                note(export, f"Download attempt {attempt} broke off ({exc}); getting a fresh link")
                time.sleep(min(exc.retry_after_seconds, settings.EXPORT_POLL_MAX_SECONDS))
            except PermanentError as exc:
                if exc.status not in (401, 403, 404, 410):
                    fail(c, f"Auth0 refused the download: {exc}")
                    return None
                last_error = str(exc)
                note(export, f"The download link has lapsed ({exc}); getting a fresh one")
            except ingest.VerificationError as exc:
                if exc.kind != "transfer":
                    fail(c, f"The file Auth0 served failed verification: {exc.reason}")
                    return None
                last_error = exc.reason
                note(export, f"Download attempt {attempt} arrived damaged ({exc.reason})")
            else:
                _publish(c, result, target)
                return None
            location = ""
            c.beat(force=True)
    export.refresh_from_db(fields=["download_attempts"])
    if export.download_attempts >= settings.EXPORT_DOWNLOAD_ATTEMPTS * 3:
        fail(c, f"The file could not be downloaded and verified: {last_error}")
        return None
    return _later(
        c,
        settings.EXPORT_POLL_MAX_SECONDS,
        f"{attempts} download attempts failed; trying again later. Nothing is offered until a "
        f"copy passes verification.",
    )


def _fresh_location(export: Export) -> str:
    job = management_api.get_job(export.auth0_job_id)
    if job is None:
        raise PermanentError("Auth0 no longer knows this job", status=404)
    location = str(job.get("location") or "")
    if not location:
        raise TransientError("Auth0 gave no download link", retry_after_seconds=1.0)
    return location


def _download(c: Claim, location: str, target: Path) -> ingest.IngestResult:
    export = c.export

    def beating(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            c.beat()
            yield chunk

    with management_api.download(location) as response:
        return ingest.ingest(
            beating(response.iter_bytes()),
            target,
            fmt="ndjson" if export.format == "ndjson" else "csv",
            expected_columns=export.column_titles,
            limit=export.limit,
        )


def _publish(c: Claim, result: ingest.IngestResult, path: Path) -> None:
    """Store the verified file, then flip to ready in one conditional UPDATE.

    The stored name is unique to this attempt and only becomes visible through the row,
    so a worker that lost its lease meanwhile deletes its copy and nothing is offered twice.
    """
    export = c.export
    transition(c, Status.VERIFYING, f"Verified {result.rows} rows; keeping the file")
    storage = export_storage()
    name = f"{export.pk}/export-{export.pk}-{c.token[:12]}.{export.file_extension}.gz"
    with path.open("rb") as handle:
        stored = storage.save(name, File(handle, name=name))
    try:
        transition(
            c,
            Status.READY,
            f"Ready: {result.rows} rows, {result.compressed_bytes} bytes kept",
            file_name=stored,
            compressed_size=result.compressed_bytes,
            uncompressed_size=result.uncompressed_bytes,
            row_count=result.rows,
            sha256=result.sha256,
            verification=dict(result.checks),
            ready_at=timezone.now(),
            lease_token="",
            lease_expires_at=None,
            percentage_done=100,
            time_left_seconds=0,
        )
    except LeaseLost:
        storage.delete(stored)
        raise


# --- Filtered derivatives ------------------------------------------------------------------


def _derive(c: Claim) -> None:
    """Build a derivative from its parent's kept file, verify it like a download, publish."""
    export = c.export
    parent = export.parent
    if parent is None or parent.status != Status.READY or not parent.file_name:
        fail(c, "The parent export is no longer available.")
        return
    conditions = [derive.Condition(**condition) for condition in export.filter_conditions]
    described = " and ".join(derive.describe(condition) for condition in conditions)
    transition(c, Status.RUNNING, f"Keeping the rows of export #{parent.pk} where {described}")
    fmt: ingest.Format = "ndjson" if export.format == "ndjson" else "csv"
    with _workdir(export.pk) as workdir, local_path(parent) as source:
        built = workdir / "derived.gz"
        try:
            made = derive.derive(
                source, built, fmt=fmt, columns=export.column_titles, conditions=conditions
            )
        except ValueError as exc:
            fail(c, f"The filtered file could not be built: {exc}")
            return
        c.beat(force=True)
        transition(c, Status.VERIFYING, f"{made.rows} of {made.scanned} rows kept; verifying")
        target = workdir / "verified.gz"
        try:
            with built.open("rb") as handle:
                result = ingest.ingest(
                    iter(lambda: handle.read(COPY_CHUNK), b""),
                    target,
                    fmt=fmt,
                    expected_columns=export.column_titles,
                )
        except ingest.VerificationError as exc:
            fail(c, f"The filtered file failed verification: {exc.reason}")
            return
        _publish(c, result, target)


# --- Recovery ----------------------------------------------------------------------------


def sweep() -> int:
    """Enqueue exports nobody is working on: queued ones the broker never delivered (the
    broker was down at submit) and in-progress ones whose worker went quiet."""
    now = timezone.now()
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    queued_cutoff = now - timedelta(seconds=settings.EXPORT_QUEUED_GRACE_SECONDS)
    stale_cutoff = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    candidates = Export.objects.filter(lease_free).filter(
        Q(status=Status.QUEUED, heartbeat_at__lt=queued_cutoff)
        | Q(status__in=ACTIVE_STATUSES[1:], heartbeat_at__lt=stale_cutoff)
        | Q(status__in=ACTIVE_STATUSES, heartbeat_at__isnull=True)
    )
    sent = 0
    for export_id, step, heartbeat in candidates.values_list("pk", "step", "heartbeat_at"):
        # Touch the heartbeat first so a concurrent sweep does not send it too.
        touched = Export.objects.filter(pk=export_id, step=step, heartbeat_at=heartbeat).update(
            heartbeat_at=now
        )
        if touched and enqueue(export_id, step):
            sent += 1
    return sent
