"""Changing a user's profile: email (with its verification), username, phone number, name fields
and picture, each offered only where the user's connection lets Auth0 change it, and Auth0's own
refusals shown at the field they concern (the action `edit-profile` in users_admin/actions.py).

Auth0 refuses some fields together in one PATCH (username with email, ...): the changes go in up
to three calls, email first, then username, then the rest, each with what it needs (the
primary identity's `connection`, `verify_email`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms

from management_api import PermanentError, update_user

from .action_forms import ActionForm
from .declaring import Result
from .focus import Focused, focus_first

if TYPE_CHECKING:
    from .workbench import Workbench

NAME_FIELDS = ("given_name", "family_name", "name", "nickname", "picture")
# What Auth0 lets the Management API change, by the provider of the primary identity
# (docs: manage-users/user-accounts/user-profiles/root-attributes; the PATCH's 400s).
ALLOWED = {
    "auth0": ("email", "username", "phone_number", *NAME_FIELDS),
    "email": ("email", *NAME_FIELDS),
    "sms": ("phone_number", *NAME_FIELDS),
}
# Social and enterprise users: the name fields, which Auth0 refuses while the connection syncs
# them from the provider at each sign-in (its refusal is then shown at the field).
OTHER_PROVIDERS = NAME_FIELDS
LABELS = {
    "email": "Email",
    "username": "Username",
    "phone_number": "Phone number",
    "given_name": "Given name",
    "family_name": "Family name",
    "name": "Name",
    "nickname": "Nickname",
    "picture": "Picture URL",
}
LIMITS = {
    "email": 254,
    "username": 128,
    "phone_number": 16,
    "given_name": 150,
    "family_name": 150,
    "name": 300,
    "nickname": 300,
    "picture": 2000,
}
PHONE = re.compile(r"^\+[0-9]{1,15}$")
EMAIL_MODES = [
    ("verify", "Auth0 emails the new address a verification link"),
    ("verified", "Mark it verified now (the user proved they own it)"),
    ("unverified", "Leave it unverified; send nothing"),
]
# A passwordless SMS user's new number (`verify_phone_number` is "only valid when changing phone
# number for SMS connections").
PHONE_MODES = [
    ("verify", "Auth0 texts the new number (it is unverified until the user signs in with it)"),
    ("verified", "Mark it verified now (the user proved they own it)"),
    ("unverified", "Leave it unverified; send nothing"),
]
# The calls, in order: Auth0 refuses email and username in one PATCH.
GROUPS = (("email",), ("username",), ("phone_number", *NAME_FIELDS))


class FieldRefused(PermanentError):
    """Auth0 refused a change: which field it concerns, for the form to show it there."""

    def __init__(self, field: str, error: PermanentError, saved: list[str]) -> None:
        human = f"Auth0 refused the {LABELS[field].lower()}: {error.message or error}"
        if saved:
            human += f" (already saved: {', '.join(LABELS[name].lower() for name in saved)})"
        super().__init__(
            human, status=error.status, message=error.message, error_code=error.error_code
        )
        self.field = field


def allowed_fields(bench: Workbench) -> tuple[str, ...]:
    return ALLOWED.get(bench.provider, OTHER_PROVIDERS)


class ProfileForm(Focused, ActionForm):
    """The profile fields the user's connection allows, as they are now; only the changed
    ones are sent (an emptied one is removed at Auth0)."""

    email_mode = forms.ChoiceField(
        label="If the email changes",
        choices=EMAIL_MODES,
        initial="verify",
        required=False,  # read only when the email changes (then "verify" when not chosen)
        widget=forms.RadioSelect,
    )
    phone_mode = forms.ChoiceField(
        label="If the phone number changes",
        choices=PHONE_MODES,
        initial="verify",
        required=False,  # read only when an SMS user's number changes (then "verify")
        widget=forms.RadioSelect,
    )

    def __init__(
        self,
        *args: Any,
        profile: dict[str, Any],
        allowed: tuple[str, ...],
        sms: bool = False,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.profile = profile
        fields: dict[str, forms.Field] = {}
        for name in allowed:
            widget: forms.Widget = forms.TextInput(
                attrs={"autocomplete": "off", "spellcheck": "false"}
            )
            if name == "email":
                widget = forms.EmailInput(attrs={"autocomplete": "off"})
            elif name == "phone_number":
                widget = forms.TextInput(attrs={"autocomplete": "off", "inputmode": "tel"})
            fields[name] = forms.CharField(
                label=LABELS[name],
                required=name == "email" and bool(profile.get("email")),
                max_length=LIMITS[name],
                initial=profile.get(name) or "",
                widget=widget,
                help_text="In E.164 form: + and the country code, e.g. +33612345678."
                if name == "phone_number"
                else "",
            )
            if name == "email":
                fields["email_mode"] = self.fields.pop("email_mode")
            elif name == "phone_number" and sms:
                fields["phone_mode"] = self.fields.pop("phone_mode")
        for mode in ("email_mode", "phone_mode"):
            self.fields.pop(mode, None)  # not offered: no such field for this user
        reason = self.fields.pop("reason")
        token = self.fields.pop("token")
        self.fields.update(fields)
        self.fields["reason"] = reason
        self.fields["token"] = token
        focus_first(self)

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        sms = bench.provider == "sms"
        return cls(data, profile=dict(bench.profile), allowed=allowed_fields(bench), sms=sms)

    def clean_phone_number(self) -> str:
        value = str(self.cleaned_data["phone_number"]).strip().replace(" ", "")
        if value and not PHONE.match(value):
            raise forms.ValidationError(
                "Auth0 takes E.164 numbers only: + then up to 15 digits, no spaces or dashes."
            )
        return value

    def clean_picture(self) -> str:
        value = str(self.cleaned_data["picture"]).strip()
        if value:
            forms.URLField(assume_scheme="https").clean(value)
        return value

    def clean_email(self) -> str:
        value = str(self.cleaned_data["email"]).strip()
        if value:
            forms.EmailField().clean(value)
        return value

    def changes(self) -> dict[str, Any]:
        """The changed fields: new value, or None to remove it at Auth0."""
        changed: dict[str, Any] = {}
        for name in LABELS:
            if name not in self.cleaned_data:
                continue
            new = " ".join(str(self.cleaned_data[name]).split()) or None
            if name == "picture" and new:
                new = str(self.cleaned_data[name]).strip()
            if new != (self.profile.get(name) or None):
                changed[name] = new
        return changed

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and not self.changes():
            raise forms.ValidationError("Nothing changed: every field holds its current value.")
        return cleaned

    def action_data(self) -> dict[str, Any]:
        return {
            **super().action_data(),
            "changes": self.changes(),
            "email_mode": self.cleaned_data.get("email_mode") or "verify",
            # Only an SMS user's form has it: a database user's number is sent as it is.
            "phone_mode": (self.cleaned_data.get("phone_mode") or "verify")
            if "phone_mode" in self.fields
            else "",
        }


def _email_body(value: str | None, mode: str) -> dict[str, Any]:
    body: dict[str, Any] = {"email": value}
    if mode == "verified":
        body["email_verified"] = True
    elif mode == "verify":
        body.update(email_verified=False, verify_email=True)
    else:
        body.update(email_verified=False, verify_email=False)
    return body


def _phone_body(part: dict[str, Any], mode: str) -> dict[str, Any]:
    """An SMS user's new number with what Auth0 does about it (`mode`: PHONE_MODES)."""
    body = dict(part)
    if not mode or part.get("phone_number") is None:
        return body  # not an SMS user's, or the number removed: nothing to verify
    if mode == "verified":
        body["phone_verified"] = True
    else:
        body.update(phone_verified=False, verify_phone_number=mode == "verify")
    return body


