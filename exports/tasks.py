"""Celery tasks: thin wrappers that take a primary key and call exports.pipeline, and the one
place that enqueues them (always after the creating transaction commits)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import OperationalError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from management_api.errors import TransientError

from . import importcheck, importrun, lease, pipeline, retention
from .import_models import ImportPart, ImportRun, ImportStatus
from .models import Export, ExportSpec

logger = logging.getLogger("exports")


class ExportTask(DjangoTask):
    """A task whose sending never fails its caller: when the broker is unreachable the export
    stays as it is and the sweep sends it again once the broker is back."""

    def apply_async(  # type: ignore[override]
        self, args: Any = None, kwargs: Any = None, **options: Any
    ) -> Any:
        try:
            return super().apply_async(args, kwargs, **options)
        except (BrokerError, OSError) as exc:
            logger.warning("Export task %s not sent, the broker is unreachable: %s", args, exc)
            return None


# A pipeline step's task (an export's or an import's).
STEP_TASK: dict[str, Any] = {
    "base": ExportTask,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": settings.EXPORT_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.EXPORT_TASK_TIME_LIMIT,
    # Transient only: the upstream being busy, or the database briefly locked or unreachable.
    # A step that fails this way hands its lease back first, so the retry can claim it; the
    # step's attempt budget (exports.lease) bounds these retries too.
    "autoretry_for": (TransientError, OperationalError),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "max_retries": 10,
}


@shared_task(**STEP_TASK)
def run_export(export_id: int, step: int) -> None:
    """One pipeline step; schedules the next one. Safe to deliver twice (see exports.lease)."""
    following = pipeline.advance(export_id, step)
    if following is not None:
        run_export.apply_async((export_id, following.step), countdown=following.delay)


def create_export(
    spec: ExportSpec | Mapping[str, Any],
    *,
    requested_by: AbstractBaseUser | None,
    parent: Export | None = None,
    filter_conditions: Sequence[Mapping[str, str]] = (),
) -> Export:
    """Save a queued export and send its first step once the transaction commits."""
    if not isinstance(spec, ExportSpec):
        spec = ExportSpec.from_data(spec)
    with transaction.atomic():
        export = Export.objects.create_queued(
            spec, requested_by=requested_by, parent=parent, filter_conditions=filter_conditions
        )
        run_export.delay_on_commit(export.pk, export.step)
    return export


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_exports() -> int:
    """Send again the exports nobody works on (see exports.lease.stale)."""
    sent = 0
    for export_id, step, message in lease.stale():
        if run_export.apply_async((export_id, step)) is not None:
            lease.resumed(export_id, message)
            sent += 1
    return sent


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def prune_exports() -> int:
    return len(retention.prune())


# --- Imports into Auth0 (exports.importrun) ------------------------------------------------------


@shared_task(**STEP_TASK)
def run_import(run_id: int, step: int) -> None:
    """One step of an import; schedules the next. Safe to deliver twice (importrun's lease)."""
    following = importrun.advance(run_id, step)
    if following is not None:
        run_import.apply_async((run_id, following.step), countdown=following.delay)


def start_import(run: ImportRun, **chosen: Any) -> bool:
    """Queue a checked draft with the connection and options chosen (``chosen``: the
    ImportRun fields), its valid users split into parts. False when it was started already
    (a second submission of the same form): nothing is queued twice."""
    with run.file.open("rb") as source:
        users = orjson.loads(source.read())
    if chosen.get("new_user_ids"):
        users = [{k: v for k, v in user.items() if k != "user_id"} for user in users]
    made = importcheck.parts(users)
    now = timezone.now()
    with transaction.atomic():
        started = ImportRun.objects.filter(pk=run.pk, status=ImportStatus.DRAFT).update(
            status=ImportStatus.QUEUED, started_at=now, heartbeat_at=now, **chosen
        )
        if not started:
            return False
        ImportPart.objects.bulk_create(
            ImportPart(run=run, number=number, users=data.decode(), user_count=count)
            for number, (data, count) in enumerate(made, start=1)
        )
        run_import.delay_on_commit(run.pk, 0)
    run.refresh_from_db()
    return True


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_imports() -> int:
    """Send again the imports nobody works on (see exports.importrun.stale)."""
    return sum(
        run_import.apply_async((run_id, step)) is not None for run_id, step in importrun.stale()
    )
