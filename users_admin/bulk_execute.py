"""Carrying out a bulk run: a worker holds the run's lease and sends its users one by one.

Like exports.lease: the run is claimed with a conditional UPDATE (``lease_token``,
``lease_expires_at``), renewed while the worker makes progress, and every write to the run is
conditional on the token, so a worker whose lease lapsed (killed, hung, its message delivered
again) stops at its next write. Pause and cancel take the lease away; resume queues the run again.

No user is sent twice: before its call an item is marked *sending* and committed. A worker that
takes a run over finds the items left *sending* by one that died: an action whose calls are all
idempotent (PATCH, DELETE) is sent again; one with a POST (an email, a job) is recorded
*unknown* and never repeated on doubt.

Every call waits for its bucket's slot in the tenant's budget (management_api.pacing, shared by
every worker) right before it is sent (`pacing.bulk_calls`, asked by http.send): a 429 reaches
the run, which pauses the budget and sends the user again after the pause; it never fails a
user.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django import db
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from management_api import ManagementApiError, TransientError, pacing
from staff.audit import record_for

from . import bulk, bulk_rows
from .actions import NotApplicable, Result, perform, state
from .models import BulkItem, BulkOutcome, BulkRun, BulkRunStatus

logger = logging.getLogger("users_admin.bulk")

HEARTBEAT_SECONDS = 1.0
# A key a run found absent (the value it restores by removing the key again).
ABSENT = "(absent)"
CHUNK = 200
# Items a retry or undo run copies at a time.
FOLLOW_UP_BATCH = 2000
# Sends of one user that ended without an answer before an idempotent call counts as failed.
IDEMPOTENT_ATTEMPTS = 3
STARTABLE = (BulkRunStatus.QUEUED, BulkRunStatus.RUNNING)
SETTLED = (BulkRunStatus.DONE, BulkRunStatus.CANCELLED, BulkRunStatus.FAILED)


class LeaseLost(Exception):
    """The run was paused, cancelled or taken over: stop without writing to it."""


# --- pacing --------------------------------------------------------------------------------

# Longest single wait for a budget's slot before the lease is renewed (and a pause or cancel
# from the page noticed).
PACE_WAIT_SECONDS = 1.0


def pace(c: Claim, method: str, path: str, *, sending: bool = False) -> None:
    """Wait for the slot of the call's bucket in the tenant's budget, shared by every worker
    (management_api.pacing), renewing the run's lease while the budget is full or paused. While
    a user is being sent (`sending`), a pause or cancel from the page lets its calls go on: the
    run stops after that user."""
    tenant = c.run.tenant
    bucket = pacing.bucket_for(method, path, pacing.tenant_plan(tenant))
    while True:
        try:
            pacing.acquire(tenant, bucket, PACE_WAIT_SECONDS)
            return
        except pacing.PacingTimeout:
            try:
                c.beat(force=True)
            except LeaseLost:
                if not sending:
                    raise


@dataclass
class Slots:
    """Paces each call of one user as it is sent (http.send asks before each attempt): the
    first call's slot was taken before the user was marked, so a worker that dies waiting
    leaves no user in doubt."""

    c: Claim
    held: str  # the bucket of the slot already taken ("" once used)
    thread: int = field(default_factory=threading.get_ident)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self, method: str, path: str) -> None:
        # The reads of actions.state go at once from support.concurrently's threads: one at a
        # time here (the budget and the lease are database rows without Redis), and a thread's
        # own database connection closed after.
        with self.lock:
            bucket = pacing.bucket_for(method, path, pacing.tenant_plan(self.c.run.tenant))
            if bucket == self.held:
                self.held = ""
            else:
                pace(self.c, method, path, sending=True)
        if threading.get_ident() != self.thread and db.connection.connection is not None:
            db.connection.close()


def pause_budget(run: BulkRun, seconds: float) -> None:
    """A 429 pauses the buckets of the run's calls (http.send's hook has paused the one that
    answered, from its headers; this holds if the hook's tenant differed)."""
    plan = pacing.tenant_plan(run.tenant)
    for method, path in bulk.calls_per_user(bulk.ACTIONS[run.action]):
        bucket = pacing.bucket_for(method, path, plan)
        pacing.store().pause((run.tenant, bucket), min(seconds, pacing.MAX_PAUSE_SECONDS))


