"""Retention: delete kept files older than EXPORT_RETENTION_DAYS, keep the rows as tombstones.
Imports' users (their checked file, the parts sent, the failing users) go after as long."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .import_models import IMPORT_ACTIVE, ImportRun
from .models import Export, ExportEvent, Status
from .storage import exports_storage

logger = logging.getLogger(__name__)
# Left-over files younger than this may still be on their way to being published.
ORPHAN_GRACE = timedelta(hours=6)


def prune(now: datetime | None = None, days: int | None = None) -> list[int]:
    """Purge every ready export older than the retention period; return their ids.

    The row stays (status purged, purged_at set, sizes and checksum kept) and so does the
    audit trail; only the file goes.
    """
    now = now or timezone.now()
    days = days if days is not None else settings.EXPORT_RETENTION_DAYS
    cutoff = now - timedelta(days=days)
    purged: list[int] = []
    for export in Export.objects.filter(status=Status.READY, ready_at__lt=cutoff):
        purge(export, now=now, reason=f"older than {days} days")
        purged.append(export.pk)
    prune_imports(cutoff, now=now)
    prune_orphans(now=now)
    return purged


def prune_imports(cutoff: datetime, *, now: datetime) -> list[int]:
    """Forget the users of every import made before `cutoff` that is not running: its checked
    file, the parts' users, and the failing users with their errors. The row (counts, SHA-256,
    Auth0's job ids and summaries) and the audit trail stay."""
    purged: list[int] = []
    old = ImportRun.objects.filter(created_at__lt=cutoff, purged_at__isnull=True).exclude(
        status__in=IMPORT_ACTIVE
    )
    for run in old:
        name = run.file.name
        with transaction.atomic():
            if not ImportRun.objects.filter(pk=run.pk, purged_at__isnull=True).update(
                purged_at=now, file="", rejects=[]
            ):
                continue
            run.parts.update(users="", errors=[])
        if name:
            exports_storage().delete(name)
        logger.info("Purged the users of import %s", run.pk)
        purged.append(run.pk)
    return purged


def prune_orphans(now: datetime | None = None, grace: timedelta = ORPHAN_GRACE) -> list[str]:
    """Delete stored files no export row points at, once older than `grace`.

    A worker stores the verified file before the row turns ready; if it dies in between (or
    lost its lease and could not clean up), the file is left behind, unseen, until this runs.
    """
    now = now or timezone.now()
    storage = exports_storage()
    referenced = set(Export.objects.exclude(file="").values_list("file", flat=True))
    referenced |= set(ImportRun.objects.exclude(file="").values_list("file", flat=True))
    removed: list[str] = []
    try:
        folders, _ = storage.listdir("")
    except FileNotFoundError:
        return removed
    for folder in folders:
        _, names = storage.listdir(folder)
        for name in names:
            path = f"{folder}/{name}"
            if path in referenced or now - storage.get_modified_time(path) < grace:
                continue
            storage.delete(path)
            removed.append(path)
            logger.info("Deleted orphan export file %s", path)
    return removed


def purge(export: Export, *, now: datetime | None = None, reason: str = "") -> bool:
    """Delete one export's file and mark the row purged. False if it was not ready."""
    now = now or timezone.now()
    name = export.file.name
    with transaction.atomic():
        updated = Export.objects.filter(pk=export.pk, status=Status.READY).update(
            status=Status.PURGED, purged_at=now, file="", updated_at=now
        )
        if not updated:
            return False
        message = f"File deleted ({reason})" if reason else "File deleted"
        ExportEvent.objects.create(export=export, status=Status.PURGED, message=message)
    if name:
        exports_storage().delete(name)
        logger.info("Purged export %s (%s)", export.pk, reason)
    return True


def delete(export: Export) -> None:
    """Delete an export row and its file (the audit trail stays)."""
    name = export.file.name
    export.delete()
    if name:
        exports_storage().delete(name)
