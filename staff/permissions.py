"""The one place that decides who may do what.

Views declare the capability they need with @requires(Capability.X); templates ask
through the `can` context variable. Nothing else checks permissions.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

SUPPORT_GROUP = "Support"
EXPORT_ADMIN_GROUP = "Export admin"


class Capability(StrEnum):
    SEARCH_USERS = "search_users"
    RUN_EXPORTS = "run_exports"
    VIEW_ALL_EXPORTS = "view_all_exports"
    DOWNLOAD_EXPORTS = "download_exports"
    VIEW_AUDIT_LOG = "view_audit_log"

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
}

ROLE_CAPABILITIES: dict[str, tuple[Capability, ...]] = {
    SUPPORT_GROUP: (Capability.SEARCH_USERS,),
    EXPORT_ADMIN_GROUP: tuple(Capability),
}


def can(user: AbstractUser | AnonymousUser, capability: Capability) -> bool:
    return bool(user.is_authenticated and user.is_active and user.has_perm(capability.perm))


ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def requires(capability: Capability) -> Callable[[ViewFunc], ViewFunc]:
    """Sign-in is enforced by LoginRequiredMiddleware; this adds the capability check (403)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not can(request.user, capability):
                raise PermissionDenied(f"Your role does not include {capability.label}.")
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def may_delete_saved_search(user: AbstractUser | AnonymousUser, saved: Any) -> bool:
    """Anyone who searches sees their own and shared saved searches; only the owner deletes."""
    return can(user, Capability.SEARCH_USERS) and saved.owner_id == user.pk
