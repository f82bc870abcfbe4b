"""The forms of the user actions: each carries a typed reason and an idempotency token.

A form builds itself for a user (`for_user`), says what the action performs with
(`action_data`), and may ask for a preview stage first (`previewing`, with its diff), so the
views treat every action's form alike.
"""

from __future__ import annotations

import difflib
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django import forms

if TYPE_CHECKING:
    from .workbench import Workbench

# Auth0 refuses these top-level keys in app_metadata (they are user attributes).
RESERVED_APP_METADATA_KEYS = frozenset(
    {
        "__tenant",
        "_id",
        "blocked",
        "clientID",
        "created_at",
        "email_verified",
        "email",
        "globalClientID",
        "global_client_id",
        "identities",
        "lastIP",
        "lastLogin",
        "loginsCount",
        "metadata",
        "multifactor_last_modified",
        "multifactor",
        "updated_at",
        "user_id",
    }
)
PROFILE_LIMIT_BYTES = 10 * 1024
METADATA = ("user_metadata", "app_metadata")


def parse_metadata(text: str) -> dict[str, Any]:
    """The JSON object typed for a user's metadata; ValidationError saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise forms.ValidationError(
            "This JSON is nested too deeply to read; Auth0 would refuse it too."
        ) from None
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise forms.ValidationError(
            "This is not valid JSON for Auth0: it holds a \\u escape of half a character "
            "(a lone surrogate such as \\ud800)."
        ) from None
    return check_metadata(value)


def check_metadata(value: Any) -> dict[str, Any]:
    """A metadata object (or patch) as Auth0 accepts it; ValidationError saying why not."""
    if not isinstance(value, dict):
        raise forms.ValidationError("Metadata must be a JSON object: { ... }.")
    bad = sorted(key for key in value if "." in key or "$" in key)
    if bad:
        raise forms.ValidationError(
            f"Auth0 refuses metadata keys with '.' or '$': {', '.join(bad)}."
        )
    if len(json.dumps(value).encode()) > PROFILE_LIMIT_BYTES:
        raise forms.ValidationError("Auth0 limits a profile to 10 KB; this is larger.")
    return value


def reserved_keys(which: str, value: dict[str, Any]) -> list[str]:
    """The keys Auth0 refuses in this metadata because they are user attributes."""
    return sorted(RESERVED_APP_METADATA_KEYS & set(value)) if which == "app_metadata" else []


class ActionForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        min_length=5,
        max_length=500,
        help_text="Why you are doing this (the ticket number helps). Kept in the audit log.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Type the reason for this action."},
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4())
        super().__init__(*args, **kwargs)

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        """This form for the user: bound to POSTed `data`, or new (from the query's `params`)."""
        return cls(data)

    def clean_reason(self) -> str:
        return " ".join(str(self.cleaned_data["reason"]).split())

    def action_data(self) -> dict[str, Any]:
        """What the action's preview and perform take (a valid form's)."""
        return dict(self.cleaned_data)

    @property
    def previewing(self) -> bool:
        """A valid form that shows its changes before it is confirmed (see MetadataForm)."""
        return False


class PasswordLinkForm(ActionForm):
    mode = forms.ChoiceField(
        label="How the user gets the link",
        choices=[
            ("ticket", "Show me a link to give the user (valid 24 hours, shown once)"),
            ("email", "Auth0 emails the user a reset link"),
        ],
        initial="ticket",
        widget=forms.RadioSelect,
    )


class RemoveMfaForm(ActionForm):
    method = forms.ChoiceField(label="Remove", widget=forms.RadioSelect)

    def __init__(self, *args: Any, methods: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["method"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("all", "Every method (the user enrols again at the next sign-in)"),
            *((str(m["id"]), method_label(m)) for m in methods),
        ]
        field.initial = "all"

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        return cls(data, methods=bench.mfa_methods)


def method_label(method: dict[str, Any]) -> str:
    parts = [str(method.get("type") or "method")]
    for key in ("name", "email", "phone_number"):
        if method.get(key):
            parts.append(str(method[key]))
    return " · ".join(parts)


class DeleteForm(ActionForm):
    confirm = forms.CharField(
        label="Type the user's id to confirm",
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, user_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id = user_id

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        return cls(data, user_id=bench.user_id)

    def clean_confirm(self) -> str:
        typed = str(self.cleaned_data["confirm"]).strip()
        if typed != self.user_id:
            raise forms.ValidationError(f"Type {self.user_id} exactly to delete this user.")
        return typed


class MetadataForm(ActionForm):
    which = forms.ChoiceField(
        label="Metadata",
        choices=[("user_metadata", "user_metadata"), ("app_metadata", "app_metadata")],
        widget=forms.HiddenInput,
    )
    document = forms.CharField(
        label="New value (JSON object)",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
        help_text="The whole object as it should be. Keys you remove are deleted at Auth0.",
    )
    stage = forms.ChoiceField(
        choices=[("preview", "preview"), ("save", "save")],
        initial="preview",
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, current: dict[str, dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.current = current

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        current = {which: dict(bench.profile.get(which) or {}) for which in METADATA}
        form = cls(data, current=current)
        if data is None:
            which = "app_metadata" if params.get("which") == "app_metadata" else "user_metadata"
            form.initial.update(which=which, document=pretty(current[which]))
        return form

    def clean_document(self) -> dict[str, Any]:
        return parse_metadata(str(self.cleaned_data["document"]))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        which, document = cleaned.get("which"), cleaned.get("document")
        if which and isinstance(document, dict):
            reserved = reserved_keys(str(which), document)
            if reserved:
                self.add_error(
                    "document",
                    f"These keys are user attributes, not app_metadata: {', '.join(reserved)}.",
                )
                return cleaned
        if which and isinstance(document, dict) and not self.patch():
            self.add_error("document", "Nothing changed: the new value equals the current one.")
        return cleaned

    @property
    def before(self) -> dict[str, Any]:
        return dict(self.current.get(str(self.cleaned_data.get("which"))) or {})

    def action_data(self) -> dict[str, Any]:
        return {**self.cleaned_data, "patch": self.patch()}

    @property
    def previewing(self) -> bool:
        return self.cleaned_data["stage"] == "preview"

    @property
    def preview_heading(self) -> str:
        return f"Changes to {self.cleaned_data['which']}"

    def confirm_fields(self) -> list[tuple[str, str]]:
        """The hidden fields the preview's confirmation posts again (with the token and reason)."""
        return [
            ("which", str(self.cleaned_data["which"])),
            ("document", pretty(self.cleaned_data["document"])),
            ("stage", "save"),
        ]

    @property
    def edit_again_query(self) -> str:
        return f"which={self.cleaned_data['which']}"

    def patch(self) -> dict[str, Any]:
        """What to send so Auth0's one-level merge yields the document: null deletes a key."""
        before, after = self.before, dict(self.cleaned_data["document"])
        changes: dict[str, Any] = {k: None for k in before if k not in after}
        changes.update({k: v for k, v in after.items() if before.get(k, object()) != v})
        return changes

    def diff(self) -> list[tuple[str, str]]:
        """Line diff of the current and the new object: ("add"|"remove"|"same", line)."""
        old = pretty(self.before).splitlines()
        new = pretty(self.cleaned_data["document"]).splitlines()
        lines: list[tuple[str, str]] = []
        for line in difflib.ndiff(old, new):
            tag, text = line[:2], line[2:]
            if tag == "+ ":
                lines.append(("add", text))
            elif tag == "- ":
                lines.append(("remove", text))
            elif tag == "  ":
                lines.append(("same", text))
        return lines


def pretty(value: Any) -> str:
    return json.dumps(value or {}, indent=2, sort_keys=True, ensure_ascii=False)
