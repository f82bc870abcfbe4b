"""The export pipeline's steps: submit Auth0's job, poll it, download-verify-keep its file
(for an exact search export: download-verify, filter the matching users, verify-keep), or build
a filtered derivative from a kept file.

Plain functions, testable without Celery; exports.tasks calls `advance` and schedules what
it returns. Claiming and every status change go through exports.lease; the bytes go through
exports.streams (by way of ingest and derive) straight from and to the export storage.

One `advance` call does one step. It returns when to come back (`Next`), or None when the
export has settled or another delivery owns it. Every failure ends: Auth0's or a permanent
error fails the export with its message; a transient one is retried (by a later step, or by
the task's bounded retries), each step within its attempt budget (exports.lease); anything
unexpected, or the soft time limit, fails the export with a plain reason.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.db import DatabaseError
from django.db.models import F
from django.utils import timezone

import management_api
from management_api.errors import PermanentError, TransientError

from . import combine, derive, exact, ingest, lease, matching, streams
from .lease import Claim, LeaseLost, fail, note, release, transition
from .models import CONNECTION_COLUMN, Export, ExportPart, PartStatus, Status

logger = logging.getLogger(__name__)

AUTH0_JOB_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class Next:
    """Come back for `step` after `delay` seconds."""

    step: int
    delay: float


def advance(export_id: int, step: int) -> Next | None:
    """Do one step of the export. See the module docstring."""
    claimed = lease.claim(export_id, step)
    if claimed is None:
        return None
    if isinstance(claimed, float):
        return Next(step=step, delay=claimed)
    c = claimed
    try:
        if lease.over_budget(c):
            fail(
                c,
                f"Gave up after {settings.EXPORT_STEP_ATTEMPTS} attempts at the same step "
                f"({c.export.get_status_display().lower()}): each attempt ended without "
                "finishing it, for example because the worker was stopped or lost. Run it again.",
            )
            return None
        try:
            tenant = management_api.get_tenant(c.export.tenant)
        except management_api.UnknownTenant as exc:
            fail(c, f"{exc}: this export's tenant is no longer in AUTH0_TENANTS.")
            return None
        # Every Management API call of this step runs for the export's own tenant.
        with management_api.tenant_scope(tenant):
            if c.export.is_derivative:
                _derive(c)
                return None
            return _advance_auth0(c)
    except LeaseLost:
        logger.info("Export %s: another delivery took over step %s", export_id, step)
        return None
    except SoftTimeLimitExceeded:
        fail(
            c,
            f"The worker stopped the export: one step ({c.export.get_status_display().lower()}) "
            f"ran longer than its soft time limit of "
            f"{_duration(settings.EXPORT_TASK_SOFT_TIME_LIMIT)}. Run it again; a smaller export "
            "(a limit, or one connection) finishes sooner.",
        )
        return None
    except (TransientError, DatabaseError):
        # Worth another delivery (the task retries these, within the attempt budget).
        lease.hand_back(c)
        raise
    except Exception:
        try:
            lease.fail_unexpectedly(c, f"{c.export.get_status_display().lower()}")
        except (LeaseLost, DatabaseError):
            lease.hand_back(c)
            raise
        return None
    except BaseException:
        lease.hand_back(c)
        raise


def _advance_auth0(c: Claim) -> Next | None:
    export = c.export
    if export.is_multi:
        return _advance_parts(c)
    try:
        if not export.auth0_job_id and not _submit(c):
            return None
        job = management_api.get_job(export.auth0_job_id)
    except TransientError as exc:
        return _later(c, exc.retry_after_seconds, f"Auth0 is busy ({exc}); trying again")
    except PermanentError as exc:
        fail(c, f"Auth0 refused the export: {exc}")
        return None
    if job is None:
        fail(
            c,
            "Auth0 no longer has this export job (Auth0 deletes a job after 24 hours). "
            "Run the export again.",
        )
        return None

    auth0_status = str(job.get("status") or "")
    if auth0_status == "failed":
        details = job.get("status_details") or "no reason given"
        fail(c, f"Auth0 reported the job as failed: {details}")
        return None
    if auth0_status == "completed":
        return _fetch_and_publish(c, job)

    if _job_expired(export):
        fail(
            c,
            f"Auth0 had not finished its export job after 24 hours (it last said "
            f"“{auth0_status or 'nothing'}”), and Auth0 deletes a job after 24 hours. Run it "
            "again, perhaps with a limit or one connection.",
        )
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


def _submit(c: Claim) -> bool:
    """Request Auth0's job, once. False when the export failed instead."""
    export = c.export
    if export.auth0_submitted_at is not None:
        fail(c, _orphan_reason(export))
        return False
    # Recorded before the request: if the answer never arrives (a timeout, a killed worker),
    # Auth0 may have created the job, and a second request would create a second job.
    lease.update(c, auth0_submitted_at=timezone.now())
    try:
        job = management_api.create_users_export(export.spec.auth0_body())
    except TransientError as exc:
        if exc.status is None:
            # No answer at all (a timeout, a dropped connection): Auth0 may have made the job.
            fail(c, _orphan_reason(export, f" ({exc})"))
            return False
        # Auth0 answered: a 429 was never processed, and a 5xx answer says the job was not
        # made, so asking again later is safe. Should Auth0 have made one all the same, the
        # timeline says so, and Auth0 deletes that job after 24 hours.
        lease.update(c, auth0_submitted_at=None)
        if exc.status != 429:
            note(
                export,
                f"Auth0 answered the job request with HTTP {exc.status} ({exc}); asking again. "
                "Should Auth0 hold a job from that request after all, it deletes it after 24 "
                "hours.",
            )
        raise
    except PermanentError:
        lease.update(c, auth0_submitted_at=None)
        raise
    job_id = str(job["id"])
    # Keep the job id first, in a statement of its own: whatever fails next, a retry resumes
    # this job instead of creating a second one.
    lease.update(c, auth0_job_id=job_id, auth0_job_created_at=timezone.now())
    transition(
        c,
        Status.SUBMITTED,
        f"Auth0 job {job_id} created",
        auth0_job_id=job_id,
        auth0_job_created_at=timezone.now(),
        auth0_status=str(job.get("status") or "")[:32],
        connection_name=export.connection_name or str(job.get("connection") or ""),
    )
    return True


