"""The worker's half of an import: submit each part once as an Auth0 job, poll it, keep
Auth0's answers, and settle the run.

One `advance(run_id, step)` call does one step and returns when to come back (`Next`), or
None. The run is claimed as an export is (exports.lease: a step number, a lease token that
every write is conditional on, an attempt budget per step), so a duplicated or stale delivery
does nothing and a killed worker's run is taken up again by the sweep at the part it reached.

Never twice: ``ImportPart.submitted_at`` is written before the request. A delivery that finds
it set with no job id does not send the part again (Auth0 may hold a job from a request whose
answer never arrived); the run stops there and says so. A 429 or a 5xx answer means Auth0
made no job, so the part is sent again later. Parts go one at a time (Auth0 runs at most two
import jobs per tenant), each request through the tenant's shared budget
(management_api.pacing).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

import management_api
from management_api import pacing
from management_api.errors import PermanentError, TransientError
from staff import audit

from .import_models import IMPORT_ACTIVE, ImportPart, ImportRun, ImportStatus, PartStatus
from .pipeline import AUTH0_JOB_LIFETIME, Next, poll_delay

logger = logging.getLogger("exports.imports")

UNSETTLED_PARTS = (PartStatus.WAITING, PartStatus.SUBMITTED)
T = TypeVar("T")


class LeaseLost(Exception):
    """Another delivery holds the run now."""


@dataclass
class Held:
    run: ImportRun
    token: str


def _claim(run_id: int, step: int) -> Held | float | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    mine = ImportRun.objects.filter(pk=run_id, step=step, status__in=IMPORT_ACTIVE)
    taken = mine.filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)).update(
        lease_token=token,
        lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
        heartbeat_at=now,
        attempts=F("attempts") + 1,
    )
    if taken:
        return Held(ImportRun.objects.get(pk=run_id), token)
    expires = mine.values_list("lease_expires_at", flat=True).first()
    return None if expires is None else max((expires - now).total_seconds(), 0.0) + 1.0


def _write(h: Held, **fields: Any) -> None:
    """Change the run while holding its lease."""
    if not ImportRun.objects.filter(pk=h.run.pk, lease_token=h.token).update(
        heartbeat_at=timezone.now(), **fields
    ):
        raise LeaseLost(f"import {h.run.pk} was taken over")
    for name, value in fields.items():
        setattr(h.run, name, value)


def _write_part(h: Held, part: ImportPart, **fields: Any) -> None:
    """Change a part while holding its run's lease (one transaction with the heartbeat)."""
    with transaction.atomic():
        _write(h)
        ImportPart.objects.filter(pk=part.pk).update(**fields)
    for name, value in fields.items():
        setattr(part, name, value)


def _release(h: Held) -> int:
    """Give the lease back; the next delivery carries the next step."""
    _write(h, lease_token="", lease_expires_at=None, step=F("step") + 1, attempts=0)
    return ImportRun.objects.values_list("step", flat=True).get(pk=h.run.pk)


def _hand_back(h: Held) -> None:
    try:
        ImportRun.objects.filter(pk=h.run.pk, lease_token=h.token).update(
            lease_token="", lease_expires_at=None
        )
    except DatabaseError:
        logger.warning("Import %s: could not hand back the lease; it lapses", h.run.pk)


def advance(run_id: int, step: int) -> Next | None:
    """Do one step of the run (see the module docstring)."""
    claimed = _claim(run_id, step)
    if claimed is None:
        return None
    if isinstance(claimed, float):
        return Next(step=step, delay=claimed)
    h = claimed
    try:
        if h.run.attempts > settings.EXPORT_STEP_ATTEMPTS:
            _settle(
                h,
                f"Gave up after {settings.EXPORT_STEP_ATTEMPTS} attempts at the same step: "
                "each ended without finishing it (the worker was stopped or lost).",
            )
            return None
        try:
            tenant = management_api.get_tenant(h.run.tenant)
        except management_api.UnknownTenant as exc:
            _settle(h, f"{exc}: this import's tenant is no longer in AUTH0_TENANTS.")
            return None
        with management_api.tenant_scope(tenant):
            return _step(h)
    except LeaseLost:
        logger.info("Import %s: another delivery took over step %s", run_id, step)
        return None
    except (TransientError, DatabaseError):
        _hand_back(h)
        raise
    except Exception:
        reference = uuid.uuid4().hex[:10]
        logger.exception("Import %s: unexpected error (reference %s)", run_id, reference)
        try:
            _settle(
                h,
                f"The import stopped on an unexpected error (reference {reference} in the "
                "worker's log). Parts not yet sent were not sent.",
            )
        except (LeaseLost, DatabaseError):
            _hand_back(h)
            raise
        return None
    except BaseException:
        _hand_back(h)
        raise


