"""Imports into Auth0: a row per import run (the file, the target connection, the options, the
typed reason, the outcome) and a row per part of at most 500 KB sent as one Auth0 job.

A run starts as a draft: the file is stored and checked against Auth0's import schema
(exports.importcheck) and nothing is sent. Starting it (a POST with a reason, once) splits the
valid users into parts and queues the run; exports.importrun submits each part once, polls its
job and keeps Auth0's answers (the job, its summary and its per-user errors, which Auth0 deletes
after 24 hours). Every change a worker makes goes through importrun's lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

from config.tenant_urls import tenant_reverse
from management_api.tenants import current_tenant_slug

from .storage import exports_storage


class ImportStatus(models.TextChoices):
    DRAFT = "draft", "Checked, not started"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


IMPORT_ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)


class PartStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    SUBMITTED = "submitted", "Submitted to Auth0"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    NOT_SENT = "not_sent", "Not sent"


class ImportRunQuerySet(models.QuerySet["ImportRun"]):
    def of_tenant(self, user: AbstractBaseUser | AnonymousUser) -> ImportRunQuerySet:
        """The current tenant's imports (everyone who may import sees all of them)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(tenant=current_tenant_slug())


class ImportRun(models.Model):
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="import_runs",
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The file as given: an upload's name, or the export it was made from.
    source_name = models.CharField(max_length=255)
    source_export = models.ForeignKey(
        "exports.Export", null=True, blank=True, on_delete=models.SET_NULL, related_name="imports"
    )
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    # The users that pass the checks (a JSON array, in the exports storage)...
    file = models.FileField(storage=exports_storage, max_length=300, blank=True)
    user_count = models.PositiveIntegerField(default=0)
    # ...and those that do not: [{"index", "user", "errors"}], never sent.
    rejects = models.JSONField(default=list, blank=True)

    # Chosen when it is started.
    connection_id = models.CharField(max_length=64, blank=True)
    connection_name = models.CharField(max_length=200, blank=True)
    upsert = models.BooleanField(default=False)
    # Sent without their user_id (Auth0 gives each a new one): ids are unique across a
    # tenant's connections, so users exported from one connection cannot keep theirs in another.
    new_user_ids = models.BooleanField(default=False)
    external_id = models.CharField(max_length=200, blank=True)
    send_completion_email = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.DRAFT, db_index=True
    )
    failure_reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set when retention deleted its users (exports.retention.prune_imports).
    purged_at = models.DateTimeField(null=True, blank=True)

    # The worker's lease, as an export's (exports.lease).
    step = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return tenant_reverse(self.tenant, "exports:import_detail", self.pk)

    @property
    def is_settled(self) -> bool:
        return self.status in (ImportStatus.COMPLETED, ImportStatus.FAILED)

    @property
    def is_draft(self) -> bool:
        return self.status == ImportStatus.DRAFT

    def progress_words(self) -> str:
        """What an unsettled import is doing, in words."""
        stalled = self.stalled_since()
        if stalled is not None:
            return (
                f"Stalled: no worker has worked on it since {stalled:%H:%M:%S} UTC (the worker "
                "may have been lost). The recovery sweep sends it to a worker again within "
                f"{settings.EXPORT_SWEEP_SECONDS:g} seconds, at the part it had reached; no "
                "part is sent twice."
            )
        if self.status == ImportStatus.QUEUED:
            return "Queued: a worker sends the first part shortly. This page follows it."
        if self.status != ImportStatus.RUNNING:
            return ""
        parts = list(self.parts.order_by("number"))
        current = next(
            (p for p in parts if p.status in (PartStatus.WAITING, PartStatus.SUBMITTED)), None
        )
        if current is None:
            return "Every part has ended; the worker is adding up Auth0's answers."
        where = f"Part {current.number} of {len(parts)}"
        if current.status == PartStatus.SUBMITTED:
            said = current.auth0_status or "pending"
            return f"{where}: Auth0 is running job {current.auth0_job_id} (it says “{said}”)."
        if current.failure_reason:
            return f"{where}: {current.failure_reason}"
        return f"{where}: waiting for its turn in this tenant's rate budget."

    def stalled_since(self) -> datetime | None:
        """When an active import nobody works on was last touched (None when it is not so)."""
        if self.status not in IMPORT_ACTIVE or self.heartbeat_at is None:
            return None
        now = timezone.now()
        if self.lease_expires_at is not None and self.lease_expires_at > now:
            return None
        grace = (
            settings.EXPORT_QUEUED_GRACE_SECONDS
            if self.status == ImportStatus.QUEUED
            else settings.EXPORT_STALE_SECONDS
        )
        if now - self.heartbeat_at < timedelta(seconds=grace):
            return None
        return self.heartbeat_at

    def totals(self) -> dict[str, int]:
        """Auth0's summaries of the parts, added up."""
        found = {"inserted": 0, "updated": 0, "failed": 0, "total": 0}
        for summary in self.parts.values_list("summary", flat=True):
            for key in found:
                value = (summary or {}).get(key)
                found[key] += value if isinstance(value, int) else 0
        return found

    def auth0_errors(self) -> list[dict[str, Any]]:
        """Every part's per-user errors from Auth0 (`/jobs/{id}/errors`), with the part."""
        found = []
        for number, errors in self.parts.order_by("number").values_list("number", "errors"):
            found += [{"part": number, **item} for item in errors or [] if isinstance(item, dict)]
        return found


class ImportPart(models.Model):
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    users = models.TextField(help_text="The JSON array sent as the users file (≤ 500 KB)")
    user_count = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=PartStatus.choices, default=PartStatus.WAITING)
    # Set just before the request: with it and no job id, Auth0 may hold a job we never heard
    # of, so the part is never sent again.
    submitted_at = models.DateTimeField(null=True, blank=True)
    auth0_job_id = models.CharField(max_length=64, blank=True)
    auth0_status = models.CharField(max_length=32, blank=True)
    # Auth0's answers: the create call's, the last job status, the per-user errors.
    created_answer = models.JSONField(default=dict, blank=True)
    job_answer = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    failure_reason = models.TextField(blank=True)
    poll_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="import_part_unique_number")
        ]

    def __str__(self) -> str:
        return f"Import #{self.run_id} part {self.number}"
