"""The import pages' forms: the file (an upload or an export Userdesk made), then the target
connection, Auth0's options and the typed reason that start it."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from .importcheck import MAX_UPLOAD_BYTES
from .models import Export


class ImportFileForm(forms.Form):
    file = forms.FileField(
        label="Upload a file",
        required=False,
        help_text=(
            "A JSON array of users in Auth0's import format, or the .zip of parts an export's "
            "“Import-ready JSON” download gives."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".json,.zip,application/json"}),
    )
    export = forms.TypedChoiceField(
        label="Or an export Userdesk made",
        required=False,
        coerce=int,
        empty_value=None,
        help_text="A ready export of one database connection with an email column.",
    )

    def __init__(self, *args: Any, exports: list[Export], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exports = {export.pk: export for export in exports}
        cast(forms.ChoiceField, self.fields["export"]).choices = [
            ("", "(none: I upload a file)")
        ] + [
            (
                export.pk,
                f"#{export.pk} {export.name or export.connection_label}, "
                f"{export.row_count or 0} rows, {export.created_at:%Y-%m-%d %H:%M}",
            )
            for export in exports
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload, export = data.get("file"), data.get("export")
        if self.errors:
            return data
        if upload and export:
            self.add_error("file", "Upload a file or choose an export, not both.")
        elif not upload and not export:
            self.add_error("file", "Upload a file, or choose an export below.")
        elif upload and upload.size > MAX_UPLOAD_BYTES:
            self.add_error(
                "file", f"The file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it."
            )
        if export:
            data["export"] = self.exports[export]
        return data


def ids_of(run: Any) -> Export | None:
    """The export of the run's own tenant its users were made from, when that export has a
    user_id column: the tenant holds those ids already."""
    export = run.source_export
    if export is None or export.tenant != run.tenant:
        return None
    return export if any(item.get("name") == "user_id" for item in export.fields) else None


class StartImportForm(forms.Form):
    connection = forms.ChoiceField(
        label="Import into",
        help_text="A database connection of this tenant (Auth0 imports only into those).",
        error_messages={"required": "Choose the database connection to import into."},
    )
    user_ids = forms.ChoiceField(
        label="The users' ids",
        choices=[
            ("keep", "Keep each user's user_id"),
            ("new", "Give the users new ids (leave out user_id; Auth0 makes new ones)"),
        ],
        widget=forms.RadioSelect,
        required=False,
        help_text=(
            "A user_id is unique across all of a tenant's connections: a user whose id this "
            "tenant still holds fails in another connection. Keep the ids to restore deleted "
            "users, to move users you have deleted from their connection, or for a file from "
            "another tenant."
        ),
    )
    upsert = forms.BooleanField(
        label="Update users that exist (upsert)",
        required=False,
        help_text=(
            "Off: a user whose email, user_id, phone or username exists fails. On: a user "
            "matching by email has its metadata and profile replaced (Auth0 does not merge)."
        ),
    )
    external_id = forms.CharField(
        label="External id (optional)",
        required=False,
        max_length=200,
        help_text="Auth0 returns it with each job, to correlate them (a ticket number).",
    )
    send_completion_email = forms.BooleanField(
        label="Email Auth0's tenant admins when each job ends",
        required=False,
    )
    leave_out = forms.BooleanField(
        label="Leave out the users that fail the checks and import the others",
        required=False,
    )
    reason = forms.CharField(
        label="Reason",
        min_length=5,
        max_length=500,
        help_text="Why you import these users (the ticket number helps). Kept in the audit log.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": "Type the reason for this import."},
    )

    def __init__(
        self,
        *args: Any,
        connections: list[dict[str, str]],
        rejected: int,
        ids_of: Export | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The export of this tenant the users were made from, when they hold its user ids:
        # into another connection, keeping them is a choice made, not a default.
        self.ids_of = ids_of
        self.fields["user_ids"].initial = None if ids_of else "keep"
        self.databases = {c["id"]: c for c in connections if c["strategy"] == "auth0"}
        cast(forms.ChoiceField, self.fields["connection"]).choices = [
            ("", "Choose a database connection")
        ] + [(c["id"], c["name"]) for c in self.databases.values()]
        self.rejected = rejected
        if not rejected:
            del self.fields["leave_out"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source, target = self.ids_of, data.get("connection")
        if source and target and target != source.connection_id and not data.get("user_ids"):
            self.add_error(
                "user_ids",
                f"These users hold the user ids of export #{source.pk}'s users of "
                f"{source.connection_name}: while those users are in this tenant, Auth0 refuses "
                "every one of them in another connection (DUPLICATED_USER). Give them new ids, "
                "or keep the ids only if you have deleted those users (a move).",
            )
        return data

    def clean_reason(self) -> str:
        return " ".join(str(self.cleaned_data["reason"]).split())

    def clean_leave_out(self) -> bool:
        if not self.cleaned_data.get("leave_out"):
            raise forms.ValidationError(
                f"{self.rejected} user{'s' if self.rejected != 1 else ''} of this file fail "
                "the checks above, and nothing is sent while any fail: tick this to leave "
                "them out, or fix the file and upload it again."
            )
        return True

    def chosen(self) -> dict[str, Any]:
        """The ImportRun fields this form sets."""
        connection = self.databases[self.cleaned_data["connection"]]
        return {
            "connection_id": connection["id"],
            "connection_name": connection["name"],
            "upsert": self.cleaned_data["upsert"],
            "new_user_ids": self.cleaned_data["user_ids"] == "new",
            "external_id": self.cleaned_data["external_id"].strip(),
            "send_completion_email": self.cleaned_data["send_completion_email"],
            "reason": self.cleaned_data["reason"],
        }