# --- the lease -----------------------------------------------------------------------------


@dataclass
class Claim:
    run: BulkRun
    token: str
    counts: Counter[str] = field(default_factory=Counter)
    last_beat: float = 0.0
    sent_since: int = 0
    since: float = field(default_factory=time.monotonic)

    def beat(self, force: bool = False) -> None:
        """Renew the lease and publish the progress, every HEARTBEAT_SECONDS (at once when
        `force`d); LeaseLost when the run was taken away. Between heartbeats nothing is asked
        of the database: marking the next user checks the run is still this worker's and
        running (a pause or cancel stops it there)."""
        now_mono = time.monotonic()
        if not force and now_mono - self.last_beat < HEARTBEAT_SECONDS:
            return
        elapsed = max(now_mono - self.since, 0.001)
        now = timezone.now()
        updated = BulkRun.objects.filter(
            pk=self.run.pk, lease_token=self.token, status=BulkRunStatus.RUNNING
        ).update(
            lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
            heartbeat_at=now,
            outcomes=dict(self.counts),
            rate_per_second=round(self.sent_since / elapsed, 3) if self.sent_since else None,
            updated_at=now,
        )
        if not updated:
            raise LeaseLost(f"bulk run {self.run.pk} was paused, cancelled or taken over")
        self.last_beat = now_mono


def claim(run_id: int) -> Claim | None:
    """Take a queued or running run whose lease is free; None when there is nothing to do."""
    now = timezone.now()
    token = uuid.uuid4().hex
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    updated = (
        BulkRun.objects.filter(pk=run_id, status__in=STARTABLE)
        .filter(lease_free)
        .update(
            status=BulkRunStatus.RUNNING,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=settings.EXPORT_LEASE_SECONDS),
            heartbeat_at=now,
            updated_at=now,
        )
    )
    if not updated:
        return None
    run = BulkRun.objects.select_related("requested_by").get(pk=run_id)
    if run.started_at is None:
        BulkRun.objects.filter(pk=run_id).update(started_at=now)
        run.started_at = now
        _event(run, "bulk.started", users=run.change_count)
    return Claim(run, token)


def _event(run: BulkRun, action: str, **details: Any) -> None:
    record_for(
        None,
        None,
        action,
        str(run),
        actor_label="Userdesk (bulk run worker)",
        bulk_action=run.action,
        requested_by=run.requested_by_label,
        approved_by=run.approved_by_label or "(not needed)",
        reason=run.reason,
        **details,
    )


# --- the worker's loop ---------------------------------------------------------------------


def execute(run_id: int) -> bool:
    """Send every user of the run that has not been sent, then finish it; True when the run
    goes on in a new delivery (a task stops well before its time limit). Safe to deliver twice:
    a second delivery finds the lease taken and does nothing."""
    c = claim(run_id)
    if c is None:
        return False
    stop_at = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT * 0.8
    try:
        _recover(c)
        while True:
            items = list(
                c.run.items.filter(outcome="", skip_reason="").order_by("position")[:CHUNK]
            )
            if not items:
                if _make_next_items(c):
                    continue
                break
            for item in items:
                _send_with_retries(c, item)
            if time.monotonic() > stop_at:
                _hand_over(c)
                return True
        _finish(c)
    except LeaseLost:
        logger.info("Bulk run %s: stopped (%s)", run_id, c.run.status)
        BulkRun.objects.filter(pk=run_id).update(outcomes=dict(c.counts))
    return False


