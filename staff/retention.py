"""How long Userdesk keeps its own records (docs/operator/storage.md has the table): audit events,
the action requests, bulk runs, reveals, data-subject packages, import runs and scheduled runs
they describe, and export rows for AUDIT_RETENTION_DAYS; recent
searches for RECENT_SEARCH_DAYS; expired sessions not at all. Beat runs `prune` hourly
(staff.tasks.prune_records); `manage.py prune_records` runs it by hand."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.utils import timezone

from . import audit
from .models import AuditEvent

log = logging.getLogger(__name__)

# Rows deleted per statement, so a first prune of years of events holds no lock for long.
BATCH = 5000


@dataclass(frozen=True)
class Pruned:
    audit_events: int = 0
    action_requests: int = 0
    bulk_runs: int = 0
    exports: int = 0
    recent_searches: int = 0
    reveals: int = 0
    data_packages: int = 0
    import_runs: int = 0
    schedule_runs: int = 0

    @property
    def total(self) -> int:
        return sum(vars(self).values())

    def counts(self) -> dict[str, int]:
        """{"audit events": 3, ...}: how many of each kind were deleted."""
        return {name.replace("_", " "): count for name, count in vars(self).items()}


def prune(now: datetime | None = None) -> Pruned:
    """Delete what is past its retention; an `audit.pruned` event says how much, and up to when."""
    from exports import retention as export_retention
    from exports.models import Export, ImportRun, ScheduleRun
    from users_admin.models import ActionRequest, BulkRun, DataPackage, RecentSearch, Reveal

    now = now or timezone.now()
    kept_from = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    searches_from = now - timedelta(days=settings.RECENT_SEARCH_DAYS)
    old_exports = list(Export.objects.filter(updated_at__lt=kept_from))
    for export in old_exports:
        export_retention.delete(export)
    pruned = Pruned(
        audit_events=AuditEvent.objects.expire(kept_from, batch=BATCH),
        action_requests=ActionRequest.objects.filter(created_at__lt=kept_from).delete()[0],
        bulk_runs=BulkRun.objects.filter(updated_at__lt=kept_from)
        .delete()[1]
        .get(BulkRun._meta.label, 0),
        exports=len(old_exports),
        recent_searches=RecentSearch.objects.filter(searched_at__lt=searches_from).delete()[0],
        reveals=Reveal.objects.filter(expires_at__lt=kept_from).delete()[0],
        # A package's file is gone at its download or expiry (users_admin.packages); its row
        # (who asked, why, when) lives as long as the audit events about it.
        data_packages=DataPackage.objects.filter(created_at__lt=kept_from).delete()[0],
        import_runs=ImportRun.objects.filter(updated_at__lt=kept_from)
        .delete()[1]
        .get(ImportRun._meta.label, 0),
        schedule_runs=ScheduleRun.objects.filter(created_at__lt=kept_from).delete()[0],
    )
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
    if pruned.total:
        details: dict[str, Any] = {
            "kept_from": kept_from.isoformat(timespec="seconds"),
            "searches_kept_from": searches_from.isoformat(timespec="seconds"),
            **{name: count for name, count in pruned.counts().items() if count},
        }
        audit.record_for(None, None, audit.RECORDS_PRUNED, actor_label="retention", **details)
        log.info("Pruned past their retention: %s", pruned)
    return pruned
