from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.forms import ModelForm
from django.http import HttpRequest

from .admin_audit import AuditedAdmin
from .models import AuditEvent, StaffIdentity, TenantRole
from .roles import current_roles, record_role_change


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


@admin.register(StaffIdentity)
class StaffIdentityAdmin(AuditedAdmin):
    """Who signs in as whom through the provider. Delete a row to let the next sign-in with
    the account's email bind a new subject (a colleague's account re-created at the provider)."""

    list_display = ("user", "subject", "issuer", "bound_at", "last_sign_in_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "bound_at", "last_sign_in_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: StaffIdentity | None = None) -> bool:
        return False


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(AuditedAdmin, GroupAdmin):
    """The roles (groups) and their capabilities; every change is an audit event."""


class TenantRoleInline(admin.TabularInline):
    """Roles on one tenant (the tenant's slug); the groups above are roles on every tenant."""

    model = TenantRole
    extra = 0
    verbose_name = "role on one tenant"
    verbose_name_plural = "roles on one tenant"


@admin.register(User)
class StaffUserAdmin(AuditedAdmin, UserAdmin):
    """Django's user admin; every change (superuser status, roles on every tenant: groups; on
    one: tenant roles) is written to the audit log. A staff member with audit events cannot be
    deleted (the log keeps who acted): deactivate them instead."""

    inlines = [TenantRoleInline]

    def audit_snapshot(self, obj: Any) -> dict[str, Any]:
        return {
            **super().audit_snapshot(obj),
            "tenant roles": sorted(str(role) for role in obj.tenant_roles.all()),
        }

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            # Audit events are never deleted here: that is the refusal below, not a permission.
            perms_needed = perms_needed - {str(AuditEvent._meta.verbose_name)}
            # One line instead of each of their (maybe thousands of) audit events.
            events = AuditEvent.objects.filter(actor__in=list(objs)).count()
            protected = [
                f"{events} audit event{'s' * (events != 1)} name this staff member as who acted: "
                "the audit log keeps them, so deactivate the account instead (untick Active)."
            ]
        return deleted, counts, perms_needed, protected

    def save_related(
        self, request: HttpRequest, form: ModelForm[Any], formsets: Any, change: bool
    ) -> None:
        user = form.instance
        assert isinstance(user, User)
        # The groups are saved here, so the database still holds the old ones.
        before = current_roles(user) if change else set()
        super().save_related(request, form, formsets, change)
        after = current_roles(user)
        if before != after:
            actor = request.user if isinstance(request.user, User) else None
            record_role_change(request, actor, user, before, after, source="admin")
