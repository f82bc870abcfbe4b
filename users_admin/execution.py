"""Carrying out an action for a staff member on the user page.

`execute` wraps the action's `perform` in what only a request has: claim the form's idempotency
token (a replay does nothing twice), call, write the audit event with actor, user, reason,
before/after and Auth0's answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from management_api import ManagementApiError, TransientError
from management_api.tenants import current_tenant_slug
from staff.audit import record
from staff.models import AuditEvent

from .action_forms import ActionForm
from .actions import ACTIONS, Action
from .models import ActionRequest
from .workbench import Workbench


@dataclass
class Done:
    """What the agent sees after submitting: Auth0's answer, or that it was already done."""

    ok: bool
    message: str
    secret: str = ""
    replay: bool = False
    busy: bool = False
    job_id: str = ""
    opens: str = ""  # another user's page the outcome offers
    field: str = ""  # the form field Auth0's refusal concerns (shown there, not as an outcome)


def execute(
    request: HttpRequest, action: Action, bench: Workbench, form: ActionForm, data: dict[str, Any]
) -> Done:
    token, reason = form.cleaned_data["token"], str(form.cleaned_data["reason"])
    actor = request.user if request.user.is_authenticated else None
    claim = _claim(token, action.name, bench.user_id, actor)
    if isinstance(claim, Done):
        return claim
    details: dict[str, Any]
    try:
        result = action.perform(bench, data)
    except ManagementApiError as exc:
        done = Done(
            ok=False,
            message=_refusal(exc),
            busy=isinstance(exc, TransientError),
            field=str(getattr(exc, "field", "")),
        )
        auth0 = {"status": exc.status, "message": exc.message, "errorCode": exc.error_code}
        details = {"outcome": "error", "auth0": auth0}
    else:
        done = Done(
            ok=True,
            message=result.message,
            secret=result.secret,
            job_id=result.job_id,
            opens=result.opens,
        )
        details = {"outcome": "ok", "before": result.before, "after": result.after}
        details["auth0"] = result.answer
    claim.status = ActionRequest.Status.DONE if done.ok else ActionRequest.Status.FAILED
    claim.message = done.message
    claim.save(update_fields=["status", "message"])
    record(request, f"users.{action.name}", target=bench.user_id, reason=reason, **details)
    return done


def _claim(token: Any, name: str, user_id: str, actor: Any) -> ActionRequest | Done:
    """The idempotency token's claim, or what the agent sees when it was already claimed."""
    try:
        with transaction.atomic():
            return ActionRequest.objects.create(
                token=token, action=name, user_id=user_id, actor=actor
            )
    except IntegrityError:
        pass
    first = ActionRequest.objects.filter(token=token, tenant=current_tenant_slug()).first()
    # The first outcome is shown only to whoever submitted the form: another staff member
    # holding its token (a shared link, a copied form) learns nothing from it.
    mine = first is not None and actor is not None and first.actor_id == actor.pk
    if first is None or not mine or first.action != name or first.user_id != user_id:
        return Done(ok=False, message="This form was already used; open the action again.")
    if first.status == ActionRequest.Status.RUNNING:
        text = "This request is already being carried out; nothing was sent again."
    elif first.status == ActionRequest.Status.FAILED:
        text = f"This request was already sent and failed; nothing was sent again. {first.message}"
    else:
        text = f"Already done; nothing was sent again. {first.message}"
    return Done(ok=first.status != ActionRequest.Status.FAILED, message=text, replay=True)


def _refusal(error: ManagementApiError) -> str:
    if isinstance(error, TransientError):
        wait = max(1, math.ceil(error.retry_after_seconds))
        return f"Auth0 did not do it: {error}; try again in {wait} second{'s' * (wait != 1)}."
    return f"Auth0 refused: {error}"


def removal(user_id: str) -> AuditEvent | None:
    """The audit event of the action that deleted this user at Auth0 through Userdesk, if any:
    who did it, when and why, for the page of a user that no longer exists."""
    names = [f"users.{a.name}" for a in ACTIONS.values() if a.removes_user]
    return (
        AuditEvent.objects.filter(
            target=user_id, action__in=names, tenant=current_tenant_slug(), details__outcome="ok"
        )
        .order_by("-at", "-id")
        .first()
    )


VERIFICATION_ACTION = "users.resend-verification"


def verification_sent(actor: Any, job_id: str) -> AuditEvent | None:
    """The audit event of the verification email `actor` had Auth0 send as job `job_id` on the
    current tenant: a job page is its sender's, about the user it was sent to, and nothing else
    (an export job's id, or someone else's job, is no verification email of theirs)."""
    return (
        AuditEvent.objects.filter(
            action=VERIFICATION_ACTION,
            actor_id=actor.pk,
            tenant=current_tenant_slug(),
            details__outcome="ok",
            details__after__job=job_id,
        )
        .order_by("-at", "-id")
        .first()
    )
