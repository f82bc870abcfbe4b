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
