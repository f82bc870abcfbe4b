from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

from management_api.tenants import current_tenant_slug_or_blank

from .permissions import permissions as declared_permissions


class StaffCapability(models.Model):
    """Holds Userdesk's custom permissions; it has no rows and no table of its own use."""

    class Meta:
        managed = False
        default_permissions = ()
        # Every capability staff.permissions declares, the product's and the support actions'.
        permissions = declared_permissions()

    def __str__(self) -> str:
        return "Userdesk capability"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise TypeError("Audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only")

    def expire(self, before: datetime, *, batch: int = 5000) -> int:
        """Delete the events older than `before`, past AUDIT_RETENTION_DAYS: the one way rows
        leave the log (staff.retention), in batches. Returns how many."""
        deleted = 0
        while ids := list(self.filter(at__lt=before).values_list("pk", flat=True)[:batch]):
            deleted += models.QuerySet.delete(AuditEvent.objects.filter(pk__in=ids))[0]
        return deleted


class AuditEvent(models.Model):
    """One thing a staff member did. Rows are only ever added (see staff.audit.record)."""

    # Who acted, kept: a staff member named by events cannot be deleted, only deactivated.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # The Auth0 tenant acted on; blank for what concerns no tenant (sign-ins, when several
    # tenants are configured and none is chosen).
    tenant = models.CharField(
        max_length=40, blank=True, db_index=True, default=current_tenant_slug_or_blank
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["actor", "-at"]), models.Index(fields=["action", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise TypeError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise TypeError("Audit events are append-only")


class StaffIdentity(models.Model):
    """The account at the sign-in provider a staff member signs in with: (issuer, subject).

    Bound at the first sign-in through the provider; later sign-ins find the staff member by it,
    so an address the provider reassigns to someone else never opens this account.
    Deleting the row (Django's admin) lets the next sign-in with the email bind anew.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    bound_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "staff identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_staff_per_subject"),
            models.UniqueConstraint(fields=["user", "issuer"], name="one_subject_per_staff"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class TenantRole(models.Model):
    """A role (a role group) on one Auth0 tenant. A member's plain groups are roles on every
    tenant; these add roles on one (staff.permissions reads them for the current tenant)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_roles"
    )
    # The tenant's slug (management_api.tenants), as on stored rows.
    tenant = models.CharField(max_length=40, db_index=True)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="tenant_roles")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant", "group"], name="tenant_role_unique")
        ]

    def __str__(self) -> str:
        return f"{self.group.name}@{self.tenant}"
