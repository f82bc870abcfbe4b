"""The actions a support agent takes on a user at Auth0, and how each one is carried out.

Every action: a capability, when it applies to a user, the form it needs, and `perform`,
which calls the Management API and says what changed (before/after) and what Auth0 answered.
`execute` wraps it: claim the form's idempotency token (a replay does nothing twice), call,
write the audit event with actor, user, reason, before/after and Auth0's answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from management_api import (
    ManagementApiError,
    TransientError,
    authentication_methods,
    clear_user_blocks,
    create_password_change_ticket,
    delete_authentication_method,
    delete_authentication_methods,
    delete_user,
    delete_user_refresh_tokens,
    delete_user_sessions,
    invalidate_remember_browser,
    send_password_reset_email,
    send_verification_email,
    update_user,
    user_blocks,
    user_refresh_tokens,
    user_sessions,
)
from management_api.tenants import current_tenant_slug
from staff.audit import record
from staff.permissions import Capability

from .action_forms import (
    ActionForm,
    DeleteForm,
    MetadataForm,
    PasswordLinkForm,
    RemoveMfaForm,
)
from .models import ActionRequest
from .workbench import Workbench

TICKET_TTL_SECONDS = 86400


@dataclass
class Result:
    message: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)  # what Auth0 answered (no secrets)
    secret: str = ""  # shown to the agent once, never stored (a password change link)
    job_id: str = ""  # a verification email job the outcome follows


@dataclass(frozen=True)
class Action:
    name: str
    capability: Capability
    title: str
    effect: str  # the confirmation's sentence; {user} is the user's label
    applies: Callable[[Workbench], bool]
    perform: Callable[[Workbench, dict[str, Any]], Result]
    form_class: type[ActionForm] = ActionForm
    button: str = "Confirm"
    danger: bool = False

    def form(self, bench: Workbench, data: Any = None) -> ActionForm:
        kwargs: dict[str, Any] = {}
        if self.form_class is RemoveMfaForm:
            kwargs["methods"] = bench.mfa_methods
        elif self.form_class is DeleteForm:
            kwargs["user_id"] = bench.user_id
        elif self.form_class is MetadataForm:
            kwargs["current"] = {
                "user_metadata": dict(bench.profile.get("user_metadata") or {}),
                "app_metadata": dict(bench.profile.get("app_metadata") or {}),
            }
        return self.form_class(data, **kwargs)


# --- perform functions -------------------------------------------------------------------


def _set_blocked(blocked: bool) -> Callable[[Workbench, dict[str, Any]], Result]:
    def perform(bench: Workbench, data: dict[str, Any]) -> Result:
        updated = update_user(bench.user_id, {"blocked": blocked})
        return Result(
            message=(
                "Blocked: Auth0 refuses every sign-in of this user."
                if blocked
                else "Unblocked: the user can sign in again."
            ),
            before={"blocked": bool(bench.profile.get("blocked"))},
            after={"blocked": bool(updated.get("blocked"))},
            answer={"blocked": updated.get("blocked"), "updated_at": updated.get("updated_at")},
        )

    return perform


def _clear_blocks(bench: Workbench, data: dict[str, Any]) -> Result:
    clear_user_blocks(bench.user_id)
    remaining = user_blocks(bench.user_id) or []
    return Result(
        message=(
            "Brute-force blocks cleared: the user can sign in from those addresses again."
            if not remaining
            else f"Auth0 accepted, but {len(remaining)} block(s) remain."
        ),
        before={"blocked_for": bench.brute_force_blocks},
        after={"blocked_for": remaining},
        answer={"status": 204},
    )


def _resend_verification(bench: Workbench, data: dict[str, Any]) -> Result:
    identity = None
    if not bench.is_database_user and bench.primary_identity:
        identity = {
            "user_id": str(bench.primary_identity.get("user_id")),
            "provider": bench.provider,
        }
    job = send_verification_email(bench.user_id, identity=identity)
    return Result(
        message=(
            f"Auth0 queued a verification email to {bench.email} "
            f"(job {job.get('id')}, {job.get('status')})."
        ),
        before={"email_verified": bench.profile.get("email_verified")},
        after={"email_verified": bench.profile.get("email_verified"), "job": job.get("id")},
        answer=dict(job),
        job_id=str(job.get("id") or ""),
    )


def _password_link(bench: Workbench, data: dict[str, Any]) -> Result:
    if data.get("mode") == "email":
        sentence = send_password_reset_email(bench.email, bench.connection)
        return Result(
            message=f"Auth0 is emailing a password reset link to {bench.email}: {sentence}",
            after={"reset_email": bench.email},
            answer={"message": sentence},
        )
    ticket = create_password_change_ticket(bench.user_id, ttl_sec=TICKET_TTL_SECONDS)
    parts = urlsplit(ticket)
    return Result(
        message=(
            "A password change link, valid 24 hours. It is shown this once: copy it to "
            "the user now (Auth0 has not emailed it)."
        ),
        after={"ticket_created": True},
        # The ticket is a credential: the audit keeps where it points, not the ticket itself.
        answer={"ticket": f"{parts.scheme}://{parts.netloc}{parts.path}?ticket=(shown once)"},
        secret=ticket,
    )


def _remove_mfa(bench: Workbench, data: dict[str, Any]) -> Result:
    chosen = str(data.get("method") or "all")
    before = [{"id": m.get("id"), "type": m.get("type")} for m in bench.mfa_methods]
    if chosen == "all":
        delete_authentication_methods(bench.user_id)
        invalidate_remember_browser(bench.user_id)
    else:
        delete_authentication_method(bench.user_id, chosen)
    remaining = authentication_methods(bench.user_id) or []
    after = [{"id": m.get("id"), "type": m.get("type")} for m in remaining]
    return Result(
        message=(
            "Every MFA method removed and remembered browsers forgotten: the user enrols "
            "again at the next sign-in."
            if chosen == "all"
            else f"MFA method {chosen} removed."
        ),
        before={"methods": before},
        after={"methods": after},
        answer={"status": 204, "removed": chosen},
    )


def _sign_out(bench: Workbench, data: dict[str, Any]) -> Result:
    before = {
        "sessions": len(user_sessions(bench.user_id)),
        "refresh_tokens": len(user_refresh_tokens(bench.user_id)),
    }
    delete_user_sessions(bench.user_id)
    delete_user_refresh_tokens(bench.user_id)
    # Auth0 revokes asynchronously, so a read right now may still list them: not re-read.
    after = {"sessions": "revoked", "refresh_tokens": "revoked"}
    return Result(
        message=(
            f"Auth0 accepted: {before['sessions']} session(s) and {before['refresh_tokens']} "
            "refresh token(s) revoked; every app asks the user to sign in again (Auth0 applies "
            "it within moments)."
        ),
        before=before,
        after=after,
        answer={"status": 202},
    )


def _edit_metadata(bench: Workbench, data: dict[str, Any]) -> Result:
    which = str(data["which"])
    changes = dict(data["patch"])
    updated = update_user(bench.user_id, {which: changes})
    return Result(
        message=f"{which} saved.",
        before={which: dict(bench.profile.get(which) or {})},
        after={which: dict(updated.get(which) or {})},
        answer={"sent": {which: changes}, "updated_at": updated.get("updated_at")},
    )


def _delete(bench: Workbench, data: dict[str, Any]) -> Result:
    delete_user(bench.user_id)
    return Result(
        message=f"{bench.user_id} was deleted at Auth0.",
        before={"user_id": bench.user_id, "email": bench.email or None},
        after={"deleted": True},
        answer={"status": 204},
    )


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "block",
            Capability.BLOCK_USERS,
            "Block this user",
            "{user} will not be able to sign in anywhere until unblocked.",
            lambda b: not b.profile.get("blocked"),
            _set_blocked(True),
            button="Block",
            danger=True,
        ),
        Action(
            "unblock",
            Capability.BLOCK_USERS,
            "Unblock this user",
            "{user} can sign in again (brute-force blocks are separate).",
            lambda b: bool(b.profile.get("blocked")),
            _set_blocked(False),
            button="Unblock",
        ),
        Action(
            "clear-blocks",
            Capability.CLEAR_BRUTE_FORCE,
            "Clear brute-force blocks",
            "Auth0 forgets the failed sign-ins that locked {user} out, for every address.",
            lambda b: bool(b.brute_force_blocks),
            _clear_blocks,
            button="Clear blocks",
        ),
        Action(
            "resend-verification",
            Capability.RESEND_VERIFICATION,
            "Resend the verification email",
            "Auth0 sends {user} a new email with a link that verifies the address.",
            lambda b: b.can_verify_email and b.profile.get("email_verified") is not True,
            _resend_verification,
            button="Send",
        ),
        Action(
            "password-link",
            Capability.SEND_PASSWORD_LINK,
            "Send a password change link",
            "{user} gets a link to choose a new password; the current one keeps working "
            "until then.",
            lambda b: b.is_database_user,
            _password_link,
            form_class=PasswordLinkForm,
            button="Create the link",
        ),
        Action(
            "remove-mfa",
            Capability.RESET_MFA,
            "Remove MFA methods",
            "The chosen MFA methods of {user} are deleted; this cannot be undone.",
            lambda b: bool(b.mfa_methods),
            _remove_mfa,
            form_class=RemoveMfaForm,
            button="Remove",
            danger=True,
        ),
        Action(
            "sign-out",
            Capability.SIGN_OUT_EVERYWHERE,
            "Sign out everywhere",
            "Every session and refresh token of {user} is revoked: every app asks them to "
            "sign in again.",
            lambda b: True,
            _sign_out,
            button="Sign out everywhere",
            danger=True,
        ),
        Action(
            "edit-metadata",
            Capability.EDIT_METADATA,
            "Edit metadata",
            "The metadata of {user} is replaced by what you save (see the diff first).",
            lambda b: True,
            _edit_metadata,
            form_class=MetadataForm,
            button="Save",
        ),
        Action(
            "delete",
            Capability.DELETE_USERS,
            "Delete this user",
            "{user} is deleted at Auth0 with their sessions and refresh tokens. This cannot "
            "be undone.",
            lambda b: True,
            _delete,
            form_class=DeleteForm,
            button="Delete for ever",
            danger=True,
        ),
    )
}


# --- carrying one out --------------------------------------------------------------------


@dataclass
class Done:
    """What the agent sees after submitting: Auth0's answer, or that it was already done."""

    ok: bool
    message: str
    secret: str = ""
    replay: bool = False
    busy: bool = False
    job_id: str = ""


