"""Emailing the requester when their export settles: ready (with its size and a link) or
failed (with the reason and a link).

Called by exports.lease.transition, in the worker, right after the status change commits.
Sent once per export whatever the deliveries: the send is claimed with a conditional UPDATE
of ``notified_at``, so a re-delivered task (or a second worker) finds it taken. A mail server
that refuses or cannot be reached never fails the export: the timeline says the email was not
sent, and the worker's log has the error.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from management_api.tenants import default_tenant, tenant_label

from .models import NOTIFIED_STATUSES, Export, ExportEvent, Status

logger = logging.getLogger("exports")


def recipient(export: Export) -> str:
    """The requester's email address, or "" when there is nobody to write to."""
    user = export.requested_by
    address = (user.email if user is not None else "") or export.requested_by_label
    return address if "@" in address else ""


def link(export: Export) -> str:
    return f"{settings.USERDESK_BASE_URL}{export.get_absolute_url()}"


def message(export: Export) -> tuple[str, str]:
    """(subject, plain-text body) for a settled export."""
    title = f"Export #{export.pk}" + (f" “{export.name}”" if export.name else "")
    # With several tenants the subject names the export's, so the inbox tells them apart.
    subject_tenant = f"[{export.tenant}] " if default_tenant() is None else ""
    what = (
        f"{export.connection_label} on {tenant_label(export.tenant)}, "
        f"{export.get_format_display()}, {len(export.fields)} fields"
    )
    if export.status == Status.READY:
        subject = f"{subject_tenant}{title} is ready"
        size = filesizeformat(export.compressed_size or 0)
        body = (
            f"{title} ({what}) is ready: {export.row_count} rows, {size} compressed.\n\n"
            f"See it and download the file (signing in first):\n{link(export)}\n\n"
            f"The file is kept {settings.EXPORT_RETENTION_DAYS} days."
        )
    else:
        subject = f"{subject_tenant}{title} failed"
        body = (
            f"{title} ({what}) failed:\n\n{export.failure_reason}\n\n"
            f"Its page, with the timeline and a Re-run button:\n{link(export)}"
        )
    return subject, body + _from_schedule(export) + "\n\nUserdesk\n"


def _from_schedule(export: Export) -> str:
    """A scheduled run's export names its schedule and links to its page (runs, pause)."""
    run = getattr(export, "schedule_run", None) if export.pk else None
    if run is None:
        return ""
    url = f"{settings.USERDESK_BASE_URL}{run.schedule.get_absolute_url()}"
    return f"\n\nMade by the schedule “{run.schedule.name}” ({run.schedule.when}):\n{url}"


def export_settled(export_id: int) -> bool:
    """Email the requester that the export is ready or failed, once. True when sent."""
    if not settings.EXPORT_NOTIFY:
        return False
    claimed = Export.objects.filter(
        pk=export_id, status__in=NOTIFIED_STATUSES, notified_at__isnull=True
    ).update(notified_at=timezone.now())
    if not claimed:
        return False
    export = Export.objects.select_related("requested_by").get(pk=export_id)
    to = recipient(export)
    if not to:
        return False
    subject, body = message(export)
    try:
        send_mail(subject, body, None, [to])
    except Exception as exc:  # SMTP refusals, DNS, timeouts: never the export's failure
        logger.warning("Export %s: the email to %s was not sent: %s", export_id, to, exc)
        ExportEvent.objects.create(
            export=export, status=export.status, message=f"The email to {to} could not be sent"
        )
        return False
    ExportEvent.objects.create(export=export, status=export.status, message=f"Emailed {to}")
    return True
