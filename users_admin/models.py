from __future__ import annotations

from django.conf import settings
from django.db import models


class ActionRequest(models.Model):
    """One submitted user action, keyed by the idempotency token its form carried.

    The row is claimed before Auth0 is called, so a second submission of the same form (a
    double click, a resent POST) finds it and shows the first outcome instead of acting twice.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    token = models.UUIDField(unique=True)
    action = models.CharField(max_length=40)
    user_id = models.CharField(max_length=500)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    message = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.action} {self.user_id} ({self.status})"
