"""Celery tasks of bulk runs: thin wrappers around users_admin.bulk_select and bulk."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from celery import shared_task
from django.db import OperationalError, transaction

import management_api
from exports.tasks import ExportTask

from . import bulk, bulk_execute, bulk_select
from .models import BulkRun


def _scope(run_id: int) -> AbstractContextManager[Any]:
    """Every Management API call and stored row of a run's task is for the run's own tenant."""
    tenant = BulkRun.objects.filter(pk=run_id).values_list("tenant", flat=True).first()
    return management_api.tenant_scope(tenant) if tenant else nullcontext()


# Delivered again when a worker dies (acks_late), retried while the database is briefly away;
# sending never fails the caller (ExportTask: the sweep sends it again).
RUN_STEP: dict[str, Any] = {
    "base": ExportTask,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "max_retries": 10,
}


@shared_task(**RUN_STEP)
def select_bulk_run(run_id: int) -> None:
    """Wait for the run's snapshot, then record its users. Safe to deliver twice."""
    with _scope(run_id):
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
    """Send again the selections nobody polls and the runs no worker holds (their message was
    lost with the broker, their worker died), and expire the approvals nobody gave in time."""
    stale = bulk_select.stalled_selections()
    for run_id in stale:
        select_bulk_run.apply_async((run_id,))
    bulk.expire_pending()
    stalled = bulk_execute.stalled()
    for run_id in stalled:
        execute_bulk_run.apply_async((run_id,))
    return len(stale) + len(stalled)


@shared_task(**RUN_STEP)
def preview_bulk_run(run_id: int, version: int) -> None:
    """Work out what the run's action would change for each user, from the snapshot."""
    with _scope(run_id):
        bulk.compute_preview(run_id, version)


@shared_task(**RUN_STEP)
def execute_bulk_run(run_id: int) -> None:
    """Send the run's users (see users_admin.bulk_execute); a long run goes on in a new delivery."""
    with _scope(run_id):
        going_on = bulk_execute.execute(run_id)
    if going_on:
        execute_bulk_run.apply_async((run_id,))


# Data-subject packages: their tasks live with them (users_admin.packages).
from .packages import build_data_package, prune_data_packages  # noqa: E402, F401