def _orphan_reason(export: Export, detail: str = "", at: Any = None) -> str:
    sent_at = at or export.auth0_submitted_at
    sent = timezone.localtime(sent_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        f"The request for Auth0's export job was sent at {sent}, but its answer never "
        f"arrived{detail}. Auth0 may hold an export job this export does not know of (it "
        "deletes it after 24 hours). To never start a second job, this export stops here: "
        "run it again to get the file."
    )


def _later(c: Claim, retry_after: float, message: str) -> Next | None:
    if (c.export.auth0_job_id or c.export.auth0_job_created_at) and _job_expired(c.export):
        fail(c, f"Auth0's job could not be read within 24 hours: {message}")
        return None
    note(c.export, message)
    delay = max(retry_after, settings.EXPORT_POLL_MIN_SECONDS)
    return Next(step=release(c, next_step=True), delay=delay)


def _job_expired(export: Export) -> bool:
    started = export.auth0_job_created_at or export.created_at
    return timezone.now() - started > AUTH0_JOB_LIFETIME


def _duration(seconds: float) -> str:
    """3300 -> "55 minutes", 90 -> "90 seconds", 7200 -> "2 hours"."""
    if seconds < 120:
        return f"{seconds:g} seconds"
    if seconds < 7200:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:g} hours"


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


# --- Download, verify, keep ----------------------------------------------------------


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
    with tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-") as target:
        fetched = _fetch(c, export.auth0_job_id, str(job.get("location") or ""), target)
        if not isinstance(fetched, ingest.IngestResult):
            return fetched
        if export.is_exact:
            _match_and_publish(c, fetched, target)
        elif export.filters_own_file:
            target.seek(0)
            _filter_and_publish(c, target, f"Auth0's file has {fetched.rows} rows; keeping those")
        else:
            _publish(c, fetched, target)
    return None