def _field_of(error: PermanentError, fields: tuple[str, ...]) -> str:
    """The field of this call Auth0's message names (`on property phone_number`, `cannot be
    updated: family_name, ...`), else the call's first."""
    text = error.message or str(error)
    return next((name for name in fields if re.search(rf"\b{name}\b", text)), fields[0])


def applies(bench: Workbench) -> str | None:
    return None if allowed_fields(bench) else "Auth0 lets nothing of this user's profile change."


def preview(bench: Workbench, data: Mapping[str, Any]) -> tuple[dict, dict]:
    changes = dict(data["changes"])
    return {k: bench.profile.get(k) for k in changes}, changes


def perform(bench: Workbench, data: Mapping[str, Any]) -> Result:
    changes: dict[str, Any] = dict(data["changes"])
    mode = str(data.get("email_mode") or "verify")
    saved: list[str] = []
    updated: dict[str, Any] = dict(bench.profile)
    for group in GROUPS:
        part = {k: v for k, v in changes.items() if k in group}
        if not part:
            continue
        if "email" in part:
            body = _email_body(part["email"], mode)
        elif "phone_number" in part:
            body = _phone_body(part, str(data.get("phone_mode") or ""))
        else:
            body = dict(part)
        if bench.connection and ("email" in part or "username" in part or "phone_number" in part):
            body["connection"] = bench.connection  # Auth0 wants it with identifiers
        try:
            updated = update_user(bench.user_id, body)
        except PermanentError as exc:
            raise FieldRefused(_field_of(exc, tuple(part)), exc, saved) from exc
        saved += list(part)
    message = "Saved: " + ", ".join(LABELS[k].lower() for k in changes) + "."
    after = {k: updated.get(k) for k in changes}
    if "email" in changes:
        after["email_verified"] = updated.get("email_verified")
        if mode == "verify":
            message += f" Auth0 emails {changes['email']} a link to verify it."
        elif mode == "verified":
            message += " The new address is marked verified."
    phone_mode = str(data.get("phone_mode") or "")
    if phone_mode and changes.get("phone_number"):
        after["phone_verified"] = updated.get("phone_verified")
        if phone_mode == "verify":
            message += f" Auth0 texts {changes['phone_number']}."
        elif phone_mode == "verified":
            message += " The new number is marked verified."
    return Result(
        message=message,
        before={k: bench.profile.get(k) for k in after},
        after=after,
        answer={"status": 200, "updated_at": updated.get("updated_at")},
    )
