"""Exports: a row per export with the spec it was built from and its lifecycle.

Every status change goes through exports.pipeline (conditional UPDATEs with a lease),
never through a view or a task directly.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.urls import reverse

from staff.permissions import Capability, can


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTED = "submitted", "Submitted to Auth0"
    RUNNING = "running", "Running"
    DOWNLOADING = "downloading", "Downloading"
    VERIFYING = "verifying", "Verifying"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    PURGED = "purged", "Purged"


ACTIVE_STATUSES = (
    Status.QUEUED,
    Status.SUBMITTED,
    Status.RUNNING,
    Status.DOWNLOADING,
    Status.VERIFYING,
)
SETTLED_STATUSES = (Status.READY, Status.FAILED, Status.PURGED)


class Format(models.TextChoices):
    CSV = "csv", "CSV"
    # Auth0 calls this format "json", but the file holds one JSON object per line.
    NDJSON = "ndjson", "NDJSON (Auth0's “json”: one JSON object per line)"


class ExportQuerySet(models.QuerySet["Export"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ExportQuerySet:
        """Export admins see every export; everyone else only their own."""
        if can(user, Capability.VIEW_ALL_EXPORTS):  # type: ignore[arg-type]
            return self
        if not user.is_authenticated:
            return self.none()
        return self.filter(requested_by_id=user.pk)


class Export(models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exports",
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The spec, as the builder's cleaned_data left it.
    connection_id = models.CharField(max_length=64, blank=True, help_text="Empty: all connections")
    connection_name = models.CharField(max_length=200, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.CSV)
    limit = models.PositiveIntegerField(null=True, blank=True)
    fields = models.JSONField(default=list, help_text='[{"name": ..., "export_as": ...}] in order')
    source_query = models.TextField(blank=True, help_text="The search query this export came from")

    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    percentage_done = models.PositiveSmallIntegerField(null=True, blank=True)
    time_left_seconds = models.PositiveIntegerField(null=True, blank=True)
    auth0_job_id = models.CharField(max_length=64, blank=True)
    auth0_job_created_at = models.DateTimeField(null=True, blank=True)
    auth0_status = models.CharField(max_length=32, blank=True)
    failure_reason = models.TextField(blank=True)

    # Claiming work: a task must hold the lease (token + expiry) to change this row, and
    # carry the current step number, so a stale or duplicated delivery does nothing.
    step = models.PositiveIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    poll_count = models.PositiveIntegerField(default=0)
    download_attempts = models.PositiveIntegerField(default=0)

    # The kept file, in storages["exports"].
    file_name = models.CharField(max_length=300, blank=True)
    compressed_size = models.BigIntegerField(null=True, blank=True)
    uncompressed_size = models.BigIntegerField(null=True, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    # Filtered derivatives: rows of a ready parent export that match every condition.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives"
    )
    filter_conditions = models.JSONField(default=list, blank=True)

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("exports:detail", args=[self.pk])

    @property
    def is_settled(self) -> bool:
        return self.status in SETTLED_STATUSES

    @property
    def is_ready(self) -> bool:
        return self.status == Status.READY

    @property
    def auth0_format(self) -> str:
        return "json" if self.format == Format.NDJSON else "csv"

    @property
    def file_extension(self) -> str:
        return "ndjson" if self.format == Format.NDJSON else "csv"

    @property
    def column_titles(self) -> list[str]:
        return [f.get("export_as") or f["name"] for f in self.fields]

    @property
    def connection_label(self) -> str:
        if not self.connection_id:
            return "All connections"
        return self.connection_name or self.connection_id

    def spec(self) -> dict[str, Any]:
        """The stored spec in the builder's shape: enough to re-run or save as a template."""
        return {
            "connection_id": self.connection_id,
            "connection_name": self.connection_name,
            "format": self.format,
            "limit": self.limit,
            "fields": list(self.fields),
            "source_query": self.source_query,
        }

    def auth0_request(self) -> dict[str, Any]:
        """The body of POST /api/v2/jobs/users-exports for this export."""
        body: dict[str, Any] = {"format": self.auth0_format, "fields": []}
        for field in self.fields:
            item = {"name": field["name"]}
            if field.get("export_as"):
                item["export_as"] = field["export_as"]
            body["fields"].append(item)
        if self.connection_id:
            body["connection_id"] = self.connection_id
        if self.limit:
            body["limit"] = self.limit
        return body


class ExportEvent(models.Model):
    """The timeline: one row per status change (and a few notable moments within one)."""

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=Status.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.status} {self.message}"


class ExportTemplate(models.Model):
    name = models.CharField(max_length=120)
    spec = models.JSONField(default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_templates"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="export_template_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