def _step(h: Held) -> Next | None:
    part = h.run.parts.filter(status__in=UNSETTLED_PARTS).order_by("number").first()
    if part is None:
        _settle(h)
        return None
    if h.run.status == ImportStatus.QUEUED:
        _write(h, status=ImportStatus.RUNNING)
    if part.status == PartStatus.WAITING:
        return _submit(h, part)
    return _poll(h, part)


def _paced(method: str, path: str) -> None:
    """Wait for this request's slot in the tenant's budget: PacingTimeout past the poll max,
    or a third of the lease (the wait must not outlast the lease this worker holds)."""
    tenant = management_api.current_tenant().slug
    bucket = pacing.bucket_for(method, path, pacing.tenant_plan(tenant))
    most = min(float(settings.EXPORT_POLL_MAX_SECONDS), settings.EXPORT_LEASE_SECONDS / 3)
    pacing.acquire(tenant, bucket, timeout=most)


def _later(h: Held, seconds: float) -> Next:
    return Next(step=_release(h), delay=max(seconds, float(settings.EXPORT_POLL_MIN_SECONDS)))


def _submit(h: Held, part: ImportPart) -> Next | None:
    run = h.run
    if part.submitted_at is not None:
        _orphan(h, part, "")
        return None
    try:
        _paced("POST", "/api/v2/jobs/users-imports")
    except pacing.PacingTimeout as exc:
        return _later(h, exc.retry_after_seconds)
    _write_part(h, part, submitted_at=timezone.now())
    try:
        with pacing.bulk_calls():
            answer = management_api.create_users_import(
                part.users.encode(),
                connection_id=run.connection_id,
                upsert=run.upsert,
                external_id=run.external_id,
                send_completion_email=run.send_completion_email,
                filename=f"import-{run.pk}-part-{part.number:04d}.json",
            )
    except TransientError as exc:
        if exc.status is None:
            _orphan(h, part, f" ({exc})")
            return None
        # Auth0 answered 429 (too many import jobs, or the rate limit) or 5xx: no job was made.
        _write_part(h, part, submitted_at=None, failure_reason=f"Sent again later: {exc}")
        return _later(h, exc.retry_after_seconds)
    except PermanentError as exc:
        answer = {"status": exc.status, "message": exc.message, "errorCode": exc.error_code}
        _write_part(
            h,
            part,
            status=PartStatus.FAILED,
            created_answer=answer,
            failure_reason=f"Auth0 refused part {part.number}: {exc}",
        )
        if exc.status == 413:
            return Next(step=_release(h), delay=0)
        _settle(h, f"Auth0 refused the import: {exc}")
        return None
    _write_part(
        h,
        part,
        status=PartStatus.SUBMITTED,
        auth0_job_id=str(answer.get("id") or ""),
        auth0_status=str(answer.get("status") or "")[:32],
        created_answer=answer,
        failure_reason="",
    )
    return _later(h, 0)


def _orphan(h: Held, part: ImportPart, detail: str) -> None:
    sent = timezone.localtime(part.submitted_at or timezone.now()).strftime("%H:%M:%S %Z")
    reason = (
        f"Part {part.number} was sent to Auth0 at {sent}, but its answer never arrived{detail}. "
        "Auth0 may hold a job for it that this import does not know of; to never import a "
        "part twice it is not sent again, and the import stops here. Check the users of that "
        "part in Auth0 before importing them again."
    )
    _write_part(h, part, status=PartStatus.FAILED, failure_reason=reason)
    _settle(h, reason)


def _read(path: str, call: Callable[[str], T], job_id: str) -> T:
    """A paced read of an import job (its status or its errors)."""
    _paced("GET", path.format(job_id))
    with pacing.bulk_calls():
        return call(job_id)


def _part_failed(h: Held, part: ImportPart, reason: str, **fields: Any) -> Next:
    """This part failed; the run goes on with the next one."""
    _write_part(h, part, status=PartStatus.FAILED, failure_reason=reason, **fields)
    return _later(h, 0)


