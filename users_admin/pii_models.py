"""A reveal: one staff member unmasked one user's personal data, with a reason, for a while
(users_admin.pii). Imported by users_admin.models, so Django finds the model there."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from management_api.tenants import current_tenant_slug


class RevealReason(models.TextChoices):
    """Why personal data was unmasked: the reveal form's choice, beside a ticket reference."""

    IDENTITY_CHECK = "identity_check", "Checking the caller's identity"
    SIGN_IN_PROBLEM = "sign_in_problem", "Investigating a sign-in problem"
    SECURITY_INCIDENT = "security_incident", "Investigating a security incident"
    DATA_REQUEST = "data_request", "The user asked for their data"
    LEGAL = "legal", "A legal or compliance request"


class Reveal(models.Model):
    """Keyed by the form's idempotency token: a second submission finds the first reveal."""

    token = models.UUIDField(unique=True)
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    user_id = models.CharField(max_length=500)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reveals"
    )
    reason = models.CharField(max_length=40, choices=RevealReason.choices)
    ticket = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["staff", "tenant", "user_id", "-expires_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} revealed to {self.staff_id} until {self.expires_at:%H:%M}"


class PackageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    BUILDING = "building", "Building"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Failed"
    DOWNLOADED = "downloaded", "Downloaded (and deleted)"
    EXPIRED = "expired", "Expired (deleted)"


class DataPackage(models.Model):
    """A data-subject package (users_admin.packages): everything Auth0 and Userdesk hold about
    one user, zipped by a worker, downloaded once within DATA_PACKAGE_HOURS, deleted after."""

    token = models.UUIDField(unique=True)
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    user_id = models.CharField(max_length=500)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    reason = models.CharField(max_length=500)
    status = models.CharField(
        max_length=12, choices=PackageStatus.choices, default=PackageStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=300, blank=True)  # in the exports storage
    sha256 = models.CharField(max_length=64, blank=True)  # of the whole zip
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    counts = models.JSONField(default=dict, blank=True)  # what each file holds, for the page

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Data package #{self.pk} of {self.user_id} ({self.status})"
