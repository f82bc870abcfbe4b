"""The search, builder-row and lookup forms (GET forms: every search is a shareable URL)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.http import QueryDict
from django.utils import timezone

from .lucene import (
    FIELDS,
    KIND_OPS,
    METADATA_FIELD,
    METADATA_PATH,
    OP_LABELS,
    VALUE_OPS,
    Condition,
    Kind,
    Op,
    QueryError,
    compile_condition,
    compile_query,
)
from .models import SAVED_SEARCH_NAME_MAX_LENGTH
from .saved import search_query_string

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


MAX_QUERY_LENGTH = 4000
VALUE_INPUT_TYPES = {Kind.NUMBER: "number", Kind.DATE: "date"}


def _shown_by_date_input(value: str) -> bool:
    """Whether `<input type=date>` keeps this value (a whole calendar day), or "" (no value)."""
    if not value:
        return True
    try:
        return len(value) == 10 and bool(date.fromisoformat(value))
    except ValueError:
        return False


def kind_of_choice(field: str) -> Kind:
    return Kind.METADATA if field == METADATA_FIELD else FIELDS[field][1]


class FieldSelect(forms.Select):
    """Each field option names its kind, so the page can offer only the operators that fit."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        option["attrs"]["data-kind"] = kind_of_choice(str(option["value"])).value
        return option


class OperatorSelect(forms.Select):
    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        op = Op(str(option["value"]))
        option["attrs"]["data-kinds"] = " ".join(
            k.value for k, ops in KIND_OPS.items() if op in ops
        )
        return option


