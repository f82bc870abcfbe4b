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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms

from management_api.tenants import Tenant, current_tenant

from .logtypes import method_summary

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


class TenantNameField(forms.CharField):
    """A production tenant's name, typed to confirm a destructive step (the guard rail of
    `ask_tenant_name`)."""

    def __init__(self, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(
            label=f"Type the tenant's name, {tenant.name}, to confirm",
            help_text=f"This is the production tenant {tenant.name}: real people's accounts.",
            max_length=200,
            widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
            error_messages={"required": f"Type {tenant.name} to confirm, on production."},
            **kwargs,
        )
        self.tenant = tenant

    def clean(self, value: Any) -> str:
        typed = " ".join(str(super().clean(value)).split())
        if typed != self.tenant.name:
            raise forms.ValidationError(
                f"Type the tenant's name, {self.tenant.name}, exactly: this is production."
            )
        return typed


TENANT_NAME_FIELD = "tenant_name"


def ask_tenant_name(form: forms.Form) -> forms.Form:
    """On a production tenant, `form` also asks for the tenant's name, typed: the one guard rail
    of destructive steps (actions declared `confirm_tenant`, bulk runs). Elsewhere unchanged."""
    tenant = current_tenant()
    if tenant.is_production:
        form.fields[TENANT_NAME_FIELD] = TenantNameField(tenant)
    return form


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
    editing = False  # posted back to the editor ("Edit again"): shown, not performed

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
        """What the action's preview and perform take (a valid form's; not the typed tenant
        name, which only guards)."""
        data = dict(self.cleaned_data)
        data.pop(TENANT_NAME_FIELD, None)
        return data

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
    used = method.get("last_auth_at")
    shown = method_summary(method)
    return f"{shown}, last used {str(used)[:10]}" if used else shown


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


MISSING: Any = object()  # a key the object does not hold


@dataclass(frozen=True)
class Conflict:
    """A key the person changed that Auth0 changed too since the editor opened."""

    key: str
    theirs: Any  # now at Auth0 (MISSING: removed)
    opened: Any  # as the editor opened it
    yours: Any  # the draft's

    @property
    def field(self) -> str:
        return f"take-{self.key}"

    def versions(self) -> list[tuple[str, str]]:
        """The three versions as the person compares them: (which, JSON)."""
        return [
            ("Theirs (now at Auth0)", _shown(self.theirs)),
            ("As you opened it", _shown(self.opened)),
            ("Yours", _shown(self.yours)),
        ]


def _shown(value: Any) -> str:
    if value is MISSING:
        return "(no such key)"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


class MetadataForm(ActionForm):
    which = forms.ChoiceField(
        label="Metadata",
        choices=[("user_metadata", "user_metadata"), ("app_metadata", "app_metadata")],
        widget=forms.HiddenInput,
    )
    document = forms.CharField(
        label="New value (JSON object)",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "mono"}),
        help_text=(
            "The whole object as it should be. Keys you remove are deleted at Auth0; only the "
            "keys you change are sent."
        ),
    )
    # The object as the editor opened it: what the draft's changes are taken against.
    original = forms.CharField(required=False, widget=forms.HiddenInput)
    stage = forms.ChoiceField(
        choices=[(s, s) for s in ("preview", "resolve", "save")],
        initial="preview",
        widget=forms.HiddenInput,
    )

    def __init__(
        self, *args: Any, current: dict[str, dict[str, Any]], editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.current = current
        self.editing = editing

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        current = {which: dict(bench.profile.get(which) or {}) for which in METADATA}
        editing = data is not None and data.get("stage") == "edit"
        if editing:  # "Edit again": the editor with the draft, the reason and what it opened
            data = data.copy()
            data["stage"] = "preview"
        form = cls(data, current=current, editing=editing)
        if data is None:
            which = "app_metadata" if params.get("which") == "app_metadata" else "user_metadata"
            form.initial.update(
                which=which, document=pretty(current[which]), original=pretty(current[which])
            )
        return form

    def clean_document(self) -> dict[str, Any]:
        return parse_metadata(str(self.cleaned_data["document"]))

    def clean_original(self) -> dict[str, Any] | None:
        text = str(self.cleaned_data.get("original") or "")
        if not text:
            return None  # a form from before the editor carried it: taken against Auth0's now
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            value = None
        if not isinstance(value, dict):
            raise forms.ValidationError("The editor's opened version is damaged: open it again.")
        return value

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
        if not (which and isinstance(document, dict)) or "original" not in cleaned:
            return cleaned
        resolving = cleaned.get("stage") == "resolve"
        if resolving:
            self._resolve()
        if not self.patch() and not self.conflicts:
            self.add_error(
                "document",
                "Nothing left to save: you kept Auth0's value of every key you changed."
                if resolving
                else "Nothing changed: the new value equals the current one.",
            )
        return cleaned

    def _resolve(self) -> None:
        """Apply the person's choice for each conflict: theirs drops the key from the draft's
        changes, yours keeps it; either way the draft is now taken against Auth0's version."""
        opened, document = dict(self.opened), dict(self.cleaned_data["document"])
        for conflict in self.conflicts:
            if self.data.get(conflict.field) == "theirs":
                if conflict.theirs is MISSING:
                    document.pop(conflict.key, None)
                else:
                    document[conflict.key] = conflict.theirs
            elif self.data.get(conflict.field) != "yours":
                continue  # not chosen: still a conflict
            if conflict.theirs is MISSING:
                opened.pop(conflict.key, None)
            else:
                opened[conflict.key] = conflict.theirs
        self.cleaned_data.update(document=document, original=opened, stage="preview")

    @property
    def before(self) -> dict[str, Any]:
        """The object at Auth0 now."""
        return dict(self.current.get(str(self.cleaned_data.get("which"))) or {})

    @property
    def opened(self) -> dict[str, Any]:
        """The object as the editor opened it (Auth0's now for a form that did not carry it)."""
        original = self.cleaned_data.get("original")
        return dict(original) if isinstance(original, dict) else self.before

    @property
    def after(self) -> dict[str, Any]:
        """Auth0's object once the patch is merged (one level deep; a null deletes the key)."""
        merged = {**self.before, **self.patch()}
        return {k: v for k, v in merged.items() if v is not None}

    def action_data(self) -> dict[str, Any]:
        return {**super().action_data(), "patch": self.patch()}

    @property
    def previewing(self) -> bool:
        return self.cleaned_data["stage"] == "preview" or bool(self.conflicts)

    @property
    def preview_heading(self) -> str:
        if self.conflicts:
            return f"{self.cleaned_data['which']} changed at Auth0 since you opened it"
        return f"Changes to {self.cleaned_data['which']}"

    def confirm_fields(self) -> list[tuple[str, str]]:
        """The hidden fields the preview's confirmation posts again (with the token and reason)."""
        return [
            ("which", str(self.cleaned_data["which"])),
            ("document", pretty(self.cleaned_data["document"])),
            ("original", pretty(self.opened)),
        ]

    @property
    def confirm_stage(self) -> str:
        return "resolve" if self.conflicts else "save"

    def patch(self) -> dict[str, Any]:
        """Only the keys the person changed since the editor opened (a merge patch: null
        deletes a key); never a key nobody edited, whatever Auth0 holds for it now."""
        opened, after = self.opened, dict(self.cleaned_data["document"])
        changes: dict[str, Any] = {k: None for k in opened if k not in after}
        changes.update({k: v for k, v in after.items() if opened.get(k, MISSING) != v})
        return changes

    @property
    def conflicts(self) -> list[Conflict]:
        """The changed keys that Auth0 changed too, to something else than the draft's."""
        if not hasattr(self, "cleaned_data") or "document" not in self.cleaned_data:
            return []
        now, opened = self.before, self.opened
        document = dict(self.cleaned_data["document"])
        found = []
        for key in self.patch():
            theirs, was = now.get(key, MISSING), opened.get(key, MISSING)
            yours = document.get(key, MISSING)
            if theirs != was and theirs != yours:
                found.append(Conflict(key, theirs, was, yours))
        return found

    def diff(self) -> list[tuple[str, str]]:
        """Line diff of Auth0's object now and after the save: ("add"|"remove"|"same", line)."""
        old = pretty(self.before).splitlines()
        new = pretty(self.after).splitlines()
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
