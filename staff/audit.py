from __future__ import annotations

from typing import Any

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
