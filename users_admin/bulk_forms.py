"""The forms of bulk runs: choosing the users (a search query or an uploaded list)."""

from __future__ import annotations

from typing import Any

from django import forms

from exports import matching

from .action_forms import parse_metadata, reserved_keys
from .bulk_list import ListProblem, count_list
from .focus import FocusedOnError


class SelectionForm(FocusedOnError):
    source = forms.ChoiceField(
        label="Users",
        choices=[
            ("query", "Every user a search query matches"),
            ("list", "The users of a list (user ids or email addresses)"),
        ],
        initial="query",
        widget=forms.RadioSelect,
    )
    query = forms.CharField(
        label="Search query (Lucene)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "spellcheck": "false",
                "class": "mono",
                "data-ctrl-enter": "button[type=submit]",
            }
        ),
        help_text=(
            'As on the search page, e.g. email.domain:"example.com". Every match counts, '
            "beyond Auth0's 1,000: an exact export freezes them. Ctrl+Enter selects the users."
        ),
    )
    users_file = forms.FileField(
        label="List of users",
        required=False,
        error_messages={"empty": "The list is empty: one user id or email address per line."},
        help_text=(
            "A text or CSV file, one user id (auth0|123) or email address per line, up to "
            "1,000,000 lines; in a CSV, the column titled user_id or email (else the first)."
        ),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("source") == "query":
            query = str(cleaned.get("query") or "").strip()
            cleaned["query"] = query
            if not query:
                self.add_error("query", "Type the search query whose users the run acts on.")
            elif reason := matching.problem(query):
                self.add_error("query", f"This query cannot select users exactly: {reason}")
        elif cleaned.get("source") == "list":
            upload = cleaned.get("users_file")
            if upload is None and "users_file" not in self.errors:
                self.add_error("users_file", "Choose the file that lists the users.")
            elif upload is not None:
                try:
                    cleaned["list_lines"] = count_list(upload)
                except ListProblem as exc:
                    self.add_error("users_file", str(exc))
                upload.seek(0)
        return cleaned


class ActionChoiceForm(FocusedOnError):
    """The action a run takes, with its reason: previewed before anything is sent."""

    action = forms.ChoiceField(label="Action", widget=forms.RadioSelect)
    which = forms.ChoiceField(
        label="Metadata",
        required=False,
        choices=[("app_metadata", "app_metadata"), ("user_metadata", "user_metadata")],
        initial="app_metadata",
    )
    patch = forms.CharField(
        label="Keys to set or remove (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text=(
            'For "Set or remove metadata keys": a JSON object such as {"plan": "pro", '
            '"trial": null}. A value replaces the key\u2019s whole value; null removes the key; '
            "other keys stay as they are."
        ),
    )
    reason = forms.CharField(
        label="Reason",
        min_length=5,
        max_length=500,
        help_text="Why (kept in the audit log and shown to the approver and on each user's "
        "timeline).",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Type the reason for this run."},
    )
    ticket = forms.CharField(
        label="Ticket reference",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, actions: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["action"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = actions

    def clean_reason(self) -> str:
        return " ".join(str(self.cleaned_data["reason"]).split())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["params"] = {}
        if cleaned.get("action") != "metadata":
            return cleaned
        which = str(cleaned.get("which") or "app_metadata")
        text = str(cleaned.get("patch") or "").strip()
        if not text:
            self.add_error("patch", "Type the keys to set or remove, as a JSON object.")
            return cleaned
        try:
            patch = parse_metadata(text)
        except forms.ValidationError as exc:
            self.add_error("patch", exc)
            return cleaned
        if not patch:
            self.add_error("patch", "Name at least one key: {} would change nothing.")
        elif reserved := reserved_keys(which, patch):
            self.add_error(
                "patch", f"These keys are user attributes, not app_metadata: {', '.join(reserved)}."
            )
        else:
            cleaned["params"] = {"which": which, "patch": patch}
        return cleaned


class RejectForm(FocusedOnError):
    reason = forms.CharField(
        label="Why not",
        min_length=5,
        max_length=500,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Type why you reject this run."},
    )
