from __future__ import annotations

from celery import shared_task

from . import retention


@shared_task(acks_late=True, soft_time_limit=1800, time_limit=1900)
def prune_records() -> int:
    """Beat's hourly prune of Userdesk's records past their retention (staff.retention)."""
    return retention.prune().total
