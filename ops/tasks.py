from __future__ import annotations

from celery import shared_task
from django.core.cache import cache
from django.db import connection


def ping_key(token: str) -> str:
    return f"worker-ping:{token}"


@shared_task(name="ops.ping", soft_time_limit=20, time_limit=30)
def ping(token: str) -> str:
    """A round trip through broker and worker: the worker reads the database and answers in the
    cache every process shares (a health check writes nothing to the append-only audit log).

    `manage.py celery_ping` sends it to check a deployment; the tests use it to prove that a
    real worker picks up work on the embedded filesystem broker.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    cache.set(ping_key(token), "ok", timeout=300)
    return token
