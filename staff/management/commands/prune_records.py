from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from staff.retention import prune


class Command(BaseCommand):
    help = (
        "Delete Userdesk's records past their retention: audit events, action requests, bulk "
        "runs and export rows older than AUDIT_RETENTION_DAYS, recent searches older than "
        "RECENT_SEARCH_DAYS, expired sessions (beat does it hourly)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pruned = prune()
        counts = ", ".join(f"{count} {name}" for name, count in pruned.counts().items())
        self.stdout.write(
            f"Deleted {counts} (kept: {settings.AUDIT_RETENTION_DAYS} days of audit events, "
            f"{settings.RECENT_SEARCH_DAYS} days of recent searches)."
        )
