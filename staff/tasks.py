from __future__ import annotations

from celery import shared_task

from .models import AuditEvent


@shared_task(name="staff.ping", soft_time_limit=20, time_limit=30)
def ping(token: str) -> str:
    """A round trip through broker and worker that leaves a trace in the database.

    `manage.py celery_ping` sends it to check a deployment; the tests use it to prove that a
    real worker picks up work on the embedded filesystem broker.
    """
    AuditEvent.objects.create(actor_label="celery worker", action="worker.ping", target=token)
    return token