def submitted(token: Any) -> bool:
    """Whether a form with this idempotency token was already submitted."""
    return ActionRequest.objects.filter(token=token, tenant=current_tenant_slug()).exists()


def execute(
    request: HttpRequest, action: Action, bench: Workbench, form: ActionForm, data: dict[str, Any]
) -> Done:
    token = form.cleaned_data["token"]
    reason = str(form.cleaned_data["reason"])
    try:
        with transaction.atomic():
            claim = ActionRequest.objects.create(
                token=token,
                action=action.name,
                user_id=bench.user_id,
                actor=request.user if request.user.is_authenticated else None,
            )
    except IntegrityError:
        first = ActionRequest.objects.filter(token=token, tenant=current_tenant_slug()).first()
        if first is None or first.action != action.name or first.user_id != bench.user_id:
            return Done(ok=False, message="This form was already used; open the action again.")
        if first.status == ActionRequest.Status.RUNNING:
            text = "This request is already being carried out; nothing was sent again."
        elif first.status == ActionRequest.Status.FAILED:
            text = (
                f"This request was already sent and failed; nothing was sent again. {first.message}"
            )
        else:
            text = f"Already done; nothing was sent again. {first.message}"
        return Done(ok=first.status != ActionRequest.Status.FAILED, message=text, replay=True)

    try:
        result = action.perform(bench, data)
    except ManagementApiError as exc:
        busy = isinstance(exc, TransientError)
        if isinstance(exc, TransientError):
            wait = max(1, math.ceil(exc.retry_after_seconds))
            message = f"Auth0 did not do it: {exc}; try again in {wait} second{'s' * (wait != 1)}."
        else:
            message = f"Auth0 refused: {exc}"
        claim.status, claim.message = ActionRequest.Status.FAILED, message
        claim.save(update_fields=["status", "message"])
        record(
            request,
            f"users.{action.name}",
            target=bench.user_id,
            reason=reason,
            outcome="error",
            auth0={"status": exc.status, "message": exc.message, "errorCode": exc.error_code},
        )
        return Done(ok=False, message=message, busy=busy)

    claim.status, claim.message = ActionRequest.Status.DONE, result.message
    claim.save(update_fields=["status", "message"])
    record(
        request,
        f"users.{action.name}",
        target=bench.user_id,
        reason=reason,
        outcome="ok",
        before=result.before,
        after=result.after,
        auth0=result.answer,
    )
    return Done(ok=True, message=result.message, secret=result.secret, job_id=result.job_id)