def _hand_over(c: Claim) -> None:
    """Give the lease back, the run still running, for the next delivery to take."""
    c.beat(force=True)
    BulkRun.objects.filter(pk=c.run.pk, lease_token=c.token).update(
        lease_token="", lease_expires_at=None
    )


def _make_next_items(c: Claim) -> bool:
    """The run's next block of users becomes items (users_admin.bulk_rows), its preview's
    skips recorded as such; False when every block has."""
    block = c.run.blocks.filter(made=False).order_by("first").first()
    if block is None:
        return False
    c.beat(force=True)
    bulk_rows.make_items(c.run, block)
    _settle_skips(c)
    return True


def _settle_skips(c: Claim) -> None:
    """The preview's skips of the users made items so far are their outcome."""
    skipped = c.run.items.filter(outcome="").exclude(skip_reason="")
    for item in skipped.iterator(chunk_size=CHUNK):
        item.outcome, item.message = BulkOutcome.SKIPPED, item.skip_reason
        BulkItem.objects.filter(pk=item.pk).update(outcome=item.outcome, message=item.message)
        c.counts[item.outcome] += 1
        _audit_item(c.run, item)


def _recover(c: Claim) -> None:
    """Settle what a run already knows: the preview's skips of its users made items, and the
    users a dead worker left being sent (sent again when that is safe, else unknown). Then
    count the outcomes."""
    items = c.run.items
    now = timezone.now()
    _settle_skips(c)
    in_doubt = items.filter(outcome=BulkOutcome.SENDING)
    if _repeatable(c.run):
        in_doubt.update(outcome="")
    else:
        for item in in_doubt:
            item.outcome = BulkOutcome.UNKNOWN
            item.message = (
                "The worker stopped while this user was being sent and Auth0's answer was lost; "
                "not sent again (it is not safe to repeat)."
            )
            BulkItem.objects.filter(pk=item.pk).update(
                outcome=item.outcome, message=item.message, answer={}
            )
            _audit_item(c.run, item)
    rows = items.exclude(outcome="").values_list("outcome").annotate(n=Count("pk"))
    c.counts = Counter({outcome: n for outcome, n in rows})
    c.since = time.monotonic()
    BulkRun.objects.filter(pk=c.run.pk).update(outcomes=dict(c.counts), updated_at=now)


def _repeatable(run: BulkRun) -> bool:
    """Whether every call of the run's action may be sent twice with the same effect."""
    return all(method != "POST" for method, _ in bulk.ACTIONS[run.action].calls)


def _send_with_retries(c: Claim, item: BulkItem) -> None:
    attempts = 1
    while True:
        again = _send(c, item, last_try=attempts >= IDEMPOTENT_ATTEMPTS)
        if again is None:
            return
        if again > 0:  # a 429 (0: sent again once the budget's pause ends) is no attempt
            attempts += 1
        c.beat(force=True)
        time.sleep(again)


def _send(c: Claim, item: BulkItem, *, last_try: bool) -> float | None:
    """Send one user: None once its outcome is recorded, else seconds to wait before again."""
    run = c.run
    action = bulk.ACTIONS[run.action]
    first = bulk.calls_per_user(action)[0]
    pace(c, *first)
    slots = Slots(c, pacing.bucket_for(*first, pacing.tenant_plan(run.tenant)))
    c.beat()
    # Marked only while the run is still ours: a pause or cancel since stops it here.
    marked = BulkItem.objects.filter(
        pk=item.pk, outcome="", run__lease_token=c.token, run__status=BulkRunStatus.RUNNING
    ).update(outcome=BulkOutcome.SENDING, sent_at=timezone.now())
    if not marked:
        c.beat(force=True)  # raises LeaseLost when the run was taken away
        return None
    try:
        with pacing.bulk_calls(slots.before):
            result = _perform(run, item)
    except NotApplicable as exc:
        _record(c, item, BulkOutcome.SKIPPED, str(exc))
    except TransientError as exc:
        if exc.status == 429:
            # Auth0 did not do it: the budget pauses, and the user is sent again after it.
            BulkItem.objects.filter(pk=item.pk).update(outcome="")
            pause_budget(run, max(exc.retry_after_seconds, 1.0))
            return 0.0
        if _repeatable(run) and not last_try:
            # Doing it again is harmless: later, not failed.
            BulkItem.objects.filter(pk=item.pk).update(outcome="")
            return max(exc.retry_after_seconds, 0.1)
        outcome = BulkOutcome.FAILED if _repeatable(run) else BulkOutcome.UNKNOWN
        _record(c, item, outcome, f"Auth0's answer was lost: {exc}", _answer(exc))
    except ManagementApiError as exc:
        _record(c, item, BulkOutcome.FAILED, exc.message or str(exc), _answer(exc))
    else:
        item.before, item.after = result.before, result.after
        _record(c, item, BulkOutcome.DONE, result.message, result.answer, changed=True)
    c.sent_since += 1
    return None


