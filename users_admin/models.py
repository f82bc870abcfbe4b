"""Userdesk's own records about searching and acting on users: submitted actions (keyed by
their idempotency token), and the searches a staff member keeps (saved under a name, private or
shared, and the recent ones)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from config.tenant_urls import tenant_reverse
from exports.storage import exports_storage
from management_api.tenants import current_tenant_slug

RECENT_KEPT = 10


def search_url(tenant: str, query_string: str) -> str:
    """The search page of a saved or recent search: on its tenant, with its query."""
    return tenant_reverse(tenant, "users_admin:search", query=query_string)


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
    # The Auth0 tenant's slug (management_api.tenants); set from the current tenant.
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
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


def submitted(token: Any) -> bool:
    """Whether a form with this idempotency token was already submitted."""
    return ActionRequest.objects.filter(token=token, tenant=current_tenant_slug()).exists()


class SavedSearchQuerySet(models.QuerySet["SavedSearch"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> SavedSearchQuerySet:
        """A staff member sees their own searches and those shared with the team."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            models.Q(owner_id=user.pk) | models.Q(shared=True), tenant=current_tenant_slug()
        )


# A saved search's name: the model, the form and the page's maxlength take it from here.
SAVED_SEARCH_NAME_MAX_LENGTH = 100


class SavedSearch(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name = models.CharField(max_length=SAVED_SEARCH_NAME_MAX_LENGTH)
    # The Auth0 tenant's slug (management_api.tenants); set from the current tenant.
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    # The search page's query string (without page or refresh): reopening is the same URL.
    query_string = models.TextField()
    shared = models.BooleanField(default=False, help_text="Shown to every staff member.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SavedSearchQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "tenant", "name"], name="saved_search_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return search_url(self.tenant, self.query_string)


class RecentSearchQuerySet(models.QuerySet["RecentSearch"]):
    def of(self, user: AbstractBaseUser | AnonymousUser) -> RecentSearchQuerySet:
        """A staff member's recent searches on the current tenant."""
        return self.filter(owner_id=user.pk, tenant=current_tenant_slug())


class RecentSearch(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recent_searches"
    )
    # The Auth0 tenant's slug (management_api.tenants); set from the current tenant.
    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    query_string = models.TextField()
    # Query strings can be long: uniqueness is kept on their digest.
    digest = models.CharField(max_length=64)
    query = models.TextField(help_text="The Lucene query sent, as shown to the agent.")
    searched_at = models.DateTimeField()

    objects = RecentSearchQuerySet.as_manager()

    class Meta:
        ordering = ["-searched_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "tenant", "digest"], name="recent_search_unique"
            )
        ]

    def __str__(self) -> str:
        return self.query or "(every user)"

    @property
    def url(self) -> str:
        return search_url(self.tenant, self.query_string)

    @staticmethod
    def digest_of(query_string: str) -> str:
        return hashlib.sha256(query_string.encode()).hexdigest()


class BulkRunStatus(models.TextChoices):
    SELECTING = "selecting", "Selecting users"
    SELECTED = "selected", "Users selected"
    PREVIEWING = "previewing", "Preparing the preview"
    PREVIEWED = "previewed", "Previewed"
    PENDING = "pending", "Waiting for approval"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Approval expired"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    DONE = "done", "Finished"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class BulkRun(models.Model):
    """One bulk run (users_admin.bulk): which users it holds, frozen as a snapshot.

    The users come from a search query (an exact export of it) or from an uploaded list of
    user ids and emails (resolved against an export of the whole tenant); ``export`` is that
    snapshot, ``blocks`` the users selected (``items`` those a worker has reached) and
    ``entries`` the list's lines it could not use.
    """

    class Source(models.TextChoices):
        QUERY = "query", "Search query"
        LIST = "list", "Uploaded list"
        RETRY = "retry", "The failed users of a run"
        UNDO = "undo", "The users a run changed, to undo it"

    tenant = models.CharField(max_length=40, db_index=True, default=current_tenant_slug)
    source = models.CharField(max_length=8, choices=Source.choices)
    query = models.TextField(blank=True, help_text="The search query (Lucene) it selects")
    list_file = models.FileField(
        storage=exports_storage, max_length=300, blank=True, upload_to="bulk-lists/"
    )
    list_name = models.CharField(max_length=255, blank=True, help_text="The uploaded file's name")
    list_lines = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="bulk_runs"
    )
    requested_by_label = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status = models.CharField(
        max_length=12, choices=BulkRunStatus.choices, default=BulkRunStatus.SELECTING
    )
    failure_reason = models.TextField(blank=True)
    export = models.ForeignKey(
        "exports.Export", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snapshot_at = models.DateTimeField(null=True, blank=True)
    selected_count = models.PositiveIntegerField(null=True, blank=True)
    unknown_count = models.PositiveIntegerField(null=True, blank=True)
    ambiguous_count = models.PositiveIntegerField(null=True, blank=True)
    duplicate_count = models.PositiveIntegerField(null=True, blank=True)

    # What it does (users_admin.bulk.ACTIONS), why, and its preview (from the snapshot).
    action = models.CharField(max_length=40, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="The action's form data")
    reason = models.TextField(blank=True)
    ticket = models.CharField(max_length=200, blank=True)
    # Each new choice of action bumps it, so a preview of an older choice is never stored.
    preview_version = models.PositiveIntegerField(default=0)
    change_count = models.PositiveIntegerField(null=True, blank=True)
    skip_counts = models.JSONField(default=dict, blank=True, help_text="{reason: users}")
    expected_seconds = models.PositiveIntegerField(null=True, blank=True)

    # Four eyes: which users (the query, or the list file's digest), who asked, who decided.
    selection_key = models.CharField(max_length=64, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by_label = models.CharField(max_length=254, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)

    # Execution (users_admin.bulk_run): a worker holds the lease while it sends, like exports'.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcomes = models.JSONField(default=dict, blank=True, help_text="{outcome: users} so far")
    rate_per_second = models.FloatField(null=True, blank=True, help_text="Users a second lately")
    cancelled_by_label = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "selection_key", "action"],
                condition=models.Q(status="pending"),
                name="bulk_run_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"Bulk run #{self.pk}"

    @property
    def needs_approval(self) -> bool:
        """Above the threshold, and every delete, needs a second staff member's approval."""
        large = (self.change_count or 0) > settings.BULK_APPROVAL_THRESHOLD
        return large or self.action == "delete"

    @property
    def what(self) -> str:
        if self.source == self.Source.RETRY:
            return f"the users run #{self.parent_id} failed"
        if self.source == self.Source.UNDO:
            return f"the users run #{self.parent_id} changed"
        if self.source == self.Source.QUERY:
            return f"users matching {self.query}" if self.query else "every user"
        return f"the users listed in {self.list_name}"


class BulkOutcome(models.TextChoices):
    SENDING = "sending", "Being sent"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown"


class BulkItem(models.Model):
    """A user of a run its worker reached (users_admin.bulk_rows makes a block's at a time),
    with the profile fields its actions read (from the snapshot)."""

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    user_id = models.CharField(max_length=500)
    email = models.CharField(max_length=320, blank=True)
    profile = models.JSONField(default=dict)
    # The preview: why the action skips this user, else what it changes (once sent: what it
    # changed, from Auth0's answer).
    skip_reason = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    # The run's outcome for this user.
    outcome = models.CharField(max_length=10, choices=BulkOutcome.choices, blank=True)
    message = models.TextField(blank=True, help_text="The skip reason, or Auth0's message")
    answer = models.JSONField(default=dict, blank=True, help_text="What Auth0 answered")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="bulk_item_position"),
        ]
        indexes = [models.Index(fields=["run", "outcome", "position"])]

    def __str__(self) -> str:
        return self.user_id


