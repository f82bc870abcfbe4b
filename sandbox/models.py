# ruff: noqa: DJ001 (NULL, never '', means "absent" in the search columns: _exists_ is IS NOT NULL)
"""The sandbox tenant's user store.

`TenantUser.profile` holds the Auth0 user object exactly as the API returns it. The `s_` columns
and `SearchTerm` rows are the search index that only `GET /api/v2/users` reads; they are refreshed
from `profile` by `sandbox.indexing` once a write's search lag has passed, which is what makes the
sandbox's search eventually consistent the way Auth0's is.
"""

from __future__ import annotations

from django.db import models


class Connection(models.Model):
    id = models.CharField(primary_key=True, max_length=20)
    name = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=128, blank=True)
    strategy = models.CharField(max_length=32)
    options = models.JSONField(default=dict, blank=True)
    is_domain_connection = models.BooleanField(default=False)
    position = models.IntegerField(default=0)
    # What POST/PATCH /connections set beyond the columns (show_as_button, realms, metadata,
    # enabled_clients, authentication, connected_accounts): answered as given.
    # The column defaults to `{}` too, for rows written in SQL (tests, older seeds).
    properties = models.JSONField(default=dict, blank=True, db_default=models.Value("{}"))

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


# The s_ columns with a (searchable, column) index named `sandbox_u_<column>`.
INDEXED_SEARCH_COLUMNS = (
    "s_user_id",
    "s_username",
    "s_phone_number",
    "s_email",
    "s_email_domain",
    "s_name",
    "s_given_name",
    "s_family_name",
    "s_nickname",
    "s_connection",
    "s_logins_count",
    "s_created_at",
    "s_updated_at",
    "s_last_login",
)


class TenantUser(models.Model):
    # The integer primary key is insertion order, which is the default result order.
    user_id = models.CharField(max_length=255, unique=True)
    email = models.CharField(max_length=320, null=True, blank=True, db_index=True)
    profile = models.TextField()

    searchable = models.BooleanField(default=False)
    # Case-sensitive index columns.
    s_user_id = models.CharField(max_length=255, null=True)
    s_username = models.CharField(max_length=128, null=True)
    s_phone_number = models.CharField(max_length=32, null=True)
    s_last_ip = models.CharField(max_length=64, null=True)
    # Lower-cased index columns (the fields Auth0 searches case-insensitively).
    s_email = models.CharField(max_length=320, null=True)
    s_email_domain = models.CharField(max_length=255, null=True)
    s_name = models.CharField(max_length=255, null=True)
    s_given_name = models.CharField(max_length=255, null=True)
    s_family_name = models.CharField(max_length=255, null=True)
    s_nickname = models.CharField(max_length=400, null=True)
    s_connection = models.CharField(max_length=128, null=True)
    s_email_verified = models.BooleanField(null=True)
    s_phone_verified = models.BooleanField(null=True)
    s_blocked = models.BooleanField(null=True)
    s_logins_count = models.IntegerField(null=True)
    s_created_at = models.CharField(max_length=32, null=True)
    s_updated_at = models.CharField(max_length=32, null=True)
    s_last_login = models.CharField(max_length=32, null=True)

    class Meta:
        # (searchable, column): every search filters on `searchable = 1`, so these indexes both
        # find and cover a match (no table row read until the page's profiles are fetched), and
        # keep the column's order for `sort`.
        indexes = [
            models.Index(fields=["searchable", column], name=f"sandbox_u_{column}")
            for column in INDEXED_SEARCH_COLUMNS
        ]

    def __str__(self) -> str:
        return self.user_id


class SearchTerm(models.Model):
    """One flattened metadata leaf or identity attribute of a user, for `path:value` queries."""

    user = models.ForeignKey(TenantUser, on_delete=models.CASCADE, db_index=False)
    path = models.CharField(max_length=255)
    value = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["path", "value", "user"], name="sandbox_term_path_value"),
            # Deleting a user's terms on reindex and cascades need a lookup by user.
            models.Index(fields=["user"], name="sandbox_term_user"),
        ]

    def __str__(self) -> str:
        return f"{self.path}={self.value}"


class IndexQueue(models.Model):
    """A user whose search columns must be refreshed from its profile once `due_at` has passed."""

    user = models.ForeignKey(TenantUser, on_delete=models.CASCADE)
    due_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.user_id} at {self.due_at:%H:%M:%S}"


# Export jobs and fault switches live in their own module (owned by the sandbox server work);
# importing them here is what makes Django see them as sandbox models.
from sandbox.access_models import Membership, Organization, Role, UserPermission, UserRole  # noqa: E402
from sandbox.job_models import ExportJob, Switch  # noqa: E402
from sandbox.support_models import (  # noqa: E402
    AuthenticationMethod,
    LogEvent,
    RefreshToken,
    TenantMeta,
    Ticket,
    UserBlock,
    UserSession,
)

__all__ = [
    "INDEXED_SEARCH_COLUMNS",
    "AuthenticationMethod",
    "Connection",
    "ExportJob",
    "IndexQueue",
    "LogEvent",
    "Membership",
    "Organization",
    "RefreshToken",
    "Role",
    "SearchTerm",
    "Switch",
    "TenantMeta",
    "TenantUser",
    "Ticket",
    "UserBlock",
    "UserPermission",
    "UserRole",
    "UserSession",
]
