"""Creating a user on a database connection: with a password the staff member types, or as an
invitation (a password change link shown once, for the person to choose their own), and
`verify_email` chosen. A support lead's (the capability `create_users`); reason, idempotency
token and audit as for the actions on a user (users_admin.execution)."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from config.htmx import StaffRequest
from management_api import (
    ManagementApiError,
    PermanentError,
    connections,
    create_password_change_ticket,
    create_user,
)
from staff.audit import record
from staff.permissions import Capability, requires

from .action_forms import ActionForm
from .execution import Done, _claim, _refusal
from .focus import Focused, focus_first
from .models import ActionRequest
from .views import busy_message

INVITATION_TTL_SECONDS = 7 * 86400
TEMPLATE = "users_admin/create_user.html"


class CreateUserForm(Focused, ActionForm):
    connection = forms.ChoiceField(label="Database connection")
    email = forms.EmailField(label="Email", max_length=254)
    username = forms.CharField(
        label="Username",
        required=False,
        max_length=128,
        help_text="Only for a connection that requires usernames (Auth0 refuses it otherwise).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    given_name = forms.CharField(label="Given name", required=False, max_length=150)
    family_name = forms.CharField(label="Family name", required=False, max_length=150)
    password_mode = forms.ChoiceField(
        label="Password",
        choices=[
            ("invite", "Invite: show me a link for the person to choose it (shown once, 7 days)"),
            ("typed", "I type a password for the person"),
        ],
        initial="invite",
        widget=forms.RadioSelect,
    )
    password = forms.CharField(
        label="Password (when you type it)",
        required=False,
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    verify_email = forms.BooleanField(
        label="Auth0 emails the address a verification link",
        required=False,
        initial=True,
    )
    field_order = (
        "connection",
        "email",
        "username",
        "given_name",
        "family_name",
        "password_mode",
        "password",
        "verify_email",
        "reason",
    )

    def __init__(self, *args: Any, databases: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["connection"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(name, name) for name in databases]
        if len(databases) == 1:
            field.initial = databases[0]
        focus_first(self)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password_mode") == "typed" and not cleaned.get("password"):
            self.add_error("password", "Type the password, or choose the invitation.")
        return cleaned

    def body(self) -> dict[str, Any]:
        """What POST /users is sent (an invitation's password is random and never shown)."""
        data = self.cleaned_data
        invite = data["password_mode"] == "invite"
        body: dict[str, Any] = {
            "connection": data["connection"],
            "email": data["email"],
            "password": secrets.token_urlsafe(24) + "aA1!" if invite else data["password"],
            "verify_email": bool(data["verify_email"]),
        }
        for key in ("username", "given_name", "family_name"):
            if data.get(key):
                body[key] = " ".join(str(data[key]).split())
        if data.get("given_name") or data.get("family_name"):
            body["name"] = " ".join(
                str(data.get(k) or "") for k in ("given_name", "family_name")
            ).strip()
        return body


# Which field Auth0's refusal concerns, by its words.
REFUSALS = (
    (re.compile(r"already exists", re.IGNORECASE), "email"),
    (re.compile(r"^Password|password", re.IGNORECASE), "password"),
    (re.compile(r"username", re.IGNORECASE), "username"),
    (re.compile(r"on property (\w+)"), ""),
    (re.compile(r"connection", re.IGNORECASE), "connection"),
)


def refused_field(error: PermanentError) -> str | None:
    text = error.message or str(error)
    for pattern, field in REFUSALS:
        match = pattern.search(text)
        if match:
            return field or match.group(1)
    return None


def _databases() -> list[str]:
    return [c["name"] for c in connections() if c.get("strategy") == "auth0"]


@requires(Capability.CREATE_USERS)
@vary_on_headers("HX-Request")
def create_user_view(request: StaffRequest) -> HttpResponse:
    try:
        databases = _databases()
    except ManagementApiError as exc:
        return render(request, TEMPLATE, {"load_error": busy_message(exc)}, status=503)
    if request.method != "POST":
        form = CreateUserForm(databases=databases, initial={"email": request.GET.get("email")})
        return render(request, TEMPLATE, {"form": form})
    form = CreateUserForm(request.POST, databases=databases)
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form})
    return _create(request, form, databases)


def _create(request: HttpRequest, form: CreateUserForm, databases: list[str]) -> HttpResponse:
    body = form.body()
    token, reason = form.cleaned_data["token"], str(form.cleaned_data["reason"])
    actor = request.user if request.user.is_authenticated else None
    claim = _claim(token, "create-user", body["email"], actor)
    if isinstance(claim, Done):
        return render(request, TEMPLATE, {"done": claim})
    invite = form.cleaned_data["password_mode"] == "invite"
    shown = {k: v for k, v in body.items() if k != "password"}
    try:
        user = create_user(body)
        ticket = ""
        if invite:
            ticket = create_password_change_ticket(
                str(user["user_id"]), ttl_sec=INVITATION_TTL_SECONDS, mark_email_as_verified=True
            )
    except ManagementApiError as exc:
        claim.status, claim.message = ActionRequest.Status.FAILED, _refusal(exc)
        claim.save(update_fields=["status", "message"])
        auth0 = {"status": exc.status, "message": exc.message, "errorCode": exc.error_code}
        record(
            request,
            "users.create",
            target=body["email"],
            reason=reason,
            outcome="error",
            sent=shown,
            auth0=auth0,
        )
        field = refused_field(exc) if isinstance(exc, PermanentError) else None
        fresh = request.POST.copy()
        fresh["token"] = str(uuid.uuid4())  # this one is spent on the refused request
        again = CreateUserForm(fresh, databases=databases)
        again.is_valid()
        message = _refusal(exc)
        again.add_error(field if field in again.fields else None, message)
        return render(request, TEMPLATE, {"form": again})
    user_id = str(user["user_id"])
    message = f"{user_id} was created on {body['connection']}."
    message += (
        " Give the person the invitation link below: they choose their password with it."
        if invite
        else " Give the person the password you typed, by a channel other than this one."
    )
    if body["verify_email"]:
        message += f" Auth0 emails {body['email']} a verification link."
    claim.status, claim.message = ActionRequest.Status.DONE, message
    claim.save(update_fields=["status", "message"])
    record(
        request,
        "users.create",
        target=user_id,
        reason=reason,
        outcome="ok",
        before={},
        after={**shown, "user_id": user_id, "invitation": invite},
        auth0={"status": 201, "user_id": user_id, "created_at": user.get("created_at")},
    )
    done = Done(ok=True, message=message, secret=ticket, opens=user_id)
    return render(request, TEMPLATE, {"done": done})
