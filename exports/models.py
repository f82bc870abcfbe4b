"""Exports: a row per export with the spec it was built from, its file and its lifecycle.

The row owns its spec (:class:`ExportSpec`: the builder's form, a template, a re-run and
Auth0's request body all convert through it) and its file (``Export.file`` on
``storages["exports"]``). Every status change after creation goes through exports.lease
(conditional UPDATEs with a lease), never through a view or a task directly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

from config.tenant_urls import tenant_reverse
from management_api.tenants import current_tenant_slug
from staff.permissions import Capability, can

from . import formats
from .formats import ExportFormat
from .status import Status
from .storage import exports_storage

ACTIVE_STATUSES = (
    Status.QUEUED,
    Status.SUBMITTED,
    Status.RUNNING,
    Status.DOWNLOADING,
    Status.FILTERING,
    Status.VERIFYING,
)
SETTLED_STATUSES = (Status.READY, Status.FAILED, Status.CANCELLED, Status.PURGED)
# Settled statuses whose requester is emailed (exports.notify).
NOTIFIED_STATUSES = (Status.READY, Status.FAILED)
NAME_MAX_LENGTH = 120
# A saved template's name: the model, the forms and the page's maxlength take it from here.
TEMPLATE_NAME_MAX_LENGTH = 120
# The column a multi-connection export adds to every row: the name of the row's connection.
CONNECTION_COLUMN = "connection"


@dataclass(frozen=True)
class ExportSpec:
    """What an export asks for: one value for the form, templates, re-runs and Auth0's body."""

    format: str
    fields: list[dict[str, str]] = field(default_factory=list)
    connection_id: str = ""
    connection_name: str = ""
    limit: int | None = None
    source_query: str = ""
    name: str = ""
    # Row conditions (column, operator, value; joined with AND) kept from a filtered export,
    # so its re-run or a template made from it keeps only the same rows.
    conditions: list[dict[str, str]] = field(default_factory=list)
    # An exact search export: only the users this Auth0 search query matches (exports.exact).
    match_query: str = ""
    # Several connections in one export ([{"id": ..., "name": ...}], two or more): one Auth0
    # job per connection, one file with the connection in each row (exports.parts).
    connections: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ExportSpec:
        """From a stored template or a form's cleaned_data (missing keys take defaults)."""
        return cls(
            format=str(data.get("format") or formats.DEFAULT.name),
            fields=[
                {key: str(value) for key, value in item.items() if key in ("name", "export_as")}
                for item in data.get("fields") or []
            ],
            connection_id=str(data.get("connection_id") or ""),
            connection_name=str(data.get("connection_name") or ""),
            limit=int(data["limit"]) if data.get("limit") else None,
            source_query=str(data.get("source_query") or ""),
            name=str(data.get("name") or "")[:NAME_MAX_LENGTH],
            conditions=[
                {key: str(item.get(key) or "") for key in ("column", "operator", "value")}
                for item in data.get("conditions") or []
                if isinstance(item, Mapping)
            ],
            match_query=str(data.get("match_query") or ""),
            connections=[
                {"id": str(item.get("id") or ""), "name": str(item.get("name") or "")}
                for item in data.get("connections") or []
                if isinstance(item, Mapping) and item.get("id")
            ],
        )

    def as_data(self) -> dict[str, Any]:
        """JSON-ready, for a template."""
        return {
            "connection_id": self.connection_id,
            "connection_name": self.connection_name,
            "format": self.format,
            "limit": self.limit,
            "fields": [dict(item) for item in self.fields],
            "source_query": self.source_query,
            "name": self.name,
            "conditions": [dict(item) for item in self.conditions],
            "match_query": self.match_query,
            "connections": [dict(item) for item in self.connections],
        }

    def initial(self) -> dict[str, Any]:
        """The builder form's initial values (its field rows come from ``fields``)."""
        return {
            "connection": self.connection_id,
            "format": self.format,
            "limit": self.limit,
            "source_query": self.source_query,
            "name": self.name,
            "conditions": json.dumps(self.conditions) if self.conditions else "",
            "keep_conditions": bool(self.conditions),
            "match_query": self.match_query,
            "several_connections": [item["id"] for item in self.connections],
        }

    @property
    def is_multi(self) -> bool:
        """One export of several connections (one Auth0 job each, one file)."""
        return bool(self.connections)

    @property
    def is_exact(self) -> bool:
        return bool(self.match_query)

    @property
    def export_format(self) -> ExportFormat:
        return formats.get(self.format)

    def exact_plan(self) -> Any:
        """exports.exact.Plan: the job an exact export asks Auth0 for, and how it filters."""
        from . import exact

        return exact.plan_job(self.match_query, self.fields, self.export_format)

    @property
    def job_column_titles(self) -> list[str]:
        """The titles of the file Auth0 writes (an exact export's holds the query's too; a
        multi-connection export's part has no connection column: Userdesk adds it)."""
        if self.is_exact:
            return list(self.exact_plan().job_titles)
        return self.field_titles

    @property
    def field_titles(self) -> list[str]:
        """The picked fields' titles, in order."""
        return [item.get("export_as") or item["name"] for item in self.fields]

    @property
    def column_titles(self) -> list[str]:
        """The kept file's columns: the fields', then a multi-connection export's connection."""
        return self.field_titles + ([CONNECTION_COLUMN] if self.is_multi else [])

    def auth0_body(self, connection_id: str | None = None) -> dict[str, Any]:
        """The body of POST /api/v2/jobs/users-exports (a multi-connection export's part:
        for ``connection_id``)."""
        if connection_id is not None:
            return dataclasses.replace(
                self, connection_id=connection_id, connections=[]
            ).auth0_body()
        if self.is_exact:
            plan = self.exact_plan()
            # Every user of the connection: the worker keeps the matches.
            exact_body: dict[str, Any] = {
                "format": plan.source_format.auth0_name,
                "fields": plan.auth0_fields(),
            }
            if self.connection_id:
                exact_body["connection_id"] = self.connection_id
            return exact_body
        body: dict[str, Any] = {
            "format": self.export_format.auth0_name,
            "fields": [
                {
                    "name": item["name"],
                    **({"export_as": item["export_as"]} if item.get("export_as") else {}),
                }
                for item in self.fields
            ],
        }
        if self.connection_id:
            body["connection_id"] = self.connection_id
        if self.limit:
            body["limit"] = self.limit
        return body


