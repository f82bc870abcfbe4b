"""Scheduled exports: a schedule (what to export, when, for whom) and a row per occurrence.

A schedule keeps a copy of the spec it was made from (a template's, or a saved search's query
with the default fields), so editing or deleting the template later does not change it. Each
occurrence the beat finds due gets one ScheduleRun, unique on (schedule, occurrence): a second
beat or a retry finds the row taken and creates nothing (exports.scheduling). A run that
started links to its Export, which the history lists as any other.
"""

from __future__ import annotations

from datetime import datetime, time

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from config.tenant_urls import tenant_reverse
from management_api.tenants import current_tenant_slug

from . import recurrence
from .status import Status


class Frequency(models.TextChoices):
    DAILY = recurrence.DAILY, "Daily"
    WEEKLY = recurrence.WEEKLY, "Weekly"
    MONTHLY = recurrence.MONTHLY, "Monthly"


class Scope(models.TextChoices):
    FULL = "full", "Every matching user (a full export)"
    CREATED = "created", "Only users created since the last successful run"
    CHANGED = "changed", "Only users created or changed since the last successful run"


# The user field each changed-since scope reads.
SCOPE_FIELD = {Scope.CREATED: "created_at", Scope.CHANGED: "updated_at"}

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]


class RunOutcome(models.TextChoices):
    STARTED = "started", "Export started"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Could not start"


class ExportScheduleQuerySet(models.QuerySet["ExportSchedule"]):
    def of_tenant(self, user: AbstractBaseUser | AnonymousUser) -> ExportScheduleQuerySet:
        """The current tenant's schedules (everyone who may manage schedules sees all)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(tenant=current_tenant_slug())


class ExportSchedule(models.Model):
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_schedules"
    )
    # What it exports: a copy of the spec, and where it came from in words.
    source_label = models.CharField(max_length=250)
    spec = models.JSONField(default=dict)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)

    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    at_time = models.TimeField(help_text="Wall-clock time in the zone")
    zone = models.CharField(max_length=64, default="UTC")
    weekday = models.PositiveSmallIntegerField(default=0, choices=WEEKDAYS)
    day_of_month = models.PositiveSmallIntegerField(default=1)

    paused = models.BooleanField(default=False)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExportScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return tenant_reverse(self.tenant, "exports:schedule", self.pk)

    def next_after(self, moment: datetime) -> datetime:
        return recurrence.next_occurrence(
            moment,
            frequency=self.frequency,
            at=self.at_time,
            zone=self.zone,
            weekday=self.weekday,
            day_of_month=self.day_of_month,
        )

    @property
    def when(self) -> str:
        """ "Weekly on Monday at 07:00 (Europe/Paris)"."""
        at = time.strftime(self.at_time, "%H:%M")
        if self.frequency == Frequency.WEEKLY:
            day = f" on {self.get_weekday_display()}"
        elif self.frequency == Frequency.MONTHLY:
            day = f" on day {self.day_of_month}"
            if self.day_of_month > 28:
                day += " (the last day in shorter months)"
        else:
            day = ""
        return f"{self.get_frequency_display()}{day} at {at} ({self.zone})"

    @property
    def changed_field(self) -> str:
        return SCOPE_FIELD.get(Scope(self.scope), "")

    def last_success(self) -> ScheduleRun | None:
        """The latest run whose export became ready (its file may since have been deleted by
        retention): a changed-since run starts from it."""
        return (
            self.runs.filter(export__status__in=(Status.READY, Status.PURGED))
            .select_related("export")
            .order_by("-occurrence")
            .first()
        )


class ScheduleRun(models.Model):
    schedule = models.ForeignKey(ExportSchedule, on_delete=models.CASCADE, related_name="runs")
    occurrence = models.DateTimeField(help_text="The due time this run is for")
    created_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=8, choices=RunOutcome.choices)
    message = models.TextField(blank=True)
    export = models.OneToOneField(
        "exports.Export",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="schedule_run",
    )
    # A changed-since run: users whose field is at or after this instant (None: every user).
    window_start = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurrence", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "occurrence"], name="schedule_run_once_per_occurrence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.occurrence:%Y-%m-%d %H:%M} ({self.outcome})"

    @property
    def failed(self) -> bool:
        """Could not start, or its export failed."""
        return self.outcome == RunOutcome.FAILED or (
            self.export is not None and self.export.status == Status.FAILED
        )