def _perform(run: BulkRun, item: BulkItem) -> Result:
    """The support action's perform; an undo first checks nobody changed the user since."""
    action = bulk.ACTIONS[run.action]
    data = action.form_data(run.params, item.profile)
    if not run.params.get("undo"):
        return perform(action.action, item.user_id, data)
    bench = state(action.action, item.user_id)
    if bench is None:
        raise NotApplicable("The user does not exist at Auth0.")
    which = str(run.params["which"])
    now = dict(bench.profile.get(which) or {})
    left = dict(item.profile[bulk.UNDO]["expect"])
    changed = sorted(k for k in left if now.get(k, ABSENT) != left[k])
    if changed:
        raise NotApplicable(
            f"Changed since the run by someone else ({which}: {', '.join(changed)}): not undone."
        )
    return action.action.perform(bench, data)


def _answer(exc: ManagementApiError) -> dict[str, Any]:
    return {"status": exc.status, "message": exc.message, "errorCode": exc.error_code}


def _record(
    c: Claim,
    item: BulkItem,
    outcome: str,
    message: str,
    answer: dict[str, Any] | None = None,
    *,
    changed: bool = False,
) -> None:
    item.outcome, item.message, item.answer = outcome, message, answer or {}
    fields: dict[str, Any] = {"outcome": outcome, "message": message, "answer": item.answer}
    if changed:
        fields.update(before=item.before, after=item.after)
    # The outcome and its audit event together: one commit a user, not two (each commit waits
    # for the database's log to reach the disk, a wait staff's page views share).
    with transaction.atomic():
        BulkItem.objects.filter(pk=item.pk).update(**fields)
        _audit_item(c.run, item)
    c.counts[outcome] += 1


def _audit_item(run: BulkRun, item: BulkItem) -> None:
    """One audit event per user, on that user (their timeline shows it)."""
    done = item.outcome == BulkOutcome.DONE
    record_for(
        None,
        run.requested_by,
        f"users.{bulk.ACTIONS[run.action].single}",
        item.user_id,
        actor_label=run.requested_by_label,
        reason=run.reason,
        outcome={"done": "ok", "skipped": "skipped"}.get(item.outcome, "error"),
        bulk_run=run.pk,
        requested_by=run.requested_by_label,
        approved_by=run.approved_by_label or "(not needed)",
        **({"before": item.before, "after": item.after} if done else {}),
        **({"skipped": item.message} if item.outcome == BulkOutcome.SKIPPED else {}),
        auth0=item.answer or ({"message": item.message} if not done else {}),
    )


def _finish(c: Claim) -> None:
    now = timezone.now()
    updated = BulkRun.objects.filter(
        pk=c.run.pk, lease_token=c.token, status=BulkRunStatus.RUNNING
    ).update(
        status=BulkRunStatus.DONE,
        finished_at=now,
        lease_token="",
        lease_expires_at=None,
        outcomes=dict(c.counts),
        rate_per_second=None,
        updated_at=now,
    )
    if not updated:
        raise LeaseLost(f"bulk run {c.run.pk} was paused, cancelled or taken over")
    _event(c.run, "bulk.finished", **{k: v for k, v in sorted(c.counts.items())})


