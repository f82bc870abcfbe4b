"""The one place that decides who may do what.

Views declare the capability they need with @requires(Capability.X); templates ask
through the `can` context variable. Nothing else checks permissions.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

SUPPORT_GROUP = "Support"
SUPPORT_LEAD_GROUP = "Support lead"
EXPORT_ADMIN_GROUP = "Export admin"


class Capability(StrEnum):
    SEARCH_USERS = "search_users"
    RUN_EXPORTS = "run_exports"
    VIEW_ALL_EXPORTS = "view_all_exports"
    DOWNLOAD_EXPORTS = "download_exports"
    VIEW_AUDIT_LOG = "view_audit_log"
    # One per kind of action on a user at Auth0 (the user page's workbench).
    RESEND_VERIFICATION = "resend_verification"
    SEND_PASSWORD_LINK = "send_password_link"
    CLEAR_BRUTE_FORCE = "clear_brute_force"
    BLOCK_USERS = "block_users"
    RESET_MFA = "reset_mfa"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    EDIT_METADATA = "edit_metadata"
    DELETE_USERS = "delete_users"
    # Bulk runs (users_admin.bulk): requesting, approving someone else's, and deleting in bulk.
    REQUEST_BULK_RUNS = "request_bulk_runs"
    APPROVE_BULK_RUNS = "approve_bulk_runs"
    RUN_BULK_DELETES = "run_bulk_deletes"

    @property
    def perm(self) -> str:
        return f"staff.{self.value}"

    @property
    def label(self) -> str:
        return CAPABILITY_LABELS[self]


CAPABILITY_LABELS = {
    Capability.SEARCH_USERS: "searching users",
    Capability.RUN_EXPORTS: "building exports",
    Capability.VIEW_ALL_EXPORTS: "seeing everyone's exports",
    Capability.DOWNLOAD_EXPORTS: "downloading export files",
    Capability.VIEW_AUDIT_LOG: "reading the audit log",
    Capability.RESEND_VERIFICATION: "resending verification emails",
    Capability.SEND_PASSWORD_LINK: "sending password change links",
    Capability.CLEAR_BRUTE_FORCE: "clearing brute-force blocks",
    Capability.BLOCK_USERS: "blocking and unblocking users",
    Capability.RESET_MFA: "removing MFA methods",
    Capability.SIGN_OUT_EVERYWHERE: "signing users out everywhere",
    Capability.EDIT_METADATA: "editing user and app metadata",
    Capability.DELETE_USERS: "deleting users",
    Capability.REQUEST_BULK_RUNS: "requesting bulk runs",
    Capability.APPROVE_BULK_RUNS: "approving bulk runs",
    Capability.RUN_BULK_DELETES: "deleting users in bulk",
}

SUPPORT_CAPABILITIES = (
    Capability.SEARCH_USERS,
    Capability.RESEND_VERIFICATION,
    Capability.SEND_PASSWORD_LINK,
    Capability.CLEAR_BRUTE_FORCE,
)
ROLE_CAPABILITIES: dict[str, tuple[Capability, ...]] = {
    SUPPORT_GROUP: SUPPORT_CAPABILITIES,
    SUPPORT_LEAD_GROUP: (
        *SUPPORT_CAPABILITIES,
        Capability.BLOCK_USERS,
        Capability.RESET_MFA,
        Capability.SIGN_OUT_EVERYWHERE,
        Capability.EDIT_METADATA,
        # Only effective while USERDESK_ALLOW_USER_DELETE is on (see `can`).
        Capability.DELETE_USERS,
        Capability.REQUEST_BULK_RUNS,
        Capability.APPROVE_BULK_RUNS,
        # Only effective while USERDESK_ALLOW_USER_DELETE is on (see `can`).
        Capability.RUN_BULK_DELETES,
    ),
    EXPORT_ADMIN_GROUP: (
        Capability.SEARCH_USERS,
        Capability.RUN_EXPORTS,
        Capability.VIEW_ALL_EXPORTS,
        Capability.DOWNLOAD_EXPORTS,
        Capability.VIEW_AUDIT_LOG,
    ),
}


def granted(user: AbstractUser | AnonymousUser) -> frozenset[Capability]:
    """Every capability this user's roles grant, worked out once per user object.

    The user object lives for one request (AuthenticationMiddleware loads it afresh), and Django
    already keeps its permissions for that long: this keeps the set of capabilities beside them,
    so a page asking about a dozen of them (the `can` context variable) asks the backends once.
    """
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    cached: frozenset[Capability] | None = getattr(user, "_userdesk_capabilities", None)
    if cached is None:
        cached = frozenset(cap for cap in Capability if user.has_perm(cap.perm))
        user._userdesk_capabilities = cached  # type: ignore[attr-defined]
    return cached


def can(user: AbstractUser | AnonymousUser, capability: Capability) -> bool:
    deletes = (Capability.DELETE_USERS, Capability.RUN_BULK_DELETES)
    if capability in deletes and not settings.USERDESK_ALLOW_USER_DELETE:
        return False
    return capability in granted(user)


def require(user: AbstractUser | AnonymousUser, capability: Capability) -> None:
    """For a view whose capability depends on its URL (the user actions): 403 without it."""
    if not can(user, capability):
        raise PermissionDenied(f"Your role does not include {capability.label}.")


ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def requires(capability: Capability) -> Callable[[ViewFunc], ViewFunc]:
    """Sign-in is enforced by LoginRequiredMiddleware; this adds the capability check (403)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request.user, capability)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def may_delete_saved_search(user: AbstractUser | AnonymousUser, saved: Any) -> bool:
    """Anyone who searches sees their own and shared saved searches; only the owner deletes."""
    return can(user, Capability.SEARCH_USERS) and saved.owner_id == user.pk


def may_approve_bulk_run(user: AbstractUser | AnonymousUser, run: Any) -> bool:
    """Four eyes: a staff member allowed to approve, never the one who asked; a delete also
    needs the right to delete in bulk (so only while USERDESK_ALLOW_USER_DELETE is on)."""
    if not can(user, Capability.APPROVE_BULK_RUNS) or run.requested_by_id == user.pk:
        return False
    return run.action != "delete" or can(user, Capability.RUN_BULK_DELETES)
