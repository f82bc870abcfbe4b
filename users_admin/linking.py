"""Linked accounts: each identity of a user with its own profile, the user's possible
duplicates (other accounts with the same address, in any letter case, on any connection), and
the two support actions declared in users_admin/actions.py: link a secondary account into the
page's user (the primary) and unlink one identity (it comes back as a user of its own).

Linking on an agent's say-so is what Auth0 warns against: Userdesk links only accounts that
share the page user's address, both verified, and says what the secondary loses (its user id,
its metadata unless merged first, its root profile, which moves into `profileData`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError

from management_api import (
    ManagementApiError,
    connections,
    get_user,
    link_identity,
    unlink_identity,
    update_user,
)

from .access import as_dict
from .action_forms import ActionForm
from .declaring import Result
from .focus import Checkboxes, Focused, focus_first
from .lookup import lookup_email
from .models import submitted

if TYPE_CHECKING:
    from .workbench import Workbench

METADATA = ("user_metadata", "app_metadata")
# What an identity's profileData (or a user's root) says about the person, in display order.
PROFILE_KEYS = (
    ("email", "Email"),
    ("name", "Name"),
    ("username", "Username"),
    ("phone_number", "Phone"),
    ("nickname", "Nickname"),
)


# --- reading --------------------------------------------------------------------------------


def identity_key(identity: Mapping[str, Any]) -> str:
    """An identity as one value: `provider|user_id` (its user id once unlinked)."""
    return f"{identity.get('provider')}|{identity.get('user_id')}"


@dataclass(frozen=True)
class Identity:
    """One identity of a user as the page shows it, with the profile it holds."""

    connection: str
    provider: str
    user_id: str
    is_social: bool
    primary: bool
    profile: dict[str, Any]  # the user's root for the primary, profileData for the others

    @property
    def key(self) -> str:
        return f"{self.provider}|{self.user_id}"

    @property
    def details(self) -> list[tuple[str, str]]:
        return [(label, str(self.profile[k])) for k, label in PROFILE_KEYS if self.profile.get(k)]

    @property
    def email_verified(self) -> bool | None:
        value = self.profile.get("email_verified")
        return value if isinstance(value, bool) else None

    @property
    def picture_host(self) -> str:
        """Where the picture lives (never loaded: the staff browser asks no third party)."""
        picture = str(self.profile.get("picture") or "")
        return picture.split("/")[2] if picture.count("/") >= 2 else ""


def identities(profile: Mapping[str, Any]) -> list[Identity]:
    found = []
    for index, identity in enumerate(profile.get("identities") or []):
        if not isinstance(identity, dict):
            continue
        data = profile if index == 0 else identity.get("profileData") or {}
        found.append(
            Identity(
                connection=str(identity.get("connection") or ""),
                provider=str(identity.get("provider") or ""),
                user_id=str(identity.get("user_id") or ""),
                is_social=bool(identity.get("isSocial")),
                primary=index == 0,
                profile=dict(as_dict(data)),
            )
        )
    return found


@dataclass
class Account:
    """A user beside another, as the duplicates list and the link form compare them."""

    profile: dict[str, Any]
    buttons: list[Any] = field(default_factory=list)  # the duplicates list's, for this account

    @property
    def user_id(self) -> str:
        return str(self.profile.get("user_id") or "")

    @property
    def connection(self) -> str:
        first = (self.profile.get("identities") or [{}])[0]
        return str(first.get("connection") or "")

    @property
    def email(self) -> str:
        return str(self.profile.get("email") or "")

    @property
    def verified(self) -> bool:
        return self.profile.get("email_verified") is True

    @property
    def unproven(self) -> str:
        """What of this account's identifier is not verified ("" when it is): its email, or
        for an account with none (a passwordless SMS user) its phone number."""
        if self.email:
            return "" if self.verified else f"{self.user_id} has {self.email} unverified"
        phone = str(self.profile.get("phone_number") or "")
        if phone and self.profile.get("phone_verified") is True:
            return ""
        return f"{self.user_id} has no verified email or phone number"

    @property
    def linked(self) -> int:
        return max(0, len(self.profile.get("identities") or []) - 1)

    def metadata_keys(self, which: str) -> list[str]:
        value = self.profile.get(which)
        return sorted(value) if isinstance(value, dict) else []

    @property
    def user_keys(self) -> str:
        return ", ".join(self.metadata_keys("user_metadata")) or "none"

    @property
    def app_keys(self) -> str:
        return ", ".join(self.metadata_keys("app_metadata")) or "none"


def duplicates(bench: Workbench) -> tuple[list[Account], str]:
    """The other accounts with the page user's address in any letter case (and a warning when
    Auth0's search, which finds the other-case ones, failed). Raises ManagementApiError when
    even the exact lookup fails."""
    if not bench.email:
        return [], ""
    result = lookup_email(bench.email)
    seen: set[Any] = {bench.user_id}
    found = []
    for profile in [*result.users, *result.other_case]:
        user_id = profile.get("user_id")
        if user_id not in seen:
            seen.add(user_id)
            found.append(Account(profile))
    return found, result.search_error


def replayed(cleaned: Mapping[str, Any]) -> bool:
    """Whether this form (its idempotency token) was already sent: its outcome is shown again."""
    token = cleaned.get("token")
    try:
        return token is not None and submitted(token)
    except (ValueError, TypeError, ValidationError):
        return False


# --- link -----------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


class LinkForm(Focused, ActionForm):
    """Link `other` into the page's user, who stays the primary. The secondary's metadata keys
    ticked under `merge` are written into the primary first (Auth0 discards the rest)."""

    other = forms.CharField(widget=forms.HiddenInput, max_length=500)
    merge = forms.MultipleChoiceField(
        label="Keep these of the secondary's metadata (copied into the primary before linking)",
        required=False,
        widget=Checkboxes,
    )
    intro_template = "users_admin/_link_intro.html"
    field_order = ("merge", "same_person", "reason")
    # With no other account chosen, the panel asks for its user id (a GET) before any form.
    search_template = "users_admin/_link_other.html"

    def __init__(
        self, *args: Any, primary: Account, secondary: Account | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.primary, self.secondary = primary, secondary
        field = self.fields["merge"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = self._merge_choices()
        if not field.choices:
            del self.fields["merge"]
        if secondary is not None and not self.same_address:
            # Chosen by its user id, not found by the address: the lead says it is one person.
            self.fields["same_person"] = forms.BooleanField(
                label=f"I checked with the user that both accounts are theirs: "
                f"{primary.user_id} and {secondary.user_id} do not share an address",
                error_messages={
                    "required": "Link accounts of another address only once the "
                    "user confirmed both are theirs: tick the box."
                },
            )
            self.order_fields(self.field_order)
        focus_first(self)

    @property
    def same_address(self) -> bool:
        other = self.secondary
        return (
            other is not None
            and bool(self.primary.email)
            and (self.primary.email.lower() == other.email.lower())
        )

    @property
    def asks_first(self) -> bool:
        """No other account yet: the panel asks for its user id and shows no link form."""
        return self.secondary is None

    @property
    def pair(self) -> list[tuple[str, Account | None]]:
        return [("Primary (stays)", self.primary), ("Secondary (linked into it)", self.secondary)]

    @property
    def refusal(self) -> str:
        """Why these two accounts are not linked ("" when they may be), said before anything
        is typed and again when the form is sent."""
        other = self.secondary
        if other is None:
            return (
                "The other account does not exist at Auth0 (any more): nothing to link. "
                "Search for the user again."
            )
        if other.linked:
            return (
                f"{other.user_id} has linked accounts of its own: unlink them first, so that "
                "each is linked knowingly."
            )
        if other.user_id == self.primary.user_id:
            return "That is this user: type the user id of the other account."
        unproven = [a.unproven for a in (self.primary, other) if a.unproven]
        if unproven:
            return (
                "Auth0 warns against linking an unverified address (someone could take the "
                "account over): " + "; ".join(unproven) + ". Have the user verify it first."
            )
        return ""

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        other = " ".join(str((data if data is not None else params).get("other") or "").split())
        secondary, error = None, ""
        if other:
            try:
                found = get_user(other)
            except ManagementApiError as exc:
                found, error = None, str(exc)
            secondary = Account(found) if found else None
        form = cls(data, primary=Account(bench.profile), secondary=secondary)
        form.other_typed, form.other_error = other[:500], error
        if data is None:
            form.initial["other"] = other
        return form

    def _merge_choices(self) -> list[tuple[str, str]]:
        if self.secondary is None:
            return []
        choices = []
        for which in METADATA:
            theirs = self.secondary.profile.get(which) or {}
            ours = self.primary.profile.get(which) or {}
            for key in sorted(theirs):
                label = f"{which}.{key} = {_shown(theirs[key])}"
                if key in ours:
                    label += f" (replaces the primary's {_shown(ours[key])})"
                choices.append((f"{which}:{key}", label))
        return choices

    other_typed = ""  # the user id asked for (set by for_user)
    other_error = ""  # why Auth0 could not be asked about it

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.refusal and not replayed(cleaned):
            raise forms.ValidationError(self.refusal)
        return cleaned

    def action_data(self) -> dict[str, Any]:
        data = super().action_data()
        if self.secondary is None:  # a replay of a done link: its outcome is shown, not redone
            return data
        patch: dict[str, dict[str, Any]] = {}
        for choice in data.pop("merge", []):
            which, key = str(choice).split(":", 1)
            patch.setdefault(which, {})[key] = (self.secondary.profile.get(which) or {})[key]
        first = (self.secondary.profile.get("identities") or [{}])[0]
        data.update(
            secondary=self.secondary.user_id,
            provider=str(first.get("provider") or ""),
            identity=str(first.get("user_id") or ""),
            connection=str(first.get("connection") or ""),
            secondary_metadata={w: self.secondary.profile.get(w) or {} for w in METADATA},
            merge=patch,
        )
        return data


def _summary(items: list[dict[str, Any]]) -> list[str]:
    return [f"{identity_key(i)} ({i.get('connection')})" for i in items]


def _connection_id(name: str) -> str:
    return next((str(c["id"]) for c in connections() if c.get("name") == name), "")


def link_applies(bench: Workbench) -> str | None:
    return None  # the other account decides (LinkForm.refusal), found by address or typed


def link_preview(bench: Workbench, data: Mapping[str, Any]) -> tuple[dict, dict]:
    before = {
        "primary": bench.user_id,
        "secondary": data["secondary"],
        "identities": _summary(bench.profile.get("identities") or []),
    }
    after = {
        "identities": [*before["identities"], f"{data['provider']}|{data['identity']}"],
        "merged": data["merge"],
    }
    return before, after


def link(bench: Workbench, data: Mapping[str, Any]) -> Result:
    merged: dict[str, Any] = dict(data["merge"])
    if merged:
        update_user(bench.user_id, merged)
    provider = str(data["provider"])
    connection_id = _connection_id(str(data["connection"])) if provider == "auth0" else ""
    answer = link_identity(
        bench.user_id, provider, str(data["secondary"]), connection_id=connection_id
    )
    kept = ", ".join(f"{w}.{k}" for w, keys in merged.items() for k in keys) or "nothing"
    return Result(
        message=(
            f"{data['secondary']} is now linked into {bench.user_id}: signing in with either "
            f"gives {bench.user_id}. Metadata kept from the secondary: {kept}."
        ),
        before={
            "primary": bench.user_id,
            "secondary": data["secondary"],
            "identities": _summary(bench.profile.get("identities") or []),
            "secondary_metadata": data["secondary_metadata"],
        },
        after={"identities": _summary(answer), "merged": merged},
        answer={"status": 201, "identities": _summary(answer)},
    )


# --- unlink ---------------------------------------------------------------------------------


class UnlinkForm(Focused, ActionForm):
    identity = forms.ChoiceField(label="Unlink", widget=forms.RadioSelect)
    field_order = ("identity", "reason")

    def __init__(self, *args: Any, linked: list[Identity], gone: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["identity"]
        assert isinstance(field, forms.ChoiceField)
        choices = [(i.key, _identity_label(i)) for i in linked]
        field.choices = [*choices, (gone, gone)] if gone else choices
        if len(linked) == 1:
            field.initial = linked[0].key
        focus_first(self)

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        linked = [i for i in identities(bench.profile) if not i.primary]
        # A replay of a done unlink names an identity the user no longer holds: still a choice,
        # so that its first outcome is shown (users_admin.execution), not a choice error.
        chosen = str(data.get("identity") or "") if data is not None else ""
        gone = ""
        known = {i.key for i in linked}
        if chosen and chosen not in known and replayed({"token": data.get("token")}):
            gone = chosen
        form = cls(data, linked=linked, gone=gone)
        if data is None and params.get("identity"):
            form.initial["identity"] = params["identity"]
        return form


def _identity_label(identity: Identity) -> str:
    who = identity.profile.get("email") or identity.profile.get("name") or ""
    return f"{identity.connection}: {who} ({identity.key})" if who else identity.key


def unlink_applies(bench: Workbench) -> str | None:
    if len(bench.profile.get("identities") or []) < 2:
        return "The user has no linked account."
    return None


def unlink_preview(bench: Workbench, data: Mapping[str, Any]) -> tuple[dict, dict]:
    current = bench.profile.get("identities") or []
    before = {"identities": _summary(current)}
    kept = [i for i in current if identity_key(i) != data["identity"]]
    return before, {"identities": _summary(kept), "new_user": data["identity"]}


def unlink(bench: Workbench, data: Mapping[str, Any]) -> Result:
    chosen = str(data["identity"])
    provider, identity_id = chosen.split("|", 1)
    answer = unlink_identity(bench.user_id, provider, identity_id)
    return Result(
        message=(
            f"{chosen} is a user of its own again, with no metadata (as Auth0 unlinks); "
            f"{bench.user_id} keeps {len(answer)} identit{'y' if len(answer) == 1 else 'ies'}."
        ),
        before={
            "primary": bench.user_id,
            "identities": _summary(bench.profile.get("identities") or []),
        },
        after={"identities": _summary(answer), "new_user": chosen},
        answer={"status": 200, "identities": _summary(answer)},
        opens=chosen,
    )