# --- pause, resume, cancel (from the run's page) -------------------------------------------


def pause(run: BulkRun) -> bool:
    """Stop after the user being sent; the lease is taken so the worker stops at its next
    write."""
    return _control(run, (BulkRunStatus.QUEUED, BulkRunStatus.RUNNING), BulkRunStatus.PAUSED)


def resume(run: BulkRun) -> bool:
    return _control(run, (BulkRunStatus.PAUSED,), BulkRunStatus.QUEUED)


def cancel(run: BulkRun, by: str) -> bool:
    """The users not sent yet are never sent."""
    active = (BulkRunStatus.QUEUED, BulkRunStatus.RUNNING, BulkRunStatus.PAUSED)
    return _control(
        run, active, BulkRunStatus.CANCELLED, finished_at=timezone.now(), cancelled_by_label=by
    )


def _control(run: BulkRun, allowed: tuple[str, ...], status: str, **fields: Any) -> bool:
    now = timezone.now()
    updated = BulkRun.objects.filter(pk=run.pk, status__in=allowed).update(
        status=status,
        lease_token="",
        lease_expires_at=None,
        rate_per_second=None,
        heartbeat_at=now,
        updated_at=now,
        **fields,
    )
    run.refresh_from_db()
    return bool(updated)


def stalled() -> list[int]:
    """Runs to send to a worker again: queued ones nobody picked up for a while (the broker
    lost the message), running ones whose worker stopped renewing its lease."""
    now = timezone.now()
    quiet = now - timedelta(seconds=settings.EXPORT_QUEUED_GRACE_SECONDS)
    lease_free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    candidates = BulkRun.objects.filter(lease_free).filter(
        Q(status=BulkRunStatus.QUEUED, updated_at__lt=quiet) | Q(status=BulkRunStatus.RUNNING)
    )
    found = []
    for run_id, updated in candidates.values_list("pk", "updated_at"):
        if BulkRun.objects.filter(pk=run_id, updated_at=updated).update(updated_at=now):
            found.append(run_id)
    return found


# --- what the page shows -------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    counts: dict[str, int]
    seconds_left: int | None
    took_seconds: float | None = None  # a finished run's, from its start (pauses included)

    @property
    def percent(self) -> int:
        return round(100 * self.sent / self.total) if self.total else 100

    @property
    def users_per_second(self) -> float | None:
        """A finished run's pace on average (pauses included)."""
        return self.sent / self.took_seconds if self.took_seconds else None


def progress(run: BulkRun) -> Progress:
    counts = {k: int(v) for k, v in (run.outcomes or {}).items() if k != BulkOutcome.SENDING}
    total = run.selected_count or 0
    sent = sum(counts.values())
    left = max(total - sent, 0)
    rate = run.rate_per_second
    if not rate and run.action:
        rate = bulk.users_per_second(run.tenant, bulk.ACTIONS[run.action])
    seconds = round(left / rate) if rate and run.status not in SETTLED else None
    took = None
    if run.started_at and run.finished_at:
        took = (run.finished_at - run.started_at).total_seconds()
    return Progress(total, sent, counts, seconds, took)


# --- results and retries -------------------------------------------------------------------

RESULT_COLUMNS = ("user_id", "email", "outcome", "message", "before", "after", "auth0_answer")


