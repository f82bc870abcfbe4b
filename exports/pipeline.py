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

import logging
import tempfile
import time
from collections.abc import Iterable, Iterator
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

from . import derive, exact, ingest, lease, matching, streams
from .lease import Claim, LeaseLost, fail, note, release, transition
from .models import Export, Status

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


def _orphan_reason(export: Export, detail: str = "") -> str:
    sent = timezone.localtime(export.auth0_submitted_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        f"The request for Auth0's export job was sent at {sent}, but its answer never "
        f"arrived{detail}. Auth0 may hold an export job this export does not know of (it "
        "deletes it after 24 hours). To never start a second job, this export stops here: "
        "run it again to get the file."
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
    location = str(job.get("location") or "")
    last_error = ""
    attempts = settings.EXPORT_DOWNLOAD_ATTEMPTS
    for attempt in range(1, attempts + 1):
        Export.objects.filter(pk=export.pk).update(download_attempts=F("download_attempts") + 1)
        with tempfile.TemporaryFile(prefix=f"userdesk-export-{export.pk}-") as target:
            try:
                if not location:
                    location = _fresh_location(export)
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
                _note_detail(export, exc.detail)
                if exc.kind != "transfer":
                    fail(c, f"The file Auth0 served failed verification: {exc.reason}")
                    return None
                last_error = exc.reason
                note(export, f"Download attempt {attempt} arrived damaged ({exc.reason})")
            else:
                if export.is_exact:
                    _match_and_publish(c, result, target)
                elif export.filters_own_file:
                    target.seek(0)
                    _filter_and_publish(
                        c, target, f"Auth0's file has {result.rows} rows; keeping those"
                    )
                else:
                    _publish(c, result, target)
                return None
        location = ""
        c.beat(force=True)
    export.refresh_from_db(fields=["download_attempts"])
    if export.download_attempts >= settings.EXPORT_DOWNLOAD_ATTEMPTS * 3:
        fail(
            c,
            f"The file could not be downloaded and verified in {export.download_attempts} "
            f"attempts: {last_error}. Run the export again (Auth0 makes a new file); if it "
            "breaks again, something between this server and Auth0's download server (a "
            "proxy, firewall or virus scanner) may be cutting long downloads: ask whoever "
            "runs the network.",
        )
        return None
    return _later(
        c,
        settings.EXPORT_POLL_MAX_SECONDS,
        f"{attempts} download attempts failed; trying again later. Nothing is offered until a "
        f"copy passes verification.",
    )


def _note_detail(export: Export, detail: str) -> None:
    """A parser's own words about a bad file: logged, and a secondary line on the timeline
    (the headline reason stays plain)."""
    if detail:
        logger.warning("Export %s: verification detail: %s", export.pk, detail)
        note(export, f"Technical detail: {detail}")


def _fresh_location(export: Export) -> str:
    job = management_api.get_job(export.auth0_job_id)
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
    export = c.export
    built.seek(0)
    try:
        result = export.export_format.ingest(
            _beating(c, streams.chunks(built)),
            _Discard(),  # type: ignore[arg-type]
            expected_columns=export.column_titles,
        )
    except ingest.VerificationError as exc:
        _note_detail(export, exc.detail)
        fail(c, f"The filtered file failed verification: {exc.reason}")
        return
    _publish(c, result, built)


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
