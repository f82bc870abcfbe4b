"""Sign-in events into the audit log from Django's and django-axes' signals.

Successful sign-ins are recorded by the views that make them (staff.views.SignInView and
staff.oidc.SignInCallbackView), which know the method and the provider's subject; Django's
user_logged_in also fires for the test client's force_login, which is no sign-in.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.apps import AppConfig
from django.contrib.auth.models import Permission
from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.db import connections, router
from django.db.models.signals import post_migrate, pre_migrate
from django.dispatch import receiver
from django.http import HttpRequest

from . import audit, roles

# The staff permission codenames before this process's migrate (None: no migrate under way).
_known_before_migrate: set[str] | None = None


@receiver(pre_migrate, dispatch_uid="staff-permissions-before-migrate")
def _before_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    global _known_before_migrate
    if sender.label == "staff" and router.allow_migrate_model(using, Permission):
        fresh = Permission._meta.db_table not in connections[using].introspection.table_names()
        _known_before_migrate = set() if fresh else roles.staff_codenames(using)


@receiver(post_migrate, dispatch_uid="staff-grant-new-capabilities")
def _after_migrate(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Runs after auth's create_permissions (connected first): grant the new capabilities."""
    global _known_before_migrate
    if sender.label == "staff" and _known_before_migrate is not None:
        known, _known_before_migrate = _known_before_migrate, None
        roles.grant_new_capabilities(known, using)


@receiver(user_logged_out, dispatch_uid="staff-audit-sign-out")
def _signed_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        idle = getattr(request, "signed_out_idle_minutes", None)
        details = {"reason": f"idle for over {idle} minutes"} if idle else {}
        audit.record_for(request, user, audit.SIGN_OUT, target=user.get_username(), **details)


@receiver(user_login_failed, dispatch_uid="staff-audit-sign-in-failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # An OIDC callback that fails is recorded by staff.oidc with the reason; this is the form.
    if "username" not in credentials or request is None:
        return
    email = str(credentials.get("username") or "")
    audit.record_for(
        request,
        None,
        audit.SIGN_IN_FAILED,
        target=email,
        actor_label=email,
        method="password",
        reason="locked" if getattr(request, "axes_locked_out", False) else "wrong password",
    )


@receiver(user_locked_out, dispatch_uid="staff-audit-locked-out")
def _locked_out(
    sender: Any, request: HttpRequest | None, username: str | None = None, **kwargs: Any
) -> None:
    from django.conf import settings

    email = str(username or "")
    audit.record_for(
        request,
        None,
        audit.LOCKED_OUT,
        target=email,
        actor_label=email,
        failures=str(settings.AXES_FAILURE_LIMIT),
        minutes=f"{settings.AXES_COOLOFF_TIME * 60:g}",
    )


def axes_skips(request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
    """AXES_WHITELIST_CALLABLE: only password sign-ins are counted and locked.

    An OIDC callback has no username; counting its failures would lock every OIDC sign-in
    together under the name None. The provider throttles its own sign-in.
    """
    return credentials is not None and "username" not in credentials
