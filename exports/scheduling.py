"""Starting scheduled exports: the beat's periodic task (`run_due_schedules`, below) finds the
due schedules and starts each occurrence once.

Once per occurrence, whatever the beats: the occurrence's ScheduleRun is inserted in the same
transaction that moves the schedule's ``next_run_at`` on, and (schedule, occurrence) is unique,
so a second beat, a retry or a re-delivered task finds the row (or the moved schedule) and
creates nothing. A run is skipped while the schedule's previous export is still running; it
fails to start when its spec no longer holds (a query Userdesk cannot answer). Either is kept
on the schedule's page and emailed to the owner; a started run's export emails its owner as
every export does (exports.notify).

A changed-since run (scope created or changed) keeps the users whose ``created_at`` or
``updated_at`` is at or after the start of the last successful run, less
EXPORT_SCHEDULE_OVERLAP_MINUTES: Auth0 writes users to its search index and export a little
after it changes them, so a user changed just before the previous run's snapshot may be
missing from it. Users changed inside the overlap appear in both files. The first run of such
a schedule exports every matching user.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from management_api.tenants import TenantError, tenant_label, tenant_scope
from staff.permissions import Capability, can

from . import matching, recurrence
from .models import ACTIVE_STATUSES, ExportSpec
from .schedule_models import ExportSchedule, RunOutcome, ScheduleRun
from .tasks import create_export

logger = logging.getLogger("exports")


def window_start(schedule: ExportSchedule) -> datetime | None:
    """Where a changed-since run starts: the last successful run's start less the overlap;
    None for a full export or the first run."""
    if not schedule.changed_field:
        return None
    last = schedule.last_success()
    if last is None or last.export is None:
        return None
    overlap = timedelta(minutes=settings.EXPORT_SCHEDULE_OVERLAP_MINUTES)
    return last.export.created_at - overlap


def run_spec(schedule: ExportSchedule, since: datetime | None, occurrence: datetime) -> ExportSpec:
    """The export a run asks for: the schedule's spec, narrowed to the window when it has one."""
    spec = ExportSpec.from_data(schedule.spec)
    name = f"{schedule.name} — {occurrence:%Y-%m-%d %H:%M} UTC"
    if since is None:
        return dataclasses.replace(spec, name=name[:120])
    base = spec.match_query or spec.source_query
    query = recurrence.changed_since_query(base, field=schedule.changed_field, since=since)
    return dataclasses.replace(spec, match_query=query, name=name[:120])


def owner_refused(schedule: ExportSchedule) -> str:
    """Why the owner may no longer have exports made in their name on the schedule's tenant
    (deactivated, or no longer allowed to schedule exports there), or ""."""
    owner = schedule.owner
    if not owner.is_active:
        return f"its owner {owner.get_username()} is deactivated."
    if not can(owner, Capability.SCHEDULE_EXPORTS):
        return (
            f"its owner {owner.get_username()} may no longer schedule exports on this tenant; "
            "another export admin can make a new schedule."
        )
    return ""


def due(now: datetime | None = None) -> list[tuple[int, datetime]]:
    moment = now or timezone.now()
    rows = (
        ExportSchedule.objects.filter(paused=False, next_run_at__lte=moment)
        .order_by("next_run_at")
        .values_list("pk", "next_run_at")
    )
    return [(pk, at) for pk, at in rows if at is not None]


def start_occurrence(schedule_id: int, occurrence: datetime) -> ScheduleRun | None:
    """Start (or skip) one due occurrence; None when another beat did it already."""
    now = timezone.now()
    try:
        with transaction.atomic():
            schedule = (
                ExportSchedule.objects.select_for_update()
                .select_related("owner")
                .filter(pk=schedule_id, paused=False, next_run_at=occurrence)
                .first()
            )
            if schedule is None:
                return None
            run = ScheduleRun(schedule=schedule, occurrence=occurrence)
            running = schedule.runs.filter(export__status__in=ACTIVE_STATUSES).first()
            if running is not None:
                run.outcome = RunOutcome.SKIPPED
                run.message = (
                    f"Skipped: the run of {running.occurrence:%Y-%m-%d %H:%M} UTC "
                    f"(export #{running.export_id}) was still running."
                )
            else:
                run.window_start = window_start(schedule)
                spec = run_spec(schedule, run.window_start, occurrence)
                try:
                    if spec.match_query:
                        spec.exact_plan()
                except (matching.Unanswerable, ValueError) as exc:
                    run.outcome = RunOutcome.FAILED
                    run.message = f"Could not start: {exc}"
                else:
                    try:
                        with tenant_scope(schedule.tenant):
                            refused = owner_refused(schedule)
                            if not refused:
                                run.export = create_export(spec, requested_by=schedule.owner)
                    except TenantError as exc:
                        refused = str(exc)
                    run.outcome = RunOutcome.FAILED if refused else RunOutcome.STARTED
                    run.message = f"Could not start: {refused}" if refused else ""
            run.save()
            schedule.next_run_at = schedule.next_after(max(now, occurrence))
            schedule.save(update_fields=["next_run_at"])
    except IntegrityError:
        return None  # the occurrence's run exists: another beat started it
    if run.outcome != RunOutcome.STARTED:
        notify_run(run.pk)
    return run


def run_due(now: datetime | None = None) -> int:
    """Start every due occurrence; the number of runs recorded."""
    return sum(start_occurrence(pk, at) is not None for pk, at in due(now))


# Beat's periodic task, beside what it does (this module imports exports.tasks, for
# create_export, so the task is not there); the worker imports it through CELERY_IMPORTS.
@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def run_due_schedules() -> int:
    """Start the scheduled exports that are due, each occurrence once."""
    return run_due()


def notify_run(run_id: int) -> bool:
    """Email the owner that a run was skipped or could not start, once. True when sent."""
    if not settings.EXPORT_NOTIFY:
        return False
    claimed = ScheduleRun.objects.filter(
        pk=run_id, outcome__in=(RunOutcome.SKIPPED, RunOutcome.FAILED), notified_at__isnull=True
    ).update(notified_at=timezone.now())
    if not claimed:
        return False
    run = ScheduleRun.objects.select_related("schedule__owner").get(pk=run_id)
    schedule = run.schedule
    to = schedule.owner.email
    if not to:
        return False
    link = f"{settings.USERDESK_BASE_URL}{schedule.get_absolute_url()}"
    verb = "was skipped" if run.outcome == RunOutcome.SKIPPED else "could not start"
    subject = f"Scheduled export “{schedule.name}” {verb}"
    body = (
        f"The run of {run.occurrence:%Y-%m-%d %H:%M} UTC of “{schedule.name}” "
        f"({tenant_label(schedule.tenant)}) {verb}:\n\n{run.message}\n\n"
        f"The schedule's page:\n{link}\n\nUserdesk\n"
    )
    try:
        send_mail(subject, body, None, [to])
    except Exception as exc:  # SMTP refusals, DNS, timeouts: logged, the run stays as it is
        logger.warning("Schedule run %s: the email to %s was not sent: %s", run_id, to, exc)
        return False
    return True