def _poll(h: Held, part: ImportPart) -> Next | None:
    job_id = part.auth0_job_id
    try:
        job = _read("/api/v2/jobs/{}", management_api.get_job, job_id)
    except TransientError as exc:
        return _later(h, exc.retry_after_seconds)
    except PermanentError as exc:
        return _part_failed(h, part, f"Auth0 refused: {exc}")
    if job is None:
        return _part_failed(
            h, part, f"Auth0 no longer has job {job_id} (it deletes jobs after 24 hours)."
        )
    status = str(job.get("status") or "")
    found_summary = job.get("summary")
    summary: dict[str, Any] = found_summary if isinstance(found_summary, dict) else {}
    if status not in ("completed", "failed"):
        started = part.submitted_at or h.run.created_at
        if timezone.now() - started > AUTH0_JOB_LIFETIME:
            return _part_failed(
                h, part, f"Auth0's job {job_id} had not finished after 24 hours.", job_answer=job
            )
        _write_part(
            h, part, auth0_status=status[:32], job_answer=job, poll_count=part.poll_count + 1
        )
        return _later(h, poll_delay(None, part.poll_count))
    errors: list[dict[str, Any]] = []
    if status == "failed" or summary.get("failed"):
        # Read now: Auth0 deletes them with the job after 24 hours.
        try:
            errors = _read("/api/v2/jobs/{}/errors", management_api.get_job_errors, job_id)
        except TransientError as exc:
            return _later(h, exc.retry_after_seconds)
    fields: dict[str, Any] = {
        "status": PartStatus.COMPLETED if status == "completed" else PartStatus.FAILED,
        "auth0_status": status,
        "job_answer": job,
        "summary": summary,
        "errors": errors,
    }
    if status == "failed":
        details = job.get("status_details") or "Auth0 gave no reason (it could not read the file?)"
        fields["failure_reason"] = f"Auth0 reported job {job_id} as failed: {details}"
    _write_part(h, part, **fields)
    return _later(h, 0)


def _settle(h: Held, reason: str = "") -> None:
    """End the run: parts never sent are marked so; the outcome goes to the audit log with
    Auth0's answers."""
    run = h.run
    now = timezone.now()
    with transaction.atomic():
        run.parts.filter(status=PartStatus.WAITING).update(status=PartStatus.NOT_SENT)
        failed = run.parts.filter(status__in=(PartStatus.FAILED, PartStatus.NOT_SENT))
        if not reason and failed.exists():
            numbers = ", ".join(str(n) for n in failed.values_list("number", flat=True))
            reason = f"Part(s) {numbers} did not complete; see each part below."
        _write(
            h,
            status=ImportStatus.FAILED if reason else ImportStatus.COMPLETED,
            failure_reason=reason,
            finished_at=now,
            lease_token="",
            lease_expires_at=None,
        )
    totals = run.totals()
    audit.record_for(
        None,
        run.requested_by,
        "imports.finish",
        target=f"import #{run.pk}",
        status=run.status,
        connection=run.connection_name or run.connection_id,
        sha256=run.sha256,
        totals=totals,
        **({"reason": reason} if reason else {}),
        auth0=[
            {
                "part": p.number,
                "job": p.auth0_job_id,
                "status": p.auth0_status or p.status,
                "summary": p.summary,
                **({"answer": p.created_answer} if not p.auth0_job_id else {}),
            }
            for p in run.parts.order_by("number")
        ],
    )


def stale() -> list[tuple[int, int]]:
    """(run id, step) of active runs nobody works on: never delivered, or whose worker went
    quiet (killed); each touched so that a concurrent sweep does not send it too."""
    now = timezone.now()
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    quiet = Q(
        status=ImportStatus.QUEUED,
        heartbeat_at__lt=now - timedelta(seconds=settings.EXPORT_QUEUED_GRACE_SECONDS),
    ) | Q(
        status=ImportStatus.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=settings.EXPORT_STALE_SECONDS),
    )
    found = []
    for run_id, step, beat in (
        ImportRun.objects.filter(free).filter(quiet).values_list("pk", "step", "heartbeat_at")
    ):
        if ImportRun.objects.filter(pk=run_id, step=step, heartbeat_at=beat).update(
            heartbeat_at=now
        ):
            found.append((run_id, step))
    return found
