"""Celery tasks: thin wrappers that take a primary key and call exports.pipeline."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from management_api.errors import TransientError

from . import pipeline, retention


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.EXPORT_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.EXPORT_TASK_TIME_LIMIT,
    # Transient only: the upstream being busy, or the database briefly locked or unreachable.
    # A step that fails this way hands its lease back first, so the retry can claim it.
    autoretry_for=(TransientError, OperationalError),
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=10,
)
def run_export(export_id: int, step: int) -> None:
    """One pipeline step; schedules the next one. Safe to deliver twice (see pipeline)."""
    following = pipeline.advance(export_id, step)
    if following is not None:
        run_export.apply_async((export_id, following.step), countdown=following.delay)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_exports() -> int:
    return pipeline.sweep()


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def prune_exports() -> int:
    return len(retention.prune())
