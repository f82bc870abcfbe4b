"""Changes made in Django's admin, written to the audit log like every other change: who, what,
the values before and after (roles and superuser status included), and deletions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from . import audit

# Never written to the audit log, even as a before/after value.
HIDDEN_FIELDS = frozenset({"password", "last_login"})


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The object's own fields and many-to-many sets as plain text, for before/after."""
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name not in HIDDEN_FIELDS:
            value = getattr(obj, field.attname)
            values[field.name] = value if isinstance(value, bool | int | None) else str(value)
    for field in obj._meta.many_to_many:
        values[field.name] = sorted(str(item) for item in getattr(obj, field.name).all())
    return values


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose additions, changes and deletions are audit events."""

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        return snapshot(obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            if stored is not None:
                request._admin_before = self.audit_snapshot(stored)  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_addition(request, obj, message)
        _record(request, audit.ADMIN_ADDED, obj, after=self.audit_snapshot(obj))
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        entry = super().log_change(request, obj, message)
        after = self.audit_snapshot(obj)
        before = getattr(request, "_admin_before", None)
        details: dict[str, Any] = {}
        if before is not None:
            changed = [key for key in after if before.get(key) != after[key]]
            details["before"] = {key: before.get(key) for key in changed}
            details["after"] = {key: after[key] for key in changed}
        details["change"] = entry.get_change_message() if entry is not None else ""
        _record(request, audit.ADMIN_CHANGED, obj, **details)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            _record(request, audit.ADMIN_DELETED, obj, before=self.audit_snapshot(obj))
        return super().log_deletions(request, queryset)


def _record(request: HttpRequest, action: str, obj: Any, **details: Any) -> None:
    name = getattr(obj, "get_username", None)
    target = name() if callable(name) else obj
    audit.record(request, action, str(target), model=str(obj._meta.verbose_name), **details)
