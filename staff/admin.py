from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log is append-only: the admin shows it and nothing more."""

    list_display = ("at", "actor_label", "action", "target", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "target")
    date_hierarchy = "at"
    readonly_fields = ("at", "actor", "actor_label", "action", "target", "details", "ip_address")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
