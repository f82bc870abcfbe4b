"""Export jobs and the fault switches of the sandbox tenant (tables in the sandbox database)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import models


def job_dir(job_id: str) -> Path:
    """Where a job's files are kept (an export's file, an import's users)."""
    return Path(settings.SANDBOX_EXPORT_DIR) / job_id


class ExportJob(models.Model):
    """One job (`users_export`, `users_import` or `verification_email`): queued here so a
    restarted sandbox resumes it."""

    USERS_EXPORT = "users_export"
    USERS_IMPORT = "users_import"
    VERIFICATION_EMAIL = "verification_email"

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    STATUSES = [(s, s) for s in (PENDING, PROCESSING, COMPLETED, FAILED)]

    id = models.CharField(primary_key=True, max_length=20)
    type = models.CharField(max_length=32, default=USERS_EXPORT)
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING, db_index=True)
    # The user a verification email goes to ("" for exports).
    user_id = models.CharField(max_length=255, blank=True)
    connection_id = models.CharField(max_length=20, blank=True)
    connection_name = models.CharField(max_length=128, blank=True)
    format = models.CharField(max_length=4)
    limit = models.IntegerField(null=True)
    # The `fields` list exactly as requested, or None when the request left it out.
    fields = models.JSONField(null=True)
    created_at = models.DateTimeField()
    # Not picked up before this moment (the "job stays pending" switch).
    run_after = models.DateTimeField()
    # A failure decided when the job was created (the "job fails" switch).
    forced_failure = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    rows_total = models.IntegerField(default=0)
    rows_done = models.IntegerField(default=0)
    status_details = models.TextField(blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    # users_import only: the request's text parts, then the outcome (sandbox.importing).
    upsert = models.BooleanField(default=False)
    external_id = models.CharField(max_length=255, blank=True)
    send_completion_email = models.BooleanField(default=True)
    summary = models.JSONField(null=True)
    import_errors = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"


class Switch(models.Model):
    """A fault switch or test knob, shared by every process that opens the sandbox database."""

    key = models.CharField(primary_key=True, max_length=64)
    value = models.JSONField()

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"
