"""The user's timeline: a page of Auth0 log events merged with Userdesk's audit events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.dateparse import parse_datetime

from management_api import LogPage
from staff.models import AuditEvent

from .logtypes import describe, is_failure

AUDIT_LIMIT = 200
AUDIT_WORDS = {
    "users.view": "Viewed in Userdesk",
    "users.block": "Blocked",
    "users.unblock": "Unblocked",
    "users.clear-blocks": "Brute-force blocks cleared",
    "users.resend-verification": "Verification email resent",
    "users.password-link": "Password change link sent",
    "users.remove-mfa": "MFA methods removed",
    "users.sign-out": "Signed out everywhere",
    "users.edit-metadata": "Metadata edited",
    "users.delete": "Deleted",
}


@dataclass(frozen=True)
class Entry:
    when: dt.datetime | None
    source: str  # "auth0" or "userdesk"
    title: str
    failure: bool
    detail: str = ""
    actor: str = ""
    reason: str = ""
    where: str = ""  # ip, connection, application


def _when(value: Any) -> dt.datetime | None:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def _log_entry(event: dict[str, Any]) -> Entry:
    where = " · ".join(
        str(event[key]) for key in ("ip", "connection", "client_name") if event.get(key)
    )
    detail = str(event.get("description") or "")
    details = event.get("details")
    if isinstance(details, dict) and details.get("error"):
        detail = f"{detail}: {details['error']}" if detail else str(details["error"])
    return Entry(
        when=_when(event.get("date")),
        source="auth0",
        title=describe(str(event.get("type") or "")),
        failure=is_failure(event),
        detail=detail,
        where=where,
    )


def _audit_entry(event: AuditEvent) -> Entry:
    details = event.details or {}
    return Entry(
        when=event.at,
        source="userdesk",
        title=AUDIT_WORDS.get(event.action, event.action),
        failure=details.get("outcome") == "error",
        detail=str(details.get("auth0", {}).get("message") or "")
        if isinstance(details.get("auth0"), dict)
        else "",
        actor=event.actor_label,
        reason=str(details.get("reason") or ""),
    )


def merged(
    user_id: str, logs: LogPage | None, *, until: dt.datetime | None = None
) -> tuple[list[Entry], dt.datetime | None]:
    """This page's entries newest first, and the `until` bound of the next (older) page.

    Audit events are taken from the same stretch of time as the log page: newer than its
    oldest event when the page is full (older ones belong to the next page), older than
    `until` (the previous page's oldest). Without logs, the latest audit events are shown.
    """
    events = list(logs.events) if logs else []
    entries = [_log_entry(e) for e in events]
    dated = [e.when for e in entries if e.when is not None]
    oldest = min(dated) if dated else None
    audit = AuditEvent.objects.filter(target=user_id).order_by("-at", "-id")
    if until is not None:
        audit = audit.filter(at__lt=until)
    if logs is not None and logs.has_next and oldest is not None:
        audit = audit.filter(at__gte=oldest)
    entries.extend(_audit_entry(e) for e in audit[:AUDIT_LIMIT])
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    entries.sort(key=lambda e: e.when or floor, reverse=True)
    return entries, (oldest if logs is not None and logs.has_next else None)


def older_url(user_id: str, page: int, until: dt.datetime | None) -> str:
    """The link to the next (older) page of the timeline, or "" on the last one."""
    if until is None:
        return ""
    query = urlencode({"page": page + 1, "until": until.isoformat()})
    return f"{reverse('users_admin:timeline', args=[user_id])}?{query}"