def _fetch(
    c: Claim, job_id: str, location: str, target: BinaryIO, part: str = ""
) -> ingest.IngestResult | Next | None:
    """Download the file of Auth0's job ``job_id`` into ``target`` and verify it, with fresh
    links and fresh attempts while it breaks off: its IngestResult (``target`` then holds the
    verified .gz); else what ``advance`` returns (None: the export failed; Next: try later).
    ``part``: " for <connection>", a multi-connection export's part, said in each message."""
    export = c.export
    last_error = ""
    attempts = settings.EXPORT_DOWNLOAD_ATTEMPTS
    for attempt in range(1, attempts + 1):
        Export.objects.filter(pk=export.pk).update(download_attempts=F("download_attempts") + 1)
        target.seek(0)
        target.truncate()
        try:
            if not location:
                location = _fresh_location(job_id)
            return _download(c, location, target)
        except TransientError as exc:
            last_error = str(exc)
            note(
                export,
                f"Download attempt {attempt}{part} broke off ({exc}); getting a fresh link",
            )
            time.sleep(min(exc.retry_after_seconds, settings.EXPORT_POLL_MAX_SECONDS))
        except PermanentError as exc:
            if exc.status not in (401, 403, 404, 410):
                fail(c, f"Auth0 refused the download{part}: {exc}")
                return None
            last_error = str(exc)
            note(export, f"The download link{part} has lapsed ({exc}); getting a fresh one")
        except ingest.VerificationError as exc:
            _note_detail(export, exc.detail)
            if exc.kind != "transfer":
                fail(c, f"The file Auth0 served{part} failed verification: {exc.reason}")
                return None
            last_error = exc.reason
            note(export, f"Download attempt {attempt}{part} arrived damaged ({exc.reason})")
        location = ""
        c.beat(force=True)
    export.refresh_from_db(fields=["download_attempts"])
    if export.download_attempts >= settings.EXPORT_DOWNLOAD_ATTEMPTS * 3:
        fail(
            c,
            f"The file{part} could not be downloaded and verified in "
            f"{export.download_attempts} attempts: {last_error}. Run the export again (Auth0 "
            "makes a new file); if it breaks again, something between this server and Auth0's "
            "download server (a proxy, firewall or virus scanner) may be cutting long "
            "downloads: ask whoever runs the network.",
        )
        return None
    return _later(
        c,
        settings.EXPORT_POLL_MAX_SECONDS,
        f"{attempts} download attempts{part} failed; trying again later. Nothing is offered "
        f"until a copy passes verification.",
    )


def _note_detail(export: Export, detail: str) -> None:
    """A parser's own words about a bad file: logged, and a secondary line on the timeline
    (the headline reason stays plain)."""
    if detail:
        logger.warning("Export %s: verification detail: %s", export.pk, detail)
        note(export, f"Technical detail: {detail}")


def _fresh_location(job_id: str) -> str:
    job = management_api.get_job(job_id)
    if job is None:
        raise PermanentError("Auth0 no longer knows this job", status=404)
    location = str(job.get("location") or "")
    if not location:
        raise TransientError("Auth0 gave no download link", retry_after_seconds=1.0)
    return location


