"""An export's status (exports.models.Export.status)."""

from __future__ import annotations

from django.db import models


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted to Auth0"
    RUNNING = "running", "Running"
    DOWNLOADING = "downloading", "Downloading"
    FILTERING = "filtering", "Filtering"
    VERIFYING = "verifying", "Verifying"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    PURGED = "purged", "Purged"
