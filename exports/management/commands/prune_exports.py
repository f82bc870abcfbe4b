from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from exports.retention import prune


class Command(BaseCommand):
    help = "Delete export files older than EXPORT_RETENTION_DAYS; the rows stay as tombstones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep files this many days (default EXPORT_RETENTION_DAYS, now "
            f"{settings.EXPORT_RETENTION_DAYS})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.EXPORT_RETENTION_DAYS
        purged = prune(days=days)
        self.stdout.write(f"Purged {len(purged)} export file(s) older than {days} days.")
