"""The audit log: `record` appends what a staff member did; `filtered_events` reads it back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import AuditEvent

# Sign-in and account events (staff.signals and staff.oidc write them).
SIGN_IN = "auth.sign_in"
SIGN_IN_FAILED = "auth.sign_in_failed"
LOCKED_OUT = "auth.locked_out"
SIGN_OUT = "auth.sign_out"
PASSWORD_CHANGED = "auth.password_changed"
ROLE_CHANGED = "staff.role_changed"
IDENTITY_BOUND = "staff.identity_bound"
TEMPLATE_SAVED = "exports.template_saved"
TEMPLATE_DELETED = "exports.template_deleted"
SEARCH_SAVED = "users.search_saved"
SEARCH_DELETED = "users.search_deleted"
# Changes in Django's admin (staff.admin_audit): staff accounts, roles, identities.
ADMIN_ADDED = "admin.added"
ADMIN_CHANGED = "admin.changed"
ADMIN_DELETED = "admin.deleted"
# Records past their retention deleted (staff.retention).
RECORDS_PRUNED = "audit.pruned"
# A tenant slug's rows given to a configured tenant (staff.tenant_rows).
TENANT_ROWS_MOVED = "tenants.rows_moved"
SCHEDULE_CREATED = "exports.schedule_created"
SCHEDULE_PAUSED = "exports.schedule_paused"
SCHEDULE_RESUMED = "exports.schedule_resumed"
SCHEDULE_DELETED = "exports.schedule_deleted"
# Looks at personal data: each is an event (the access record), and a refusal (403) too.
USER_VIEWED = "users.view"
TIMELINE_VIEWED = "users.view_timeline"
ACTION_OPENED = "users.view_action"
ACTION_PREVIEWED = "users.preview_action"
JOB_VIEWED = "users.view_verification_job"
EXPORT_VIEWED = "exports.view"
AUDIT_READ = "audit.read"
ACCESS_REFUSED = "access.refused"
# Events that only say someone looked (the user's timeline can hide them).
VIEW_ACTIONS = frozenset(
    {USER_VIEWED, TIMELINE_VIEWED, ACTION_OPENED, ACTION_PREVIEWED, JOB_VIEWED}
)
# Whole families the audit page offers as one filter choice ("auth.*").
ACTION_FAMILIES = {"auth.*": "Any sign-in event"}
# What the audit page's action filter and rows say for an action code; a code not listed
# reads as its words ("exports.rename" -> "Exports: rename").
ACTION_LABELS = {
    SIGN_IN: "Signed in",
    SIGN_IN_FAILED: "Sign-in failed",
    LOCKED_OUT: "Locked out after failed sign-ins",
    SIGN_OUT: "Signed out",
    PASSWORD_CHANGED: "Changed their password",
    ROLE_CHANGED: "Staff role changed",
    IDENTITY_BOUND: "Sign-in identity bound",
    TEMPLATE_SAVED: "Export template saved",
    TEMPLATE_DELETED: "Export template deleted",
    SEARCH_SAVED: "Search saved",
    SEARCH_DELETED: "Saved search deleted",
    "users.search": "Searched users",
    "users.lookup": "Looked up an email",
    USER_VIEWED: "Viewed a user",
    TIMELINE_VIEWED: "Viewed a user's timeline",
    ACTION_OPENED: "Opened an action on a user",
    ACTION_PREVIEWED: "Previewed an action on a user",
    JOB_VIEWED: "Viewed a verification email job",
    EXPORT_VIEWED: "Viewed an export",
    AUDIT_READ: "Read the audit log",
    "users.reveal": "Revealed a user's personal data",
    "users.data_package_requested": "Data-subject package requested",
    "users.data_package_built": "Data-subject package built",
    "users.data_package_downloaded": "Data-subject package downloaded",
    "users.data_package_refused": "Data-subject package download refused",
    ACCESS_REFUSED: "Refused access (403)",
    "exports.create": "Export requested",
    "exports.download": "Export downloaded",
}
ACCOUNT_ACTIONS = (
    SIGN_IN,
    SIGN_IN_FAILED,
    LOCKED_OUT,
    SIGN_OUT,
    PASSWORD_CHANGED,
    ROLE_CHANGED,
    IDENTITY_BOUND,
    TEMPLATE_SAVED,
    TEMPLATE_DELETED,
    SEARCH_SAVED,
    SEARCH_DELETED,
    ADMIN_ADDED,
    ADMIN_CHANGED,
    ADMIN_DELETED,
    RECORDS_PRUNED,
    TENANT_ROWS_MOVED,
    SCHEDULE_CREATED,
    SCHEDULE_PAUSED,
    SCHEDULE_RESUMED,
    SCHEDULE_DELETED,
)


# Labels other apps give their action codes when they are ready (users_admin: each support
# action's `users.<key>` is its title), so that staff imports none of them.
_named_actions: dict[str, str] = {}


def name_actions(labels: Mapping[str, str]) -> None:
    """Give action codes their labels (an app's AppConfig.ready)."""
    _named_actions.update(labels)


def action_label(action: str) -> str:
    """An action code in words, for the audit page."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    if action in _named_actions:
        return _named_actions[action]
    family, _, rest = action.partition(".")
    words = rest.replace("_", " ").replace("-", " ").strip()
    return f"{family.capitalize()}: {words}" if words else action


TARGET_LENGTH = 500


def client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def record(request: HttpRequest, action: str, target: str = "", **details: Any) -> AuditEvent:
    """Append one audit event for the signed-in staff member who made `request`."""
    user = request.user if request.user.is_authenticated else None
    return record_for(request, user, action, target, **details)


def record_for(
    request: HttpRequest | None,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: str = "",
    *,
    actor_label: str = "",
    **details: Any,
) -> AuditEvent:
    """Append an event for `actor` (sign-in events happen before or after request.user is set).

    Without an actor, `actor_label` names who it was about (the email typed at a failed sign-in).
    """
    user = actor if isinstance(actor, User) else None
    target = str(target)
    if len(target) > TARGET_LENGTH:
        # The column holds TARGET_LENGTH characters; a longer query is kept whole beside it.
        details = {"in_full": target, **details}
    return AuditEvent.objects.create(
        actor=user,
        actor_label=(user.get_username() if user else actor_label)[:254],
        action=action,
        target=target[:TARGET_LENGTH],
        details=details,
        ip_address=client_ip(request) if request is not None else None,
    )


def record_sign_in_failure(
    request: HttpRequest, *, method: str, reason: str, **details: Any
) -> None:
    record_for(request, None, SIGN_IN_FAILED, method=method, reason=reason, **details)


def filtered_events(
    *,
    actor: str = "",
    action: str = "",
    user: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    tenant: str = "",
    visible_tenants: Sequence[str] | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first; `actor` matches part of the email, `user` is an Auth0 user id
    (the events about that user), dates are whole UTC days, `tenant` a tenant's slug. With
    `visible_tenants`, only their events and those of no tenant (sign-ins). Reads of the audit
    log itself (one per page read) are listed only when the action filter asks for them."""
    events = AuditEvent.objects.select_related("actor")
    if visible_tenants is not None:
        events = events.filter(tenant__in=[*visible_tenants, ""])
    if tenant:
        events = events.filter(tenant=tenant)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if action.endswith(".*"):
        events = events.filter(action__startswith=action[:-1])
    elif action:
        events = events.filter(action=action)
    if action not in (AUDIT_READ, "audit.*"):
        events = events.exclude(action=AUDIT_READ)
    if user:
        events = events.filter(target=user)
    if date_from:
        events = events.filter(at__date__gte=date_from)
    if date_to:
        events = events.filter(at__date__lte=date_to)
    return events


def readable_details(details: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's details as (label, text) for the audit page: ``from_export`` reads "From
    export", True "yes", a list of conditions "logins_count greater 10", never a Python repr.
    An empty value (a rename from no name: "Before") is left out."""
    return [
        (_label(key), _text(value))
        for key, value in details.items()
        if value is not None and value != "" and value != [] and value != {}
    ]


def _label(key: str) -> str:
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _text(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if {"column", "operator", "value"} <= value.keys():
            operator = str(value["operator"]).replace("_", " ")
            return f"{value['column']} {operator} “{value['value']}”"
        pairs = (f"{_label(str(k)).lower()}: {_text(v)}" for k, v in value.items())
        return ", ".join(pairs) or "none"
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, dict) for item in value):
            return " and ".join(_text(item) for item in value) or "none"
        return ", ".join(_text(item) for item in value) or "none"
    return str(value)
