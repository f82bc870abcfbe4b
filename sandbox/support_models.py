"""What the support-action endpoints keep about users: log events, brute-force blocks, MFA
methods, sessions, refresh tokens and tickets (tables in the sandbox database)."""

from __future__ import annotations

from django.db import models


class LogEvent(models.Model):
    """One tenant log event; `body` is the event exactly as the API returns it."""

    log_id = models.CharField(primary_key=True, max_length=64)
    # "" for events about no user (Auth0 writes `sapi` events with user_id null).
    user_id = models.CharField(max_length=255, blank=True)
    date = models.CharField(max_length=32)  # ISO-8601 with ms and Z: sorts as text
    type = models.CharField(max_length=32)
    body = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["user_id", "date"], name="sandbox_log_user_date")]

    def __str__(self) -> str:
        return f"{self.type} {self.date}"


class UserBlock(models.Model):
    """A brute-force block of one identifier from one IP (`blocked_for` of `/user-blocks`)."""

    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    identifier = models.CharField(max_length=320, db_index=True)
    ip = models.CharField(max_length=64, blank=True)
    connection = models.CharField(max_length=128, blank=True)
    created_at = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"{self.identifier} from {self.ip or 'any IP'}"


class AuthenticationMethod(models.Model):
    """An enrolled MFA factor; `body` is the unmasked method (GET masks email and phone)."""

    id = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    type = models.CharField(max_length=32)
    body = models.TextField()

    def __str__(self) -> str:
        return self.id


class UserSession(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    body = models.TextField()

    def __str__(self) -> str:
        return self.id


class RefreshToken(models.Model):
    id = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey("sandbox.TenantUser", on_delete=models.CASCADE)
    session_id = models.CharField(max_length=64, blank=True)
    body = models.TextField()

    def __str__(self) -> str:
        return self.id


class Ticket(models.Model):
    """A password-change ticket: the sandbox's reset page reads it (single use, expires)."""

    id = models.CharField(primary_key=True, max_length=64)
    user_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    mark_email_as_verified = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class TenantMeta(models.Model):
    """Facts about the seeded tenant (its seed and when it was seeded), for lazily made data."""

    key = models.CharField(primary_key=True, max_length=64)
    value = models.JSONField()

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"