class BulkBlock(models.Model):
    """Up to a thousand users of a run, in the run's order, as the snapshot gave them: what the
    run reads of each user, compressed (users_admin.bulk_rows). The selection writes these
    instead of one row a user; the preview marks who it skips here; a worker makes them items
    (BulkItem) a block at a time as it reaches them."""

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="blocks")
    first = models.PositiveIntegerField(help_text="The position of its first user")
    size = models.PositiveIntegerField()
    data = models.BinaryField(
        help_text="zlib of one JSON object a user, its line in the snapshot export"
    )
    skips = models.JSONField(default=dict, blank=True, help_text="{offset: why the run skips it}")
    made = models.BooleanField(default=False, help_text="Its users are the run's items now")

    class Meta:
        ordering = ["run", "first"]
        constraints = [models.UniqueConstraint(fields=["run", "first"], name="bulk_block_first")]

    def __str__(self) -> str:
        return f"users {self.first}-{self.first + self.size - 1} of run #{self.run_id}"


class BulkEntry(models.Model):
    """A line of an uploaded list that selects nobody: unknown, or ambiguous (never guessed)."""

    class Problem(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        AMBIGUOUS = "ambiguous", "Ambiguous"

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="entries")
    line = models.PositiveIntegerField()
    entry = models.CharField(max_length=500)
    problem = models.CharField(max_length=10, choices=Problem.choices)
    candidates = models.JSONField(default=list, blank=True, help_text="The user ids it matches")

    class Meta:
        ordering = ["run", "line"]

    def __str__(self) -> str:
        return f"line {self.line}: {self.entry} ({self.problem})"


# Reveals of masked personal data (users_admin.pii), declared in a module of their own.
from .pii_models import DataPackage, Reveal  # noqa: E402, F401
