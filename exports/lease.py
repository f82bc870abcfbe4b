"""Claiming exports and changing their status: every write a worker makes to an Export.

Work on a row is claimed with a conditional UPDATE (as healthchecks claims its checks):

- ``step`` numbers the pipeline's steps. A task carries the step it was sent for; a delivery
  whose step is not the row's current one is a stale duplicate and does nothing.
- The lease (``lease_token``, ``lease_expires_at``) says which worker holds the row right now.
  Every write a worker makes is conditional on its token, so a worker whose lease lapsed (it
  hung, or it was killed and its message redelivered) can no longer change the row.
- ``attempts`` counts the deliveries that claimed the current step. A step that never ends
  (a worker killed every time, a bug, a database that keeps failing) fails the export once
  ``EXPORT_STEP_ATTEMPTS`` deliveries have claimed it, instead of being retried forever.
- ``heartbeat_at`` moves whenever a worker makes progress; :func:`stale` finds exports that
  nobody has touched for a while (the broker was down at submit, a worker was killed).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import notify
from .models import ACTIVE_STATUSES, NOTIFIED_STATUSES, Export, ExportEvent, Status

logger = logging.getLogger("exports")

# Seconds between two lease renewals while a long step runs.
HEARTBEAT_EVERY_SECONDS = 5.0


class LeaseLost(Exception):
    """Another delivery took this export over; stop without touching it."""


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
    """Take the export for `step`: a Claim; or seconds until the current lease lapses (someone
    else holds it); or None when there is nothing to do (settled, or a stale step)."""
    now = timezone.now()
    token = uuid.uuid4().hex
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    updated = (
        Export.objects.filter(pk=export_id, step=step, status__in=ACTIVE_STATUSES)
        .filter(lease_free)
        .update(
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
            heartbeat_at=now,
            attempts=F("attempts") + 1,
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


def over_budget(c: Claim) -> bool:
    return c.export.attempts > settings.EXPORT_STEP_ATTEMPTS


def release(c: Claim, *, next_step: bool) -> int:
    """Give the lease back; with next_step, the next delivery must carry step + 1."""
    fields: dict[str, Any] = {
        "lease_token": "",
        "lease_expires_at": None,
        "heartbeat_at": timezone.now(),
    }
    if next_step:
        fields["step"] = F("step") + 1
        fields["attempts"] = 0
    updated = Export.objects.filter(pk=c.export.pk, lease_token=c.token).update(**fields)
    if not updated:
        raise LeaseLost(f"export {c.export.pk} was taken over")
    return Export.objects.values_list("step", flat=True).get(pk=c.export.pk)


def hand_back(c: Claim) -> None:
    """Give the lease back after an error, so a redelivery or the sweep can take the step at
    once instead of waiting for the lease to lapse."""
    try:
        Export.objects.filter(pk=c.export.pk, lease_token=c.token).update(
            lease_token="", lease_expires_at=None
        )
    except DatabaseError:
        logger.warning("Export %s: could not hand back the lease; it lapses", c.export.pk)


def update(c: Claim, **fields: Any) -> None:
    """Change columns (not the status) while holding the lease."""
    if not Export.objects.filter(pk=c.export.pk, lease_token=c.token).update(**fields):
        raise LeaseLost(f"export {c.export.pk} was taken over")
    for name, value in fields.items():
        setattr(c.export, name, value)


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
    if status in NOTIFIED_STATUSES:
        notify.export_settled(c.export.pk)


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


def fail_unexpectedly(c: Claim, what: str) -> None:
    """End the export after an error nobody planned for: a plain reason for the page, the
    traceback in the worker's log under a reference quoted in that reason."""
    reference = uuid.uuid4().hex[:10]
    logger.exception("Export %s: %s (reference %s)", c.export.pk, what, reference)
    fail(
        c,
        f"The export stopped on an unexpected error while {what} "
        f"(reference {reference} in the worker's log). Run it again; if it fails the same "
        "way, tell the team that runs Userdesk the reference.",
    )


def stale() -> list[tuple[int, int, str]]:
    """(export id, step) of exports nobody is working on, each touched so that a concurrent
    sweep does not send it too: queued ones the broker never delivered (the broker was down at
    submit) and in-progress ones whose worker went quiet. The third item is the timeline
    entry to write once it is sent (see resumed)."""
    now = timezone.now()
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    queued_cutoff = now - timedelta(seconds=settings.EXPORT_QUEUED_GRACE_SECONDS)
    stale_cutoff = now - timedelta(seconds=settings.EXPORT_STALE_SECONDS)
    candidates = Export.objects.filter(lease_free).filter(
        Q(status=Status.QUEUED, heartbeat_at__lt=queued_cutoff)
        | Q(status__in=ACTIVE_STATUSES[1:], heartbeat_at__lt=stale_cutoff)
        | Q(status__in=ACTIVE_STATUSES, heartbeat_at__isnull=True)
    )
    found: list[tuple[int, int, str]] = []
    rows = candidates.values_list("pk", "step", "heartbeat_at", "status")
    for export_id, step, heartbeat, status in rows:
        touched = Export.objects.filter(pk=export_id, step=step, heartbeat_at=heartbeat).update(
            heartbeat_at=now
        )
        if touched:
            found.append((export_id, step, _resume_message(status, heartbeat)))
    return found


def resumed(export_id: int, message: str) -> None:
    """The timeline entry of an export the sweep has sent to a worker again."""
    status = Export.objects.values_list("status", flat=True).get(pk=export_id)
    ExportEvent.objects.create(export_id=export_id, status=status, message=message)


def _resume_message(status: str, heartbeat: Any) -> str:
    if heartbeat is None:
        return "No worker had picked it up; sent to a worker again by the recovery sweep"
    since = timezone.localtime(heartbeat).strftime("%H:%M:%S")
    if status == Status.QUEUED:
        return (
            f"Still queued since {since} (the broker may have been down); sent to a worker "
            "again by the recovery sweep"
        )
    return (
        f"Worker lost: no progress since {since}; resumed by the recovery sweep at the step "
        "it had reached"
    )


def cancel(export: Export, *, by: str) -> bool:
    """Cancel an export that has not settled: one conditional UPDATE that also takes the lease
    from whichever worker holds it, so that worker's next write raises LeaseLost and nothing
    it made is published. False when the export settled first."""
    now = timezone.now()
    reason = f"Cancelled by {by}"
    with transaction.atomic():
        updated = Export.objects.filter(pk=export.pk, status__in=ACTIVE_STATUSES).update(
            status=Status.CANCELLED,
            failure_reason=reason,
            cancelled_at=now,
            cancelled_by_label=by,
            lease_token="",
            lease_expires_at=None,
            time_left_seconds=None,
            step=F("step") + 1,
            updated_at=now,
        )
        if not updated:
            return False
        ExportEvent.objects.create(export=export, status=Status.CANCELLED, message=reason)
    export.refresh_from_db()
    return True
