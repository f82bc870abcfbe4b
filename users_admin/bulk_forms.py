"""The forms of bulk runs: choosing the users (a search query or an uploaded list)."""

from __future__ import annotations

from typing import Any

from django import forms

from exports import matching

from .bulk_select import ListProblem, read_list


class SelectionForm(forms.Form):
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
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text=(
            'As on the search page, e.g. email.domain:"example.com". Every match counts, '
            "beyond Auth0's 1,000: an exact export freezes them."
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
                    cleaned["entries"] = read_list(upload)
                except ListProblem as exc:
                    self.add_error("users_file", str(exc))
                upload.seek(0)
        return cleaned
