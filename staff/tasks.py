from __future__ import annotations

from celery import shared_task

from . import retention
from .models import AuditEvent


@shared_task(name="staff.ping", soft_time_limit=20, time_limit=30)
def ping(token: str) -> str:
    """A round trip through broker and worker that leaves a trace in the database.

    `manage.py celery_ping` sends it to check a deployment; the tests use it to prove that a
    real worker picks up work on the embedded filesystem broker.
    """
    AuditEvent.objects.create(actor_label="celery worker", action="worker.ping", target=token)
    return token


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def prune_records() -> int:
    """Beat's hourly prune of Userdesk's records past their retention (staff.retention)."""
    return retention.prune().total