def _beating(c: Claim, chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        c.beat()
        yield chunk


def _download(c: Claim, location: str, target: BinaryIO) -> ingest.IngestResult:
    export = c.export
    with management_api.download(location) as response:
        fmt = export.spec.exact_plan().source_format if export.is_exact else export.export_format
        return fmt.ingest(
            _beating(c, response.iter_bytes()),
            target,
            expected_columns=export.spec.job_column_titles,
            limit=export.limit,
        )


def _publish(c: Claim, result: ingest.IngestResult, verified: BinaryIO) -> None:
    """Store the verified file, then flip to ready in one conditional UPDATE.

    The stored name is unique to this attempt and only becomes visible through the row,
    so a worker that lost its lease meanwhile deletes its copy and nothing is offered twice.
    """
    export = c.export
    transition(c, Status.VERIFYING, f"Verified {result.rows} rows; keeping the file")
    name = f"{export.pk}/export-{export.pk}-{c.token[:12]}.{export.file_extension}.gz"
    verified.seek(0)
    storage = export.file.storage
    stored = storage.save(name, File(verified, name=name))
    try:
        transition(
            c,
            Status.READY,
            f"Ready: {result.rows} rows, {result.compressed_bytes} bytes kept",
            file=stored,
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


# --- Exact search exports ---------------------------------------------------------------

PROGRESS_EVERY_SECONDS = 2.0


def _match_and_publish(c: Claim, downloaded: ingest.IngestResult, source: BinaryIO) -> None:
    """Keep the users of Auth0's verified file that the query matches, verify, publish."""
    export = c.export
    try:
        plan = export.spec.exact_plan()
    except (matching.Unanswerable, ValueError) as exc:
        fail(c, f"The query cannot be evaluated: {exc}")
        return
    transition(
        c,
        Status.FILTERING,
        f"Auth0's file holds {downloaded.rows:,} users; keeping those matching "
        f"{export.match_query}",
        scanned_count=0,
        matched_count=0,
    )
    last = [time.monotonic()]

    def progress(scanned: int, matched: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            c.beat(force=True)
            lease.update(c, scanned_count=scanned, matched_count=matched)

    source.seek(0)
    with tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-exact-") as built:
        try:
            made = exact.filter_file(source, built, plan=plan, progress=progress)
        except (ValueError, streams.GzipDamaged) as exc:
            fail(c, f"Auth0's file could not be filtered: {exc}")
            return
        if made.scanned != downloaded.rows:
            fail(
                c,
                f"The filter read {made.scanned:,} users where Auth0's file holds "
                f"{downloaded.rows:,}; nothing is kept.",
            )
            return
        transition(
            c,
            Status.VERIFYING,
            f"Scanned {made.scanned:,} users, {made.matched:,} match; verifying",
            scanned_count=made.scanned,
            matched_count=made.matched,
        )
        _verify_and_publish(c, built)


def _verify_and_publish(c: Claim, built: BinaryIO) -> None:
    """Verify a file a worker built (a derivative, an exact export) like a download; keep it."""
    result = _verify_built(c, built, "The filtered file failed verification: {reason}")
    if result is not None:
        _publish(c, result, built)


def _verify_built(c: Claim, built: BinaryIO, failure: str) -> ingest.IngestResult | None:
    """Verify a file a worker built like a download: its result, or None once the export
    failed with ``failure`` (formatted with the ``reason``)."""
    export = c.export
    built.seek(0)
    try:
        return export.export_format.ingest(
            _beating(c, streams.chunks(built)),
            _Discard(),  # type: ignore[arg-type]
            expected_columns=export.column_titles,
        )
    except ingest.VerificationError as exc:
        _note_detail(export, exc.detail)
        fail(c, failure.format(reason=exc.reason))
        return None


# --- Filtered derivatives ------------------------------------------------------------------


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _derive(c: Claim) -> None:
    """Build a derivative from its parent's kept file, verify it like a download, publish."""
    export = c.export
    parent = export.parent
    if parent is None:
        fail(c, "The export it was filtered from has been deleted, so there is nothing to filter.")
        return
    if parent.status != Status.READY or not parent.file:
        fail(
            c,
            f"Export #{parent.pk}, which it is filtered from, is no longer ready "
            f"({parent.get_status_display().lower()}).",
        )
        return
    try:
        source = parent.open_file()
    except FileNotFoundError:
        fail(
            c,
            f"The file of export #{parent.pk}, which it is filtered from, is no longer in storage.",
        )
        return
    with source:
        _filter_and_publish(c, source, f"Keeping the rows of export #{parent.pk}")


def _filter_and_publish(c: Claim, source: BinaryIO, what: str) -> None:
    """Keep the rows of `source` (a kept .gz) that meet the export's conditions, verify the
    result like a download and publish it."""
    export = c.export
    conditions = [derive.Condition(**condition) for condition in export.filter_conditions]
    described = " and ".join(derive.describe(condition) for condition in conditions)
    transition(c, Status.RUNNING, f"{what} where {described}")
    with tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-") as built:
        try:
            made = export.export_format.derive(
                source,
                built,
                columns=export.column_titles,
                conditions=conditions,
            )
        except ValueError as exc:
            fail(c, f"The filtered file could not be built: {exc}")
            return
        c.beat(force=True)
        transition(c, Status.VERIFYING, f"{made.rows} of {made.scanned} rows kept; verifying")
        _verify_and_publish(c, built)


# --- Several connections: one Auth0 job each, one file -----------------------------------

WHOLE_OR_NOTHING = (
    "Nothing is kept: an export of several connections is offered whole or not at all. "
    "Run it again, or export that connection on its own to see more."
)


def _parts(export: Export) -> list[ExportPart]:
    """The export's parts, one per connection, made on its first step."""
    for position, item in enumerate(export.connections, start=1):
        ExportPart.objects.get_or_create(
            export=export,
            position=position,
            defaults={"connection_id": item["id"], "connection_name": item.get("name") or ""},
        )
    return list(export.parts.order_by("position"))


def _part_words(part: ExportPart, total: int) -> str:
    return f"{part.label} (part {part.position} of {total})"


def _fail_part(c: Claim, part: ExportPart, total: int, reason: str) -> None:
    """The part failed, so the export fails, with the part and its reason."""
    ExportPart.objects.filter(pk=part.pk).update(status=PartStatus.FAILED, failure_reason=reason)
    fail(c, f"The part for {_part_words(part, total)} failed: {reason} {WHOLE_OR_NOTHING}")


def _advance_parts(c: Claim) -> Next | None:
    """A multi-connection export's Auth0 stage: submit each part's job once, poll them all, and
    once every job is completed download, verify and join the parts (``_join_and_publish``)."""
    export = c.export
    parts = _parts(export)
    total = len(parts)
    jobs: dict[int, dict[str, Any]] = {}
    try:
        for part in parts:
            if not part.auth0_job_id and not _submit_part(c, part, total):
                return None
        if export.status == Status.QUEUED:
            transition(c, Status.SUBMITTED, f"{total} Auth0 jobs created, one per connection")
        for part in parts:
            job = management_api.get_job(part.auth0_job_id)
            if job is None:
                _fail_part(
                    c,
                    part,
                    total,
                    "Auth0 no longer has its export job (Auth0 deletes a job after 24 hours).",
                )
                return None
            jobs[part.pk] = job
    except TransientError as exc:
        return _later(c, exc.retry_after_seconds, f"Auth0 is busy ({exc}); trying again")

    percentages: list[int] = []
    time_left: list[int] = []
    for part in parts:
        job = jobs[part.pk]
        auth0_status = str(job.get("status") or "")
        if auth0_status == "failed":
            details = job.get("status_details") or "no reason given"
            _fail_part(c, part, total, f"Auth0 reported its job as failed: {details}.")
            return None
        percentage = (
            100 if auth0_status == "completed" else _int_or_none(job.get("percentage_done"))
        )
        percentage = None if percentage is None else max(0, min(percentage, 100))
        part.status = (
            PartStatus.COMPLETED
            if auth0_status == "completed"
            else PartStatus.RUNNING
            if auth0_status != "pending" or percentage
            else PartStatus.WAITING
        )
        ExportPart.objects.filter(pk=part.pk).update(
            status=part.status, auth0_status=auth0_status[:32], percentage_done=percentage
        )
        percentages.append(percentage or 0)
        left = _int_or_none(job.get("time_left_seconds"))
        if left is not None and auth0_status != "completed":
            time_left.append(max(0, left))

    if all(part.status == PartStatus.COMPLETED for part in parts):
        return _join_and_publish(c, parts, jobs)
    if _job_expired(export):
        waiting = [part.label for part in parts if part.status != PartStatus.COMPLETED]
        fail(
            c,
            f"Auth0 had not finished the export jobs of {', '.join(waiting)} after 24 hours, "
            f"and Auth0 deletes a job after 24 hours. {WHOLE_OR_NOTHING}",
        )
        return None
    started = any(part.status != PartStatus.WAITING for part in parts)
    status = Status.RUNNING if started else Status.SUBMITTED
    done = sum(part.status == PartStatus.COMPLETED for part in parts)
    transition(
        c,
        status,
        "Auth0 started the jobs" if status != export.status and status == Status.RUNNING else "",
        auth0_status=f"{done} of {total} completed",
        percentage_done=sum(percentages) // total,
        time_left_seconds=max(time_left) if time_left else None,
        poll_count=F("poll_count") + 1,
    )
    export.refresh_from_db(fields=["poll_count"])
    delay = poll_delay(max(time_left) if time_left else None, export.poll_count)
    return Next(step=release(c, next_step=True), delay=delay)


def _submit_part(c: Claim, part: ExportPart, total: int) -> bool:
    """Request the part's Auth0 job, once (as ``_submit`` does for the whole export)."""
    export = c.export
    if part.auth0_submitted_at is not None:
        _fail_part(c, part, total, _orphan_reason(export, at=part.auth0_submitted_at))
        return False
    c.beat(force=True)
    # Recorded before the request, as the export's own: never a second job for the part.
    part.auth0_submitted_at = timezone.now()
    ExportPart.objects.filter(pk=part.pk).update(auth0_submitted_at=part.auth0_submitted_at)
    try:
        job = management_api.create_users_export(export.spec.auth0_body(part.connection_id))
    except TransientError as exc:
        if exc.status is None:
            _fail_part(c, part, total, _orphan_reason(export, f" ({exc})", part.auth0_submitted_at))
            return False
        ExportPart.objects.filter(pk=part.pk).update(auth0_submitted_at=None)
        if exc.status != 429:
            note(
                export,
                f"Auth0 answered the job request for {part.label} with HTTP {exc.status} "
                f"({exc}); asking again.",
            )
        raise
    except PermanentError as exc:
        ExportPart.objects.filter(pk=part.pk).update(auth0_submitted_at=None)
        _fail_part(c, part, total, f"Auth0 refused its export job: {exc}.")
        return False
    job_id = str(job["id"])
    now = timezone.now()
    part.auth0_job_id = job_id
    ExportPart.objects.filter(pk=part.pk).update(
        auth0_job_id=job_id,
        auth0_job_created_at=now,
        auth0_status=str(job.get("status") or "")[:32],
    )
    if export.auth0_job_created_at is None:
        # The snapshot of the whole export: when its first job was made.
        lease.update(c, auth0_job_created_at=now)
    note(export, f"Auth0 job {job_id} created for {_part_words(part, total)}")
    return True


def _join_and_publish(
    c: Claim, parts: list[ExportPart], jobs: dict[int, dict[str, Any]]
) -> Next | None:
    """Download and verify each part (an exact export's: its matches), join them with the
    connection in each row, verify the whole (its rows the sum of the parts'), publish."""
    export = c.export
    total = len(parts)
    transition(
        c,
        Status.DOWNLOADING,
        f"Auth0 finished all {total} jobs; downloading and verifying each part",
        auth0_status="completed",
        percentage_done=100,
        time_left_seconds=0,
    )
    plan = None
    if export.is_exact:
        try:
            plan = export.spec.exact_plan()
        except (matching.Unanswerable, ValueError) as exc:
            fail(c, f"The query cannot be evaluated: {exc}")
            return None
    with ExitStack() as stack:
        verified: list[tuple[BinaryIO, ExportPart]] = []
        scanned_total = 0
        for part in parts:
            where = f" for {_part_words(part, total)}"
            raw = stack.enter_context(
                tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-")
            )
            fetched = _fetch(
                c, part.auth0_job_id, str(jobs[part.pk].get("location") or ""), raw, where
            )
            if not isinstance(fetched, ingest.IngestResult):
                if fetched is None:  # the export failed on this part's file: so did the part
                    ExportPart.objects.filter(pk=part.pk).update(
                        status=PartStatus.FAILED,
                        failure_reason="Its file could not be downloaded and verified (the "
                        "export's reason says why).",
                    )
                return fetched
            rows, kept = fetched.rows, raw
            scanned: int | None = None
            if plan is not None:
                kept = stack.enter_context(
                    tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-")
                )
                raw.seek(0)
                try:
                    made = exact.filter_file(raw, kept, plan=plan)
                except (ValueError, streams.GzipDamaged) as exc:
                    _fail_part(c, part, total, f"Auth0's file could not be filtered: {exc}")
                    return None
                if made.scanned != fetched.rows:
                    _fail_part(
                        c,
                        part,
                        total,
                        f"the filter read {made.scanned:,} users where Auth0's file holds "
                        f"{fetched.rows:,}.",
                    )
                    return None
                scanned, rows = made.scanned, made.matched
                scanned_total += made.scanned
            ExportPart.objects.filter(pk=part.pk).update(
                status=PartStatus.VERIFIED,
                row_count=rows,
                compressed_size=fetched.compressed_bytes,
                sha256=fetched.sha256,
                scanned_count=scanned,
            )
            part.row_count = rows
            note(
                export,
                f"Part{where}: Auth0's file verified, {fetched.rows:,} rows"
                + (f", {rows:,} match" if scanned is not None else ""),
            )
            c.beat(force=True)
            verified.append((kept, part))
        _publish_joined(c, verified, scanned_total if plan is not None else None)
    return None


def _publish_joined(
    c: Claim, verified: list[tuple[BinaryIO, ExportPart]], scanned: int | None
) -> None:
    export = c.export
    expected = [part.row_count or 0 for _, part in verified]
    with tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-joined-") as joined:
        try:
            made = combine.combine(
                [(source, part.label) for source, part in verified],
                joined,
                fmt=export.export_format,
                titles=export.spec.field_titles,
                column=CONNECTION_COLUMN,
            )
        except (ValueError, streams.GzipDamaged) as exc:
            fail(c, f"The parts could not be joined into one file: {exc}. {WHOLE_OR_NOTHING}")
            return
        if made.part_rows != expected:
            fail(
                c,
                f"Joining the parts copied {made.part_rows} rows where they hold {expected}. "
                f"{WHOLE_OR_NOTHING}",
            )
            return
        fields: dict[str, Any] = {}
        if scanned is not None:
            fields = {"scanned_count": scanned, "matched_count": made.rows}
        transition(
            c,
            Status.VERIFYING,
            f"Joined {len(verified)} parts, {made.rows:,} rows; verifying the whole file",
            **fields,
        )
        result = _verify_built(
            c, joined, f"The joined file failed verification: {{reason}}. {WHOLE_OR_NOTHING}"
        )
        if result is None:
            return
        if result.rows != sum(expected):
            fail(
                c,
                f"The joined file holds {result.rows:,} rows, not the {sum(expected):,} of its "
                f"parts. {WHOLE_OR_NOTHING}",
            )
            return
        sums = " + ".join(f"{rows:,}" for rows in expected)
        checks = {
            **result.checks,
            "parts": (
                f"{len(verified)} parts, one Auth0 job per connection; each part's gzip, "
                "header and every row verified as it was downloaded, its SHA-256 kept"
            ),
            "whole": (
                f"the joined file verified again: {result.rows:,} rows = {sums}, the sum of "
                f"its parts; a “{CONNECTION_COLUMN}” column names each row's connection"
            ),
        }
        joined.seek(0)
        if export.filters_own_file:
            _filter_and_publish(
                c, joined, f"The joined file has {result.rows:,} rows; keeping those"
            )
        else:
            _publish(c, dataclasses.replace(result, checks=checks), joined)
