"""Celery tasks of bulk runs: thin wrappers around users_admin.bulk_select."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError, transaction

from exports.tasks import ExportTask

from . import bulk_select
from .models import BulkRun


@shared_task(
    base=ExportTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=10,
)
def select_bulk_run(run_id: int) -> None:
    """Wait for the run's snapshot, then record its users. Safe to deliver twice."""
    delay = bulk_select.advance(run_id)
    if delay is not None:
        select_bulk_run.apply_async((run_id,), countdown=delay)


def start_selection(run: BulkRun) -> None:
    """Freeze the run's users in a snapshot export; the worker reads it once it is ready."""
    with transaction.atomic():
        run.export = bulk_select.snapshot_export(run)
        run.save(update_fields=["export"])
        select_bulk_run.delay_on_commit(run.pk)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_bulk_runs() -> int:
    """Send again the selections nobody polls (their message was lost with the broker)."""
    stale = bulk_select.stalled_selections()
    for run_id in stale:
        select_bulk_run.apply_async((run_id,))
    return len(stale)
