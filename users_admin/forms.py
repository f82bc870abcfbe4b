"""The search, builder-row and lookup forms (GET forms: every search is a shareable URL)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.http import QueryDict

from .lucene import (
    FIELDS,
    METADATA_FIELD,
    METADATA_PATH,
    OP_LABELS,
    VALUE_OPS,
    Condition,
    Op,
    QueryError,
    compile_query,
)

PER_PAGE_CHOICES = [(10, "10"), (25, "25"), (50, "50"), (100, "100")]
DEFAULT_PER_PAGE = 50

# Columns the agent can show; each is requested through `fields`, so Auth0 sends only these.
COLUMNS: dict[str, str] = {
    "email": "Email",
    "name": "Name",
    "nickname": "Nickname",
    "given_name": "Given name",
    "family_name": "Family name",
    "username": "Username",
    "user_id": "User ID",
    "identities": "Connection",
    "email_verified": "Verified",
    "phone_number": "Phone",
    "logins_count": "Logins",
    "last_login": "Last login",
    "last_ip": "Last IP",
    "created_at": "Created",
    "updated_at": "Updated",
    "blocked": "Blocked",
}
DEFAULT_COLUMNS = ["email", "name", "identities", "last_login", "logins_count"]
DATE_COLUMNS = frozenset({"last_login", "created_at", "updated_at"})

# Auth0 sorts by any root or nested non-metadata field; these are the useful ones.
SORT_FIELDS: dict[str, str] = {
    "": "Best match",
    "created_at": "Created",
    "updated_at": "Updated",
    "last_login": "Last login",
    "logins_count": "Logins count",
    "email": "Email",
    "name": "Name",
    "nickname": "Nickname",
    "given_name": "Given name",
    "family_name": "Family name",
    "user_id": "User ID",
    "username": "Username",
}

FIELD_CHOICES = [(key, label) for key, (label, _kind) in FIELDS.items()] + [
    (METADATA_FIELD, "Metadata path…")
]
OP_CHOICES = [(op.value, label) for op, label in OP_LABELS.items()]


class ConditionForm(forms.Form):
    negate = forms.BooleanField(required=False, label="Not")
    field = forms.ChoiceField(choices=FIELD_CHOICES, initial="email")
    path = forms.CharField(
        required=False,
        max_length=200,
        label="Metadata path",
        widget=forms.TextInput(attrs={"placeholder": "app_metadata.plan", "class": "path"}),
    )
    op = forms.ChoiceField(choices=OP_CHOICES, initial=Op.IS.value, label="Operator")
    value = forms.CharField(required=False, max_length=500, strip=False)
    value2 = forms.CharField(
        required=False,
        max_length=500,
        strip=False,
        label="and",
        widget=forms.TextInput(attrs={"class": "value2", "placeholder": "upper bound"}),
    )

    def clean_path(self) -> str:
        return str(self.cleaned_data.get("path") or "").strip()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("field") == METADATA_FIELD:
            path = data.get("path", "")
            if not METADATA_PATH.match(path):
                self.add_error(
                    "path",
                    "Type a path under app_metadata or user_metadata, e.g. app_metadata.plan "
                    "(letters, digits and _ between dots).",
                )
        return data

    def is_blank(self) -> bool:
        """A row waiting for a value that was never typed is ignored, not an error."""
        data = self.cleaned_data
        return (
            data.get("op") in {op.value for op in (*VALUE_OPS, Op.BETWEEN)}
            and not str(data.get("value", "")).strip()
            and not str(data.get("value2", "")).strip()
        )

    def condition(self) -> Condition:
        data = self.cleaned_data
        field = data["path"] if data["field"] == METADATA_FIELD else data["field"]
        return Condition(
            field=field,
            op=Op(data["op"]),
            value=data.get("value", ""),
            value2=data.get("value2", ""),
            negate=bool(data.get("negate")),
        )


ConditionFormSet = formset_factory(ConditionForm, extra=0, max_num=20, absolute_max=20)


class SearchForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[("builder", "Builder"), ("advanced", "Advanced (Lucene)")],
        initial="builder",
        required=False,
        widget=forms.HiddenInput,
    )
    join = forms.ChoiceField(
        choices=[("AND", "all rows (AND)"), ("OR", "any row (OR)")],
        initial="AND",
        required=False,
        label="Match",
    )
    q = forms.CharField(
        required=False,
        max_length=4000,
        label="Lucene query",
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "placeholder": 'email:"jane@example.com"'}
        ),
    )
    connection = forms.ChoiceField(required=False, choices=[("", "Any connection")])
    sort = forms.ChoiceField(choices=list(SORT_FIELDS.items()), required=False, label="Sort by")
    direction = forms.ChoiceField(
        choices=[("-1", "descending"), ("1", "ascending")], required=False, initial="-1"
    )
    columns = forms.MultipleChoiceField(
        choices=list(COLUMNS.items()),
        required=False,
        initial=DEFAULT_COLUMNS,
        widget=forms.CheckboxSelectMultiple,
    )
    per_page = forms.TypedChoiceField(
        choices=PER_PAGE_CHOICES,
        coerce=int,
        required=False,
        initial=DEFAULT_PER_PAGE,
        label="Per page",
    )
    page = forms.IntegerField(min_value=0, max_value=999, required=False, widget=forms.HiddenInput)

    def __init__(
        self, data: QueryDict | None = None, *, connections: list[str] | None = None
    ) -> None:
        if data is not None:
            # A shared or hand-made URL may leave settings out: show the defaults it gets.
            data = data.copy()
            for name, default in (("per_page", str(DEFAULT_PER_PAGE)), ("direction", "-1")):
                data.setdefault(name, default)
            if "columns" not in data:
                data.setlist("columns", DEFAULT_COLUMNS)
        super().__init__(data)
        names = list(connections or [])
        chosen = str(self.data.get("connection") or "") if self.is_bound else ""
        if chosen and chosen not in names:
            # Keep a shared URL working even if the connection list could not be loaded.
            names.append(chosen)
        connection_field = self.fields["connection"]
        assert isinstance(connection_field, forms.ChoiceField)
        connection_field.choices = [("", "Any connection"), *((n, n) for n in names)]

    def clean_mode(self) -> str:
        return str(self.cleaned_data.get("mode") or "builder")

    def clean_join(self) -> str:
        return str(self.cleaned_data.get("join") or "AND")

    def clean_q(self) -> str:
        return str(self.cleaned_data.get("q") or "").strip()

    def clean_columns(self) -> list[str]:
        return list(self.cleaned_data.get("columns") or DEFAULT_COLUMNS)

    def clean_per_page(self) -> int:
        return int(self.cleaned_data.get("per_page") or DEFAULT_PER_PAGE)

    def clean_page(self) -> int:
        return int(self.cleaned_data.get("page") or 0)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        page, per_page = data.get("page"), data.get("per_page")
        if page is not None and per_page and page * per_page >= 1000:
            self.add_error("page", "Auth0 only pages through the first 1,000 matches.")
        return data

    def sort_param(self) -> str | None:
        field = self.cleaned_data.get("sort") or ""
        if not field:
            return None
        return f"{field}:{self.cleaned_data.get('direction') or '-1'}"


class LookupForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "placeholder": "jane@example.com"}),
    )


def search_query(
    form: SearchForm, rows: BaseFormSet[ConditionForm]
) -> tuple[str | None, list[str]]:
    """The Lucene query a submitted search asks for, or None and the errors to show."""
    if not form.is_valid():
        return None, [str(e) for errors in form.errors.values() for e in errors]
    if form.cleaned_data["mode"] == "advanced":
        query = str(form.cleaned_data["q"])
        connection = form.cleaned_data.get("connection") or ""
        if connection:
            narrowing = compile_query([], connection=connection)
            query = f"({query}) AND {narrowing}" if query else narrowing
        return query, []
    if not rows.is_valid():
        errors = [
            f"Row {index + 1}: {error}"
            for index, row in enumerate(rows.forms)
            for field_errors in row.errors.values()
            for error in field_errors
        ]
        return None, errors + [str(e) for e in rows.non_form_errors()]
    conditions = []
    problems = []
    for index, row in enumerate(rows.forms):
        if row.is_blank():
            continue
        condition = row.condition()
        try:
            compile_query([condition])
        except QueryError as exc:
            problems.append(f"Row {index + 1}: {exc}")
        conditions.append(condition)
    if problems:
        return None, problems
    data = form.cleaned_data
    return compile_query(conditions, join=data["join"], connection=data["connection"]), []