class ExportQuerySet(models.QuerySet["Export"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> ExportQuerySet:
        """The current tenant's exports: export admins see all of them; everyone else only
        their own."""
        if not user.is_authenticated:
            return self.none()
        mine = self.filter(tenant=current_tenant_slug())
        if can(user, Capability.VIEW_ALL_EXPORTS):  # type: ignore[arg-type]
            return mine
        return mine.filter(requested_by_id=user.pk)

    def create_queued(
        self,
        spec: ExportSpec,
        *,
        requested_by: AbstractBaseUser | None,
        parent: Export | None = None,
        filter_conditions: Sequence[Mapping[str, str]] = (),
    ) -> Export:
        """A new queued export with its first timeline entry (exports.tasks enqueues it).

        With a parent it is a derivative (filter_conditions applied to the parent's kept file);
        without one, the spec's conditions are applied to its own Auth0 file."""
        conditions = [dict(c) for c in (filter_conditions if parent else spec.conditions)]
        export = self.create(
            requested_by_id=requested_by.pk if requested_by else None,
            requested_by_label=requested_by.get_username() if requested_by else "",
            connection_id=spec.connection_id,
            connection_name=spec.connection_name,
            format=spec.format,
            limit=spec.limit,
            fields=[dict(item) for item in spec.fields],
            source_query=spec.source_query,
            name=spec.name,
            match_query=spec.match_query,
            connections=[dict(item) for item in spec.connections],
            parent=parent,
            # A derivative filters its parent's file: the parent's tenant.
            tenant=parent.tenant if parent else current_tenant_slug(),
            filter_conditions=conditions,
            filters_own_file=bool(conditions) and parent is None,
            heartbeat_at=timezone.now(),
        )
        if parent:
            message = f"Filtered from export #{parent.pk}"
        elif conditions:
            message = "Saved; only the rows that meet its conditions are kept"
        else:
            message = "Saved"
        ExportEvent.objects.create(export=export, status=Status.QUEUED, message=message)
        return export


class Export(models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exports",
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    # The Auth0 tenant's slug (management_api.tenants); set from the current tenant.
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    name = models.CharField(
        max_length=NAME_MAX_LENGTH, blank=True, help_text="A label the requester gave it"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The spec, as the builder's cleaned_data left it.
    connection_id = models.CharField(max_length=64, blank=True, help_text="Empty: all connections")
    connection_name = models.CharField(max_length=200, blank=True)
    connections = models.JSONField(
        default=list,
        blank=True,
        help_text='Several connections: [{"id": ..., "name": ...}], one Auth0 job each',
    )
    format = models.CharField(max_length=8, choices=formats.CHOICES, default=formats.DEFAULT.name)
    limit = models.PositiveIntegerField(null=True, blank=True)
    fields = models.JSONField(default=list, help_text='[{"name": ..., "export_as": ...}] in order')
    source_query = models.TextField(blank=True, help_text="The search query this export came from")
    match_query = models.TextField(
        blank=True, help_text="Exact search export: only the users this query matches"
    )
    # Exact search exports: users read from Auth0's file, and those the query matched.
    scanned_count = models.BigIntegerField(null=True, blank=True)
    matched_count = models.BigIntegerField(null=True, blank=True)

    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    percentage_done = models.PositiveSmallIntegerField(null=True, blank=True)
    time_left_seconds = models.PositiveIntegerField(null=True, blank=True)
    auth0_job_id = models.CharField(max_length=64, blank=True)
    # Set just before the job is requested: with it and no job id, Auth0 may hold a job we
    # never heard of, so no second one is requested.
    auth0_submitted_at = models.DateTimeField(null=True, blank=True)
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
    # Deliveries that claimed the current step; past EXPORT_STEP_ATTEMPTS the export fails.
    attempts = models.PositiveIntegerField(default=0)
    download_attempts = models.PositiveIntegerField(default=0)

    # The kept file, in storages["exports"].
    file = models.FileField(storage=exports_storage, max_length=300, blank=True)
    compressed_size = models.BigIntegerField(null=True, blank=True)
    uncompressed_size = models.BigIntegerField(null=True, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by_label = models.CharField(max_length=254, blank=True)
    # Set when the requester was emailed that it settled (exports.notify), so never twice.
    notified_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    # Filtered derivatives: rows of a ready parent export that match every condition.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives"
    )
    filter_conditions = models.JSONField(default=list, blank=True)
    # Conditions kept by a re-run or a template: applied to its own Auth0 file, no parent.
    filters_own_file = models.BooleanField(default=False)

    objects = ExportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return f"Export #{self.pk} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return tenant_reverse(self.tenant, "exports:detail", self.pk)

    @property
    def is_settled(self) -> bool:
        return self.status in SETTLED_STATUSES

    @property
    def is_ready(self) -> bool:
        return self.status == Status.READY

    @property
    def is_exact(self) -> bool:
        return bool(self.match_query)

    @property
    def deletes_at(self) -> datetime | None:
        """When retention deletes the kept file (the hourly prune runs soon after)."""
        if not self.is_ready or self.ready_at is None:
            return None
        return self.ready_at + timedelta(days=settings.EXPORT_RETENTION_DAYS)

    @property
    def progress_words(self) -> str:
        """What an unsettled export is doing, in words, beside its progress bar."""
        if self.percentage_done is not None and self.status == Status.RUNNING:
            left = f", about {self.time_left_seconds} s left" if self.time_left_seconds else ""
            return f"{self.percentage_done}% done by Auth0{left}"
        return {
            Status.QUEUED: "Waiting for a worker",
            Status.SUBMITTED: "Waiting for Auth0 to start its export job",
            Status.RUNNING: "Auth0 is building the file",
            Status.DOWNLOADING: "Downloading and checking the file from Auth0",
            Status.FILTERING: "Keeping the matching rows",
            Status.VERIFYING: "Checking the new file",
        }.get(Status(self.status), "")

    @property
    def auth0_stage(self) -> str:
        """What became of Auth0's export job, in words (an exact export's first stage)."""
        if self.status in (Status.QUEUED, Status.SUBMITTED, Status.RUNNING):
            if self.percentage_done is None:
                return "waiting for Auth0"
            return f"{self.percentage_done}% done"
        # Past Auth0's job only once Auth0 completed it.
        if self.auth0_status == "completed" or self.status not in (
            Status.FAILED,
            Status.CANCELLED,
        ):
            return "done"
        if self.status == Status.CANCELLED:
            return "stopped before it finished: the export was cancelled"
        # A multi-connection export's jobs are its parts' (its first one's time is kept).
        if not self.auth0_job_id and self.auth0_job_created_at is None:
            return "never started: Auth0 refused it (the reason is above)"
        return "failed before it finished (the reason is above)"

    @property
    def is_derivative(self) -> bool:
        # Conditions stay when the parent row is deleted (parent is then NULL).
        return bool(self.filter_conditions) and not self.filters_own_file

    def open_file(self) -> BinaryIO:
        """The kept .gz, streamed from storage; FileNotFoundError when it is gone.

        On S3 this is the object's own HTTP body, read as it is consumed: django-storages'
        S3File would first copy the whole object to a temporary file."""
        if not self.file:
            raise FileNotFoundError(f"export {self.pk} has no file")
        storage = self.file.storage
        if getattr(storage, "bucket_name", None):
            from botocore.exceptions import ClientError
            from storages.utils import clean_name

            key = storage._normalize_name(clean_name(self.file.name))
            try:
                body = storage.bucket.Object(key).get()["Body"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise FileNotFoundError(f"{key} is not in the bucket") from None
                raise
            return body
        return storage.open(self.file.name, "rb")

    def file_is_missing(self) -> bool:
        """A ready export whose file is no longer in storage (lost disk, S3 lifecycle...)."""
        return self.is_ready and (not self.file or not self.file.storage.exists(self.file.name))

    @property
    def export_format(self) -> ExportFormat:
        return formats.get(self.format)

    @property
    def file_extension(self) -> str:
        return self.export_format.extension

    @property
    def column_titles(self) -> list[str]:
        return self.spec.column_titles

    @property
    def is_multi(self) -> bool:
        return bool(self.connections)

    @property
    def connection_label(self) -> str:
        if self.connections:
            names = ", ".join(item.get("name") or item["id"] for item in self.connections)
            return f"{len(self.connections)} connections: {names}"
        if not self.connection_id:
            return "All connections"
        return self.connection_name or self.connection_id

    @property
    def spec(self) -> ExportSpec:
        return ExportSpec(
            format=self.format,
            fields=[dict(item) for item in self.fields],
            connection_id=self.connection_id,
            connection_name=self.connection_name,
            limit=self.limit,
            source_query=self.source_query,
            name=self.name,
            conditions=[dict(c) for c in self.filter_conditions],
            match_query=self.match_query,
            connections=[dict(item) for item in self.connections],
        )

    def stalled_until(self) -> datetime | None:
        """When the recovery sweep sends a stalled export (no worker on it, no progress) to a
        worker again, or None while it is moving (or settled)."""
        if self.status not in ACTIVE_STATUSES or self.heartbeat_at is None:
            return None
        now = timezone.now()
        if self.lease_expires_at is not None and self.lease_expires_at > now:
            return None  # a worker holds it right now
        if self.status == Status.QUEUED:
            quiet = settings.EXPORT_QUEUED_GRACE_SECONDS
            threshold: float = quiet
        else:
            quiet = settings.EXPORT_STALE_SECONDS
            # Between two polls nobody holds the row for up to EXPORT_POLL_MAX_SECONDS.
            threshold = max(settings.EXPORT_POLL_MAX_SECONDS * 2, 60)
        if now - self.heartbeat_at < timedelta(seconds=threshold):
            return None
        due = max(self.heartbeat_at + timedelta(seconds=quiet), now)
        return due + timedelta(seconds=float(settings.EXPORT_SWEEP_SECONDS))

    @property
    def label(self) -> str:
        """The name it was given, or what it holds."""
        return self.name or self.connection_label


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


class PartStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for Auth0"
    RUNNING = "running", "Auth0 is building it"
    COMPLETED = "completed", "Built by Auth0"
    VERIFIED = "verified", "Downloaded and verified"
    FAILED = "failed", "Failed"


class ExportPart(models.Model):
    """One connection of a multi-connection export: its own Auth0 job and verified file,
    joined with the others into the export's one file (exports.parts)."""

    export = models.ForeignKey(Export, on_delete=models.CASCADE, related_name="parts")
    position = models.PositiveSmallIntegerField()
    connection_id = models.CharField(max_length=64)
    connection_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=PartStatus.choices, default=PartStatus.WAITING)
    auth0_job_id = models.CharField(max_length=64, blank=True)
    # Set just before its job is requested (as Export.auth0_submitted_at).
    auth0_submitted_at = models.DateTimeField(null=True, blank=True)
    auth0_job_created_at = models.DateTimeField(null=True, blank=True)
    auth0_status = models.CharField(max_length=32, blank=True)
    percentage_done = models.PositiveSmallIntegerField(null=True, blank=True)
    # Of the part's verified file (Auth0's for it, or the matches of an exact export).
    row_count = models.BigIntegerField(null=True, blank=True)
    compressed_size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    # An exact export's part: users read from Auth0's file, and those the query matched.
    scanned_count = models.BigIntegerField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["export", "position"]
        constraints = [
            models.UniqueConstraint(fields=["export", "position"], name="export_part_position")
        ]

    def __str__(self) -> str:
        return f"Export #{self.export_id}, part {self.position} ({self.connection_name})"

    @property
    def label(self) -> str:
        return self.connection_name or self.connection_id

    @property
    def state(self) -> str:
        """The part as the history lists it: "github ready (591 rows)"."""
        rows = self.row_count
        counted = "" if rows is None else f" ({rows:,} row{'' if rows == 1 else 's'})"
        return f"{self.label} {self.get_status_display().lower()}{counted}"


class ExportTemplateQuerySet(models.QuerySet["ExportTemplate"]):
    def of(self, user: AbstractBaseUser | AnonymousUser) -> ExportTemplateQuerySet:
        """A staff member's templates for the current tenant (their connections are its)."""
        return self.filter(owner_id=user.pk, tenant=current_tenant_slug())


class ExportTemplate(models.Model):
    name = models.CharField(max_length=TEMPLATE_NAME_MAX_LENGTH)
    # The Auth0 tenant's slug (management_api.tenants); set from the current tenant.
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    spec = models.JSONField(default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_templates"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExportTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "tenant", "name"], name="export_template_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def export_format(self) -> ExportFormat:
        return formats.get(str(self.spec.get("format") or formats.DEFAULT.name))


# The app's other models, in modules of their own that name Export by its label
# ("exports.Export"): imported here, where Django looks for the app's models.
from .import_models import ImportPart, ImportRun  # noqa: E402, F401
from .schedule_models import ExportSchedule, ScheduleRun  # noqa: E402, F401