class ConditionForm(forms.Form):
    negate = forms.BooleanField(required=False, label="Not")
    field = forms.ChoiceField(
        choices=FIELD_CHOICES, initial="email", widget=FieldSelect(attrs={"class": "field-choice"})
    )
    path = forms.CharField(
        required=False,
        max_length=200,
        label="Metadata path",
        widget=forms.TextInput(attrs={"placeholder": "app_metadata.plan", "class": "path"}),
    )
    op = forms.ChoiceField(
        choices=OP_CHOICES,
        initial=Op.IS.value,
        label="Operator",
        widget=OperatorSelect(attrs={"class": "op-choice"}),
    )
    value = forms.CharField(
        required=False,
        max_length=500,
        strip=False,
        widget=forms.TextInput(attrs={"class": "value"}),
    )
    value2 = forms.CharField(
        required=False,
        max_length=500,
        strip=False,
        label="and",
        widget=forms.TextInput(attrs={"class": "value2", "placeholder": "upper bound"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The value inputs take the chosen field's type (number, date) so the browser checks
        # them before the request; static/js/search.js keeps them in step when the field changes.
        chosen = self["field"].value()
        kind = kind_of_choice(chosen) if chosen in dict(FIELD_CHOICES) else Kind.TEXT
        if kind in VALUE_INPUT_TYPES:
            for name in ("value", "value2"):
                widget = self.fields[name].widget
                assert isinstance(widget, forms.TextInput)
                widget.input_type = VALUE_INPUT_TYPES[kind]
                if kind is Kind.NUMBER:
                    widget.attrs["step"] = "1"
                elif not _shown_by_date_input(str(self[name].value() or "")):
                    # A date input would empty itself of what it cannot show (2024-02, or
                    # 2024-02-30 with its error): the agent sees the value as typed.
                    widget.input_type = "text"

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
        if self.errors or self.is_blank():
            return data
        try:
            compile_condition(self.condition())
        except QueryError as exc:
            # Shown at the input the agent typed in: the value, or the operator when no value fits.
            op = Op(data["op"])
            self.add_error("value" if op in (*VALUE_OPS, Op.BETWEEN) else "op", str(exc))
        return data

    def _post_clean(self) -> None:
        # A field in error names the row's error list, so a screen reader reads it with it.
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"{self.prefix}-errors"

    def is_blank(self) -> bool:
        """A row waiting for a value that was never typed is ignored, not an error."""
        data = getattr(self, "cleaned_data", {})
        if "field" not in data:  # a row left as it was offered: Django cleaned nothing of it
            return True
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
        error_messages={
            "invalid_choice": (
                "There is no query mode “%(value)s”: choose Builder or Advanced (Lucene)."
            )
        },
    )
    join = forms.ChoiceField(
        choices=[("AND", "all rows (AND)"), ("OR", "any row (OR)")],
        initial="AND",
        required=False,
        label="Match",
    )
    # No max_length: the browser would cut a pasted query silently; clean_q says so instead.
    q = forms.CharField(
        required=False,
        label="Lucene query",
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "spellcheck": "false",
                "placeholder": 'email:"jane@example.com"',
                "aria-describedby": "q-help",
                "data-max-length": str(MAX_QUERY_LENGTH),
                "data-ctrl-enter": ".search-submit",
            }
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
            if "mode" not in data:
                # `/users/?q=jane` is a Lucene query typed into the address bar.
                data["mode"] = "advanced" if data.get("q") else "builder"
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
        q = str(self.cleaned_data.get("q") or "").strip()
        if len(q) > MAX_QUERY_LENGTH:
            raise forms.ValidationError(
                f"The query is {len(q):,} characters long; Auth0 takes at most "
                f"{MAX_QUERY_LENGTH:,}. Shorten it, or split it into several searches."
            )
        return q

    def ordered_columns(self) -> list[Any]:
        """The column checkboxes, the chosen ones first in the agent's order."""
        chosen = [str(c) for c in (self["columns"].value() or DEFAULT_COLUMNS)]
        position = {name: index for index, name in enumerate(chosen)}
        boxes = list(self["columns"])
        return sorted(boxes, key=lambda box: position.get(box.data["value"], len(position)))

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
    every_tenant = forms.BooleanField(required=False, label="Ask every tenant I may search")

    def __init__(self, *args: Any, several_tenants: bool = False, **kwargs: Any) -> None:
        """`several_tenants`: the member may search more than one (else no such choice)."""
        super().__init__(*args, **kwargs)
        if not several_tenants:
            del self.fields["every_tenant"]


def search_query(
    form: SearchForm, rows: BaseFormSet[ConditionForm]
) -> tuple[str | None, list[str]]:
    """The Lucene query a submitted search asks for, or None and the errors to show."""
    if not form.is_valid():
        # The mode's error shows at the mode switch, the place a hand-made URL got wrong.
        return None, [
            str(e) for name, errors in form.errors.items() if name != "mode" for e in errors
        ]
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


def rows_lucene(rows: BaseFormSet[ConditionForm], join: str) -> str | None:
    """What the builder rows alone say (no connection), for "Edit as Lucene"; None if invalid."""
    if not rows.is_valid():
        return None
    try:
        return compile_query(
            [row.condition() for row in rows.forms if not row.is_blank()],
            join=join if join in ("AND", "OR") else "AND",
        )
    except QueryError:
        return None


_EMAIL = re.compile(r"[^\s\"'():*\\]+@[^\s\"'():*\\]+\.[A-Za-z]{2,}")
_PHRASE = re.compile(r'"(?:[^"\\]|\\.)*"')
_LOWER_OPERATOR = re.compile(r"(?:^|\s)(and|or|not)(?=\s)")


def empty_result_hints(form: SearchForm, rows: BaseFormSet[ConditionForm]) -> dict[str, str]:
    """For a search that found nobody: an address to try in email lookup, and the likely
    mistake (Auth0 takes lower-case and/or/not as words to search for)."""
    data = form.cleaned_data
    hints: dict[str, str] = {}
    if data["mode"] == "advanced":
        texts = [str(data["q"])]
        operator = _LOWER_OPERATOR.search(_PHRASE.sub(" ", str(data["q"])))
        if operator:
            hints["operator"] = operator.group(1)
    else:
        texts = [str(row.cleaned_data.get("value", "")) for row in rows.forms]
    for text in texts:
        found = _EMAIL.search(text.replace("\\", ""))
        if found:
            hints["email"] = found.group(0)
            break
    return hints


class SaveSearchForm(forms.Form):
    name = forms.CharField(
        max_length=SAVED_SEARCH_NAME_MAX_LENGTH,
        label="Name",
        widget=forms.TextInput(attrs={"id": "save-search-name"}),
    )
    shared = forms.BooleanField(required=False, label="Share with the team")
    query_string = forms.CharField(max_length=8000, widget=forms.HiddenInput)

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()

    def clean_query_string(self) -> str:
        kept = search_query_string(QueryDict(str(self.cleaned_data["query_string"]).lstrip("?")))
        if not kept:
            raise forms.ValidationError("Run a search first, then save it.")
        return kept


def _preset(label: str, *rows: dict[str, str]) -> dict[str, str]:
    params = {
        "mode": "builder",
        "join": "AND",
        "c-TOTAL_FORMS": str(len(rows)),
        "c-INITIAL_FORMS": "0",
    }
    for index, row in enumerate(rows):
        params.update({f"c-{index}-{key}": value for key, value in row.items()})
    return {"label": label, "query_string": urlencode(params)}


def presets() -> list[dict[str, str]]:
    """The questions agents ask most, each a builder state (a URL that fills the builder)."""
    week_ago = (timezone.now() - timedelta(days=7)).date().isoformat()
    return [
        _preset("Never logged in", {"field": "last_login", "op": Op.MISSING.value}),
        _preset("Blocked", {"field": "blocked", "op": Op.IS_TRUE.value}),
        _preset("Email not verified", {"field": "email_verified", "op": Op.IS_FALSE.value}),
        _preset(
            "Signed up in the last 7 days",
            {"field": "created_at", "op": Op.GREATER.value, "value": week_ago},
        ),
        _preset("Social accounts", {"field": "identities.isSocial", "op": Op.IS_TRUE.value}),
    ]
