from __future__ import annotations

from datetime import timedelta

from django import template

from management_api.tenants import UnknownTenant, get_tenant
from staff.audit import action_label as label_of_action
from staff.audit import readable_details

register = template.Library()

# A stored job's status (an export, an import run, a data package) to its badge's class in
# app.css: done well, failed, set aside; any other status is on its way ("info").
STATUS_TONES = {
    "ready": "ok",
    "completed": "ok",
    "verified": "ok",
    "failed": "error",
    "purged": "muted",
    "draft": "muted",
}
# A status that ends one kind of job is only a step of another: an export part Auth0 has
# "completed" is still to be downloaded and verified (`{{ part.status|status_tone:"part" }}`).
STEPS = {"part": frozenset({"completed"})}


@register.filter
def cooloff_minutes(value: timedelta) -> str:
    """`timedelta(minutes=15)` -> "15 minutes"; rounds up so a lock never reads "0 minutes"."""
    minutes = max(1, -(-int(value.total_seconds()) // 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def audit_details(details: dict[str, object]) -> list[tuple[str, str]]:
    """An audit event's details in readable form (see staff.audit.readable_details)."""
    return readable_details(details or {})


@register.filter
def action_label(action: str) -> str:
    """An audit action code in words ("users.view" -> "Viewed a user")."""
    return label_of_action(action)


@register.filter
def tenant_name(slug: str) -> str:
    """A stored row's tenant by its display name (the slug when no longer configured)."""
    try:
        return get_tenant(slug).name
    except UnknownTenant:
        return slug


@register.filter
def status_tone(status: str, kind: str = "") -> str:
    """The badge class of a status: `<span class="badge {{ export.status|status_tone }}">`;
    `kind` names a job whose STEPS are still on their way."""
    if status in STEPS.get(kind, ()):
        return "info"
    return STATUS_TONES.get(status, "info")
