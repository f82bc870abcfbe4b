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
from staff.audit import VIEW_ACTIONS, action_label
from staff.models import AuditEvent

from .access import as_dict, audit_detail
from .logtypes import describe, is_failure, method_words

AUDIT_LIMIT = 200
# Identical Auth0 events (type, IP, connection, application) this close together are one row.
GROUP_GAP = dt.timedelta(minutes=5)
AUDIT_WORDS = {
    "users.view": "Viewed in Userdesk",
    "users.view_timeline": "Timeline viewed in Userdesk",
    "users.view_action": "Action form opened in Userdesk",
    "users.preview_action": "Action previewed in Userdesk",
    "users.view_verification_job": "Verification job viewed in Userdesk",
    "users.block": "Blocked",
    "users.unblock": "Unblocked",
    "users.clear-blocks": "Brute-force blocks cleared",
    "users.resend-verification": "Verification email resent",
    "users.password-link": "Password change link sent",
    "users.remove-mfa": "MFA methods removed",
    "users.sign-out": "Signed out everywhere",
    "users.edit-metadata": "Metadata edited",
    "users.delete": "Deleted",
    "users.assign-role": "Role assigned",
    "users.remove-role": "Role removed",
    "users.remove-membership": "Removed from an organization",
    "users.organization-roles": "Organization roles changed",
    "users.revoke-session": "One session ended",
    "users.revoke-refresh-token": "One refresh token revoked",
    "users.create": "Created in Userdesk",
    "users.edit-profile": "Profile changed",
    "users.link-account": "Accounts linked",
    "users.unlink-account": "Account unlinked",
    "users.reveal": "Personal data revealed in Userdesk",
    "users.data_package_requested": "Data-subject package requested",
    "users.data_package_built": "Data-subject package built",
    "users.data_package_downloaded": "Data-subject package downloaded",
    "users.data_package_refused": "Data-subject package download refused",
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
    kind: str = ""  # Auth0's event type, or Userdesk's audit action


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
    removed = _authenticator(details)
    if removed:
        detail = f"{removed}. {detail}" if detail else removed
    return Entry(
        when=_when(event.get("date")),
        source="auth0",
        title=describe(str(event.get("type") or "")),
        failure=is_failure(event),
        detail=detail,
        where=where,
        kind=str(event.get("type") or ""),
    )


def _authenticator(details: Any) -> str:
    """Which MFA method an event is about ("MFA device removed"): its kind in words and id."""
    found = as_dict(details).get("authenticator")
    if not isinstance(found, dict) or not found.get("type"):
        return ""
    words = method_words(str(found["type"]))
    return f"{words} ({found['id']})" if found.get("id") else words


def _audit_entry(event: AuditEvent) -> Entry:
    details = event.details or {}
    if details.get("bulk_run"):
        return _bulk_entry(event, details)
    answer = as_dict(details.get("auth0"))
    return Entry(
        when=event.at,
        source="userdesk",
        title=AUDIT_WORDS.get(event.action) or f"{action_label(event.action)} (in Userdesk)",
        failure=details.get("outcome") == "error",
        detail=str(answer.get("message") or "") or audit_detail(event.action, details),
        actor=event.actor_label,
        reason=str(details.get("reason") or ""),
        kind=event.action,
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
        when=event.at,
        source="userdesk",
        title=title,
        failure=outcome == "error",
        detail=detail,
        kind=event.action,
    )


def audit_events(
    user_id: str, *, until: dt.datetime | None = None, views: bool = True
) -> list[AuditEvent]:
    """Userdesk's latest AUDIT_LIMIT events about this user (older than `until`), newest first;
    without `views`, the "Viewed in Userdesk" ones left out.

    Needs no log page, so the user page reads them while its Auth0 calls are out.
    """
    audit = AuditEvent.objects.filter(target=user_id, tenant=current_tenant_slug()).order_by(
        "-at", "-id"
    )
    if until is not None:
        audit = audit.filter(at__lt=until)
    if not views:
        audit = audit.exclude(action__in=VIEW_ACTIONS)
    return list(audit[:AUDIT_LIMIT])


def merged(
    user_id: str,
    logs: LogPage | None,
    *,
    until: dt.datetime | None = None,
    audit: list[AuditEvent] | None = None,
    views: bool = True,
) -> tuple[list[Entry], dt.datetime | None]:
    """This page's entries newest first, and the `until` bound of the next (older) page.

    Audit events are taken from the same stretch of time as the log page: newer than its
    oldest event when the page is full (older ones belong to the next page), older than
    `until` (the previous page's oldest). Without logs, the latest audit events are shown;
    a page past the end of the log shows none (they are on the last page). `audit` is what
    `audit_events(user_id, until=until, views=views)` read, when it was read beforehand.
    """
    events = list(logs.events) if logs else []
    entries = [_log_entry(e) for e in events]
    dated = [e.when for e in entries if e.when is not None]
    oldest = min(dated) if dated else None
    if logs is not None and logs.page > 0 and not events:
        return [], None
    if audit is None:
        audit = audit_events(user_id, until=until, views=views)
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


def grouped(entries: Iterable[Entry]) -> list[list[Entry]]:
    """Runs of identical Auth0 events (same type and place, each within GROUP_GAP of the
    next) as one list each; every other entry alone. The order is kept."""
    runs: list[list[Entry]] = []
    for entry in entries:
        run = runs[-1] if runs else None
        if (
            run is not None
            and entry.source == "auth0"
            and run[-1].source == "auth0"
            and (entry.kind, entry.where, entry.failure)
            == (run[-1].kind, run[-1].where, run[-1].failure)
            and entry.when is not None
            and run[-1].when is not None
            and abs(run[-1].when - entry.when) <= GROUP_GAP
        ):
            run.append(entry)
        else:
            runs.append([entry])
    return runs


def _group_summary(run: list[Entry]) -> str:
    newest, oldest = run[0], run[-1]
    span = (newest.when - oldest.when) if newest.when and oldest.when else dt.timedelta()
    minutes = round(span.total_seconds() / 60)
    within = f"within {minutes} minute{'s' * (minutes != 1)}" if minutes else "within a minute"
    parts = [
        '<li class="entry-group"><details><summary>',
        _time(newest.when),
        '<span class="badge muted">Auth0</span>',
        '<span class="badge error">failed</span>' if newest.failure else "",
        f'<strong class="entry-title">{escape(newest.title)}</strong>',
        f'<span class="badge info group-count">{len(run)} times {within}</span>',
        f'<span class="muted mono entry-where">{escape(newest.where)}</span>'
        if newest.where
        else "",
        '</summary><ol class="timeline-entries">',
    ]
    return "\n".join(p for p in parts if p)


def entries_html(entries: Iterable[Entry]) -> SafeString:
    """The timeline's entries as <li> elements, every value escaped here; a run of identical
    Auth0 events is one expandable row (<details>) holding each of them.

    A page holds 50 Auth0 events and up to AUDIT_LIMIT of Userdesk's; a dozen template
    lookups and two `date` filters per entry cost more than the rest of the user page's
    rendering, so entries are built in one pass (like the search page's result rows).
    """
    items = []
    for run in grouped(entries):
        if len(run) > 1:
            items.append(_group_summary(run))
        items.extend(_entry_html(entry) for entry in run)
        if len(run) > 1:
            items.append("</ol></details></li>")
    return mark_safe("\n".join(items))  # noqa: S308 (every value went through escape())


def _entry_html(entry: Entry) -> str:
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
    return "\n".join(parts)


def timeline_url(user_id: str, *, views: bool = True, **params: Any) -> str:
    """The timeline's URL with `params` (page, until) and the views filter."""
    query = urlencode({**params, **({} if views else {"views": "hide"})})
    url = reverse("users_admin:timeline", args=[user_id])
    return f"{url}?{query}" if query else url


def older_url(user_id: str, page: int, until: dt.datetime | None, *, views: bool = True) -> str:
    """The link to the next (older) page of the timeline, or "" on the last one."""
    if until is None:
        return ""
    return timeline_url(user_id, views=views, page=page + 1, until=until.isoformat())
