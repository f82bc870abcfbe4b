"""Userdesk's own records about searching and acting on users: submitted actions (keyed by
their idempotency token), and the searches a staff member keeps (saved under a name, private or
shared, and the recent ones)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from management_api.tenants import current_tenant_slug

RECENT_KEPT = 10


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


class SavedSearchQuerySet(models.QuerySet["SavedSearch"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> SavedSearchQuerySet:
        """A staff member sees their own searches and those shared with the team."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(
            models.Q(owner_id=user.pk) | models.Q(shared=True), tenant=current_tenant_slug()
        )


class SavedSearch(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_searches"
    )
    name = models.CharField(max_length=100)
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
        return f"/users/?{self.query_string}"


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
        return f"/users/?{self.query_string}"

    @staticmethod
    def digest_of(query_string: str) -> str:
        return hashlib.sha256(query_string.encode()).hexdigest()