def result_rows(run: BulkRun, *, masked: bool = False) -> Iterator[str]:
    """The result file: a header, then every user of the run in order (never-sent ones say
    so), CSV cells guarded against spreadsheet formulas; `masked`, the personal data of
    PII_MASKED_FIELDS masked (users_admin.pii) in ids, emails, values and Auth0's answers."""
    from .pii import mask

    shown = mask if masked else (lambda value: value)
    yield _csv_line(RESULT_COLUMNS)
    for item in bulk_rows.every_item(run):
        outcome = item.outcome or ("skipped" if item.skip_reason else "not sent")
        ids = shown({"user_id": item.user_id, "email": item.email})
        yield _csv_line(
            (
                ids["user_id"],
                ids["email"],
                outcome,
                item.message or item.skip_reason,
                _json(shown(item.before)) if item.outcome == BulkOutcome.DONE else "",
                _json(shown(item.after)) if item.outcome == BulkOutcome.DONE else "",
                _json(shown(item.answer)) if item.answer else "",
            )
        )


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _csv_line(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        [f"'{cell}" if cell[:1] in FORMULA_STARTS else cell for cell in cells]
    )
    return out.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def retry_failed(run: BulkRun, user: Any) -> BulkRun | None:
    """A new run of the same action, reason and ticket on the users this one failed: it is
    previewed (from the same snapshot) and requested like any run."""
    failed = run.items.filter(outcome=BulkOutcome.FAILED).order_by("position")
    if not failed.exists():
        return None
    return _follow_up(
        run, user, BulkRun.Source.RETRY, failed, lambda item: item.profile, action=run.action
    )


def undo_run(run: BulkRun, user: Any) -> BulkRun | None:
    """A new run that puts back what this one changed, for the users it did: block and unblock
    undo each other; a metadata run restores exactly the keys it set or removed, to each user's
    recorded before-value. Previewed and requested like any run."""
    if run.action not in bulk.INVERSE or not bulk.ACTIONS[run.action].undoable:
        return None
    done = run.items.filter(outcome=BulkOutcome.DONE).order_by("position")
    if not done.exists():
        return None
    params: dict[str, Any] = {}
    if run.action == "metadata":
        which = str(run.params["which"])
        params = {"which": which, "patch": run.params["patch"], "undo": True}
    return _follow_up(
        run,
        user,
        BulkRun.Source.UNDO,
        done,
        lambda item: _as_left(run, item),
        action=bulk.INVERSE[run.action],
        params=params,
        reason=f"Undo of bulk run #{run.pk}: {run.reason}"[:500],
    )


def _follow_up(
    run: BulkRun,
    user: Any,
    source: str,
    items: QuerySet[BulkItem],
    profile: Callable[[BulkItem], dict[str, Any]],
    **fields: Any,
) -> BulkRun:
    """A new run on some users of `run` (same snapshot, ticket and, unless given, action, params
    and reason), its preview to be worked out; each user's profile is `profile(item)`. The items
    stream in batches: a million-user run's undo holds one batch at a time."""
    child = BulkRun.objects.create(
        tenant=run.tenant,
        source=source,
        parent=run,
        query=run.query,
        list_name=run.list_name,
        requested_by=user,
        requested_by_label=user.get_username(),
        export=run.export,
        snapshot_at=run.snapshot_at,
        status=BulkRunStatus.PREVIEWING,
        selected_count=items.count(),
        ticket=run.ticket,
        preview_version=1,
        selection_key=f"{source}:{run.pk}",
        **{"params": run.params, "reason": run.reason, **fields},
    )
    with bulk_rows.BlockWriter(child) as writer:
        for item in items.iterator(chunk_size=FOLLOW_UP_BATCH):
            writer.add_user(item.user_id, item.email, profile(item))
    return child


def _as_left(run: BulkRun, item: BulkItem) -> dict[str, Any]:
    """The user as the run left them (what the undo's preview reads), with the undo's patch."""
    profile = dict(item.profile)
    if run.action in ("block", "unblock"):
        profile["blocked"] = run.action == "block"
        return profile
    which = str(run.params["which"])
    keys = list(dict(run.params["patch"]))
    before = dict(dict(item.before).get(which) or {})
    after = dict(dict(item.after).get(which) or {})
    profile[which] = after
    profile[bulk.UNDO] = {
        "patch": {key: before.get(key) for key in keys},
        "expect": {key: after.get(key, ABSENT) for key in keys},
    }
    return profile
