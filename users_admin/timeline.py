"""The user's timeline: a page of Auth0 log events merged with Userdesk's audit events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.safestring import SafeString, mark_safe

from management_api import LogPage
from management_api.tenants import current_tenant_slug
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
    if details.get("bulk_run"):
        return _bulk_entry(event, details)
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


def _bulk_entry(event: AuditEvent, details: dict[str, Any]) -> Entry:
    """A user's outcome in a bulk run: "Blocked by bulk run #12 (requested by A, approved by
    B): reason"; a skip or a failure says so, with the reason or Auth0's message."""
    words = AUDIT_WORDS.get(event.action, event.action)
    outcome = details.get("outcome")
    if outcome == "skipped":
        words = f"Not {words[:1].lower()}{words[1:]} (skipped)"
    elif outcome != "ok":
        words = f"{words}: failed"
    approver = details.get("approved_by") or "(not needed)"
    approved = "no approval needed" if approver == "(not needed)" else f"approved by {approver}"
    title = (
        f"{words} by bulk run #{details['bulk_run']} "
        f"(requested by {details.get('requested_by') or event.actor_label}, {approved}): "
        f"{details.get('reason') or ''}"
    )
    answer = details.get("auth0")
    detail = str(details.get("skipped") or "")
    if not detail and outcome != "ok" and isinstance(answer, dict):
        detail = str(answer.get("message") or "")
    return Entry(
        when=event.at, source="userdesk", title=title, failure=outcome == "error", detail=detail
    )


def audit_events(user_id: str, *, until: dt.datetime | None = None) -> list[AuditEvent]:
    """Userdesk's latest AUDIT_LIMIT events about this user (older than `until`), newest first.

    Needs no log page, so the user page reads them while its Auth0 calls are out.
    """
    audit = AuditEvent.objects.filter(target=user_id, tenant=current_tenant_slug()).order_by(
        "-at", "-id"
    )
    if until is not None:
        audit = audit.filter(at__lt=until)
    return list(audit[:AUDIT_LIMIT])


def merged(
    user_id: str,
    logs: LogPage | None,
    *,
    until: dt.datetime | None = None,
    audit: list[AuditEvent] | None = None,
) -> tuple[list[Entry], dt.datetime | None]:
    """This page's entries newest first, and the `until` bound of the next (older) page.

    Audit events are taken from the same stretch of time as the log page: newer than its
    oldest event when the page is full (older ones belong to the next page), older than
    `until` (the previous page's oldest). Without logs, the latest audit events are shown.
    `audit` is what `audit_events(user_id, until=until)` read, when it was read beforehand.
    """
    events = list(logs.events) if logs else []
    entries = [_log_entry(e) for e in events]
    dated = [e.when for e in entries if e.when is not None]
    oldest = min(dated) if dated else None
    if audit is None:
        audit = audit_events(user_id, until=until)
    if logs is not None and logs.has_next and oldest is not None:
        # The newest events are a prefix of that list: the same as filtering in the query.
        audit = [e for e in audit if e.at >= oldest]
    entries.extend(_audit_entry(e) for e in audit)
    floor = dt.datetime.min.replace(tzinfo=dt.UTC)
    entries.sort(key=lambda e: e.when or floor, reverse=True)
    return entries, (oldest if logs is not None and logs.has_next else None)


def shown_when(when: Any) -> str:
    """`when|date:"Y-m-d H:i:s"` without the filter's cost: in the current time zone (UTC)."""
    if not isinstance(when, dt.datetime):
        return ""
    if timezone.is_aware(when):
        when = timezone.localtime(when)
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    )


def _time(when: dt.datetime | None) -> str:
    if when is None:
        return '<span class="muted">(no date)</span>'
    if timezone.is_aware(when):
        when = timezone.localtime(when)  # what the `date` filter shows (settings: UTC)
    return f'<time datetime="{when.isoformat()}">{shown_when(when)} UTC</time>'


def entries_html(entries: Iterable[Entry]) -> SafeString:
    """The timeline's entries as <li> elements, every value escaped here.

    A page holds 50 Auth0 events and up to AUDIT_LIMIT of Userdesk's; a dozen template
    lookups and two `date` filters per entry cost more than the rest of the user page's
    rendering, so entries are built in one pass (like the search page's result rows).
    """
    items = []
    for entry in entries:
        userdesk = entry.source == "userdesk"
        parts = [
            f'<li class="entry {escape(entry.source)}{" failure" if entry.failure else ""}">',
            _time(entry.when),
            '<span class="badge info">Userdesk</span>'
            if userdesk
            else '<span class="badge muted">Auth0</span>',
        ]
        if entry.failure:
            parts.append('<span class="badge error">failed</span>')
        parts.append(f'<strong class="entry-title">{escape(entry.title)}</strong>')
        if entry.actor:
            parts.append(f'<span class="entry-actor">by {escape(entry.actor)}</span>')
        if entry.reason:
            parts.append(f'<span class="entry-reason">reason: {escape(entry.reason)}</span>')
        if entry.detail:
            parts.append(f'<span class="entry-detail">{escape(entry.detail)}</span>')
        if entry.where:
            parts.append(f'<span class="muted mono entry-where">{escape(entry.where)}</span>')
        parts.append("</li>")
        items.append("\n".join(parts))
    return mark_safe("\n".join(items))  # noqa: S308 (every value above went through escape())


def older_url(user_id: str, page: int, until: dt.datetime | None) -> str:
    """The link to the next (older) page of the timeline, or "" on the last one."""
    if until is None:
        return ""
    query = urlencode({"page": page + 1, "until": until.isoformat()})
    return f"{reverse('users_admin:timeline', args=[user_id])}?{query}"
