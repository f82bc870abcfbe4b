"""The audit log: `record` appends what a staff member did; `filtered_events` reads it back."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from .models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def record(request: HttpRequest, action: str, target: str = "", **details: Any) -> AuditEvent:
    """Append one audit event for the signed-in staff member who made `request`."""
    user = request.user if request.user.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=user.get_username() if user else "",
        action=action,
        target=str(target)[:500],
        details=details,
        ip_address=client_ip(request),
    )


def filtered_events(
    *,
    actor: str = "",
    action: str = "",
    user: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first; `actor` matches part of the email, `user` is an Auth0 user id
    (the events about that user), dates are whole UTC days."""
    events = AuditEvent.objects.select_related("actor")
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action:
        events = events.filter(action=action)
    if user:
        events = events.filter(target=user)
    if date_from:
        events = events.filter(at__date__gte=date_from)
    if date_to:
        events = events.filter(at__date__lte=date_to)
    return events
