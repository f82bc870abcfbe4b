"""The export builder: a POST form whose cleaned_data becomes the stored export spec."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.db.models import Q, QuerySet

from config.params import whole_number
from staff.forms import DateInput, check_date_range

from . import derive, exact, formats, matching
from .fields import (
    EXPORTABLE_FIELDS,
    MAX_NAME_LENGTH,
    OBJECT_FIELDS,
    field_problem,
    objects_among,
)
from .models import (
    ACTIVE_STATUSES,
    CONNECTION_COLUMN,
    NAME_MAX_LENGTH,
    TEMPLATE_NAME_MAX_LENGTH,
    ExportSpec,
    Status,
)

MAX_ROWS = 300
SAMPLE_SIZE = 10
# Where the error summary sends the form's own errors (too many fields, none picked).
FIELDS_ANCHOR = "fields"
FREE_ROWS = 5
MAX_LIMIT = 100_000_000
# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets. Auth0
# escapes values this way but writes the header row as given.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class FieldRow:
    """One line of the field picker."""

    name: str
    kind: str  # "standard", "metadata" or "free"
    on: bool = False
    export_as: str = ""
    order: int | None = None
    is_object: bool = False

    @property
    def group(self) -> str:
        """The builder's group for the row (FIELD_GROUPS); a typed-in row is "other"."""
        return field_group(self.name) if self.kind != "free" or self.on else "other"


# The builder's groups, in page order: (key, heading).
FIELD_GROUPS: tuple[tuple[str, str], ...] = (
    ("profile", "Profile"),
    ("identities", "Identities"),
    ("app_metadata", "app_metadata"),
    ("user_metadata", "user_metadata"),
    ("other", "Other fields"),
)


def field_group(name: str) -> str:
    """Which group of the builder a field path belongs to, by its root attribute."""
    root = name.split(".", 1)[0].split("[", 1)[0]
    if root in ("identities", "app_metadata", "user_metadata"):
        return root
    return "profile" if root in EXPORTABLE_FIELDS else "other"


def grouped(row_forms: Iterable[Any]) -> list[tuple[str, str, list[Any]]]:
    """The picker's row forms by group: (key, heading, forms), every group listed."""
    by_group: dict[str, list[Any]] = {key: [] for key, _ in FIELD_GROUPS}
    for row_form in row_forms:
        by_group[row_form.row.group].append(row_form)
    return [(key, heading, by_group[key]) for key, heading in FIELD_GROUPS]


def picker_rows(
    *,
    metadata_leaves: Sequence[str] = (),
    metadata_objects: Sequence[str] = (),
    picked: Sequence[dict[str, str]] = (),
) -> list[FieldRow]:
    """The picker's rows: Auth0's attributes, discovered metadata paths, then free entry.

    `picked` (name/export_as dicts, in order) ticks rows and numbers them; picked names
    that are not listed become free rows.
    """
    rows = [
        FieldRow(name, "standard", is_object=name in OBJECT_FIELDS) for name in EXPORTABLE_FIELDS
    ]
    listed = set(EXPORTABLE_FIELDS)
    for path in [*metadata_objects, *metadata_leaves]:
        if path not in listed:
            rows.append(FieldRow(path, "metadata", is_object=path in metadata_objects))
            listed.add(path)
    by_name = {row.name: row for row in rows}
    for position, item in enumerate(picked, start=1):
        name = item.get("name", "")
        row = by_name.get(name)
        if row is None:
            row = FieldRow(name, "free")
            rows.append(row)
            by_name[name] = row
        row.on = True
        row.export_as = item.get("export_as", "")
        row.order = position
    rows.extend(FieldRow("", "free") for _ in range(FREE_ROWS))
    return rows


if TYPE_CHECKING:
    _FormSet = forms.BaseFormSet
else:  # BaseFormSet is generic only in django-stubs

    class _FormSet(forms.BaseFormSet):
        def __class_getitem__(cls, item: object) -> type:
            return cls


class FieldRowForm(forms.Form):
    """One line of the field picker; its widgets depend on the row's kind."""

    kind = forms.CharField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(required=False, max_length=MAX_NAME_LENGTH, label="Field")
    on = forms.BooleanField(required=False, label="Include")
    export_as = forms.CharField(
        required=False,
        max_length=MAX_NAME_LENGTH,
        label="Column title",
        widget=forms.TextInput(attrs={"placeholder": "column title", "class": "field-as"}),
    )
    order = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ROWS,
        label="Order",
        widget=forms.NumberInput(attrs={"class": "field-order", "size": 3}),
    )

    def __init__(self, *args: Any, row: FieldRow, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row
        if row.kind == "free":
            self.fields["name"].widget = forms.TextInput(
                attrs={"placeholder": "e.g. user_metadata.plan", "class": "field-name"}
            )
        else:
            self.fields["name"].widget = forms.HiddenInput(attrs={"class": "field-name"})
        self.fields["on"].label = row.name or "Include"
        self.fields["on"].widget.attrs.update(
            {"class": "field-on", "data-object": "true" if row.is_object else "false"}
        )
        if row.kind == "free":
            # A typed-in row has no field name to label its box with.
            self.fields["on"].widget.attrs["aria-label"] = "Include this other field"


class BaseFieldRowFormSet(_FormSet[FieldRowForm]):
    """The picker's rows. Unbound: the rows given; bound: one per submitted row, its kind and
    name taken from the data (so a tampered kind is read as free entry)."""

    def __init__(
        self,
        *args: Any,
        rows: Sequence[FieldRow] = (),
        metadata_objects: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        self.rows = list(rows)
        self.metadata_objects = set(metadata_objects)
        if kwargs.get("data") is None:
            kwargs.setdefault(
                "initial",
                [
                    {
                        "kind": row.kind,
                        "name": row.name,
                        "on": row.on,
                        "export_as": row.export_as,
                        "order": row.order,
                    }
                    for row in self.rows
                ],
            )
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        if index is not None and index < len(self.rows) and not self.is_bound:
            kwargs["row"] = self.rows[index]
        else:
            prefix = self.add_prefix(index if index is not None else "__prefix__")
            kind = self.data.get(f"{prefix}-kind") if self.is_bound else "free"
            name = (self.data.get(f"{prefix}-name") or "").strip() if self.is_bound else ""
            kwargs["row"] = FieldRow(
                name=name,
                kind=kind if kind in ("standard", "metadata", "free") else "free",
                is_object=name in self.metadata_objects,
            )
        return kwargs


FieldRowFormSet = cast(
    "type[BaseFieldRowFormSet]",
    forms.formset_factory(
        FieldRowForm,
        formset=BaseFieldRowFormSet,
        extra=0,
        max_num=MAX_ROWS,
        absolute_max=MAX_ROWS,
        validate_max=True,
    ),
)


class ExportForm(forms.Form):
    connection = forms.ChoiceField(required=False, label="Connection")
    several_connections = forms.MultipleChoiceField(
        required=False,
        label="Several connections",
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Tick two or more for one file of those connections: one Auth0 job each, joined "
            f"with a “{CONNECTION_COLUMN}” column naming each row's connection. A limit then "
            "applies to each connection."
        ),
    )
    format = forms.ChoiceField(
        choices=formats.CHOICES,
        initial=formats.DEFAULT.name,
        widget=forms.RadioSelect,
        label="Format",
    )
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        label="Limit",
        help_text="Leave empty to export every user.",
    )
    sample = forms.BooleanField(required=False, label=f"Sample of {SAMPLE_SIZE} users")
    source_query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    name = forms.CharField(
        required=False,
        max_length=NAME_MAX_LENGTH,
        label="Name (optional)",
        strip=True,
        help_text="Shown in the history and on the export's page, e.g. “Weekly CRM sync”.",
    )
    match_query = forms.CharField(
        required=False,
        max_length=4000,
        label="Only the users this search matches",
        widget=forms.TextInput(
            attrs={
                "class": "mono",
                "spellcheck": "false",
                "autocomplete": "off",
                "aria-describedby": "id_match_query_help",
                "placeholder": "e.g. email_verified:true AND logins_count:[5 TO *]",
            }
        ),
        help_text=(
            "An Auth0 search query (Lucene), e.g. email_verified:true. Leave it empty to "
            "export every user. Auth0 builds the whole file; a worker keeps exactly the users "
            "the query matches, however many there are."
        ),
    )
    template_title = forms.CharField(
        required=False, max_length=TEMPLATE_NAME_MAX_LENGTH, label="Template name", strip=True
    )
    # A filtered export's row conditions, carried by its re-run or a template (JSON).
    conditions = forms.CharField(required=False, max_length=10_000, widget=forms.HiddenInput)
    keep_conditions = forms.BooleanField(
        required=False, label="Keep only the rows that meet these conditions"
    )

    def __init__(
        self,
        *args: Any,
        connections: Iterable[dict[str, str]] = (),
        rows: Sequence[FieldRow] = (),
        metadata_objects: Iterable[str] = (),
        metadata_leaves: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.connections = {c["id"]: c for c in connections}
        self.fields["connection"].choices = [("", "All connections")] + [  # type: ignore[attr-defined]
            (c["id"], f"{c['name']} ({c['strategy']})" if c.get("strategy") else c["name"])
            for c in self.connections.values()
        ]
        self.fields["several_connections"].choices = [  # type: ignore[attr-defined]
            (c["id"], c["name"]) for c in self.connections.values()
        ]
        self.metadata_objects = set(metadata_objects)
        self.metadata_leaves = set(metadata_leaves)
        self.field_rows = FieldRowFormSet(
            data=self.data if self.is_bound else None,
            prefix="r",
            rows=rows,
            metadata_objects=self.metadata_objects,
        )

    def field_groups(self) -> list[tuple[str, str, list[FieldRowForm]]]:
        """The picker's rows by group, in page order (the template's and the summary's)."""
        return grouped(self.field_rows.forms)

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return valid and self.field_rows.is_valid()

    # --- Validation ----------------------------------------------------------------------

    def clean_match_query(self) -> str:
        value: str = (self.cleaned_data.get("match_query") or "").strip()
        if value:
            reason = matching.problem(value)
            if reason:
                raise forms.ValidationError(
                    f"This query cannot be exported exactly: {reason}", code="unanswerable"
                )
        return value

    def clean_connection(self) -> str:
        value: str = self.cleaned_data.get("connection") or ""
        return value

    def clean_conditions(self) -> list[dict[str, str]]:
        raw = self.cleaned_data.get("conditions") or ""
        if not raw:
            return []
        try:
            items = json.loads(raw)
        except ValueError:
            items = None
        keys = {"column", "operator", "value"}
        if not isinstance(items, list) or not all(
            isinstance(item, dict)
            and set(item) == keys
            and all(isinstance(v, str) for v in item.values())
            for item in items
        ):
            raise forms.ValidationError(
                "The row conditions could not be read; open the builder again from the "
                "filtered export's Re-run button."
            )
        return [{key: item[key] for key in ("column", "operator", "value")} for item in items]

    def described_conditions(self) -> list[str]:
        """The carried conditions in words, for the page."""
        raw = self.data.get("conditions") if self.is_bound else self.initial.get("conditions")
        try:
            items = json.loads(raw or "[]")
            return [derive.describe(derive.Condition(**item)) for item in items]
        except (ValueError, TypeError):
            return []

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("sample"):
            if cleaned.get("limit") not in (None, SAMPLE_SIZE):
                self.add_error(
                    "limit",
                    f"A limit of {cleaned['limit']} and a sample of {SAMPLE_SIZE} users disagree: "
                    f"clear the limit, or untick “Sample of {SAMPLE_SIZE} users”.",
                )
            cleaned["limit"] = SAMPLE_SIZE
        connection_id = cleaned.get("connection") or ""
        several = list(cleaned.get("several_connections") or [])
        if connection_id and several and connection_id not in several:
            several.insert(0, connection_id)
        if len(several) == 1:
            connection_id, several = several[0], []
        elif several:
            connection_id = ""
        cleaned["connections"] = [
            {"id": key, "name": self.connections[key]["name"]} for key in several
        ]
        cleaned["connection_id"] = connection_id
        cleaned["connection_name"] = (
            self.connections[connection_id]["name"] if connection_id in self.connections else ""
        )
        if not self.field_rows.is_valid():
            for message in self.field_rows.non_form_errors():
                self.add_error(None, message)
            cleaned["fields"] = []
            return cleaned

        picked: list[tuple[int, int, dict[str, str]]] = []
        for index, row_form in enumerate(self.field_rows.forms):
            data = row_form.cleaned_data
            name = (data.get("name") or "").strip()
            # The Include box decides, on typed-in rows too (the page ticks it as you type).
            if not data.get("on"):
                continue
            problem = field_problem(name)
            if problem:
                row_form.add_error("name", problem)
                continue
            export_as = (data.get("export_as") or "").strip()
            title = export_as or name
            if title.startswith(FORMULA_PREFIXES):
                row_form.add_error(
                    "export_as",
                    f"“{title}” starts with {_prefix_name(title)}: a spreadsheet "
                    "would run the column title as a formula. Start it with a letter or digit.",
                )
                continue
            order = data.get("order") or MAX_ROWS + index
            item = {"name": name}
            if export_as:
                item["export_as"] = export_as
            picked.append((order, index, item))
        picked.sort(key=lambda entry: (entry[0], entry[1]))
        fields = [item for _, _, item in picked]

        titles: dict[str, str] = {}
        for _, index, item in picked:
            title = item.get("export_as") or item["name"]
            if cleaned["connections"] and title == CONNECTION_COLUMN:
                self.field_rows.forms[index].add_error(
                    "export_as",
                    f"An export of several connections adds its own “{CONNECTION_COLUMN}” "
                    "column; give this field another title.",
                )
            elif title in titles:
                self.field_rows.forms[index].add_error(
                    "export_as",
                    f"Two fields would both be titled “{title}”; give one another title.",
                )
            titles[title] = item["name"]

        if cleaned.get("format"):
            fmt = formats.get(cleaned["format"])
            objects = self.metadata_objects
            if not fmt.holds_objects:
                # Paths the sample did not see are asked of the tenant, so an array of objects
                # is refused here whatever the query.
                known = self.metadata_objects | self.metadata_leaves
                objects = objects | objects_among([item["name"] for item in fields], known)
            for _, index, item in picked:
                problem = fmt.object_problem(item["name"], objects)
                if problem:
                    self.field_rows.forms[index].add_error("name", problem)
            too_many = fmt.too_many_fields(len(fields))
            if too_many:
                self.add_error(None, too_many)
        if not fields and not self.errors and self.field_rows.is_valid():
            self.add_error(None, "Pick at least one field.")
        cleaned["fields"] = fields
        if not cleaned.get("keep_conditions"):
            cleaned["conditions"] = []
        elif fields and cleaned.get("conditions"):
            conditions = [derive.Condition(**c) for c in cleaned["conditions"]]
            columns = [item.get("export_as") or item["name"] for item in fields]
            problems = derive.validate_conditions(conditions, columns)
            if problems:
                self.add_error(
                    "keep_conditions",
                    " ".join(problems) + " Pick that field again with the same title, or "
                    "untick the conditions.",
                )
        if cleaned.get("match_query"):
            self._clean_exact(cleaned)
        return cleaned

    def _clean_exact(self, cleaned: dict[str, Any]) -> None:
        if cleaned.get("limit"):
            what = "A sample" if cleaned.get("sample") else "A limit"
            self.add_error(
                "limit",
                f"{what} cannot go with a search query: Auth0 would cut the users it reads, "
                "not the matches. Leave it empty.",
            )
        try:
            fmt = formats.get(cleaned.get("format") or formats.DEFAULT.name)
            exact.plan_job(cleaned["match_query"], cleaned["fields"], fmt)
        except matching.Unanswerable:
            pass  # reported at the field by clean_match_query
        except ValueError as exc:
            self.add_error("match_query", str(exc))

    def error_summary(self) -> list[tuple[str, str]]:
        """Every error of the page as (id of the control to fix, message), in page order, for
        the summary at its top (GOV.UK's error summary); the form's own errors point at the
        fields' list."""
        if not self.is_bound or (not self.errors and self.field_rows.is_valid()):
            return []
        found = [(FIELDS_ANCHOR, str(message)) for message in self.non_field_errors()]
        found += [(FIELDS_ANCHOR, str(message)) for message in self.field_rows.non_form_errors()]
        for name, field in self.fields.items():
            label = field.label or name
            target = _control(self[name])
            if name == "conditions":
                label, target = "Row conditions", "conditions-error"
            found += [(target, f"{label}: {m}") for m in self.errors.get(name, [])]
        for row in (row for _, _, rows in self.field_groups() for row in rows):
            what = (row["name"].value() or "").strip() or "A field"
            for name in ("name", "export_as", "order"):
                # A listed field's name is hidden: its Include box is what to fix.
                control = row["on"] if name == "name" and row.row.kind != "free" else row[name]
                found += [(control.auto_id, f"{what}: {m}") for m in row.errors.get(name, [])]
        return found

    def spec(self) -> ExportSpec:
        """The export spec: what exports.tasks.create_export stores."""
        return ExportSpec.from_data(self.cleaned_data)


def _control(field: forms.BoundField) -> str:
    """The id of the control that takes the focus for a field (a radio set's first button)."""
    if isinstance(field.field.widget, forms.RadioSelect):
        return f"{field.auto_id}_0"
    return str(field.auto_id)


def _prefix_name(title: str) -> str:
    first = title[:1]
    return {"\t": "a tab", "\r": "a carriage return"}.get(first, f"“{first}”")


class RenameForm(forms.Form):
    name = forms.CharField(
        required=False,
        max_length=NAME_MAX_LENGTH,
        strip=True,
        label="Name",
        help_text="Leave empty to remove the name.",
    )


class TemplateNameForm(forms.Form):
    name = forms.CharField(
        max_length=TEMPLATE_NAME_MAX_LENGTH,
        strip=True,
        label="Template name",
        widget=forms.TextInput(attrs={"id": "template-name"}),
    )


CONDITION_ROWS = 5


class ConditionForm(forms.Form):
    """One condition on a ready export's columns; a row without a column is left out."""

    column = forms.ChoiceField(required=False, label="Column")
    operator = forms.ChoiceField(
        required=False, choices=list(derive.OPERATORS.items()), label="Condition"
    )
    value = forms.CharField(required=False, max_length=500, label="Value", strip=False)

    def __init__(
        self, *args: Any, columns: Sequence[str], kinds: dict[str, str] | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.columns = list(columns)
        self.kinds = kinds
        self.fields["column"].choices = [("", "—")] + [(c, c) for c in self.columns]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        column = cleaned.get("column") or ""
        cleaned["condition"] = None
        if column:
            condition = derive.Condition(
                column=column,
                operator=cleaned.get("operator") or "equals",
                value=cleaned.get("value") or "",
            )
            problems = derive.validate_conditions([condition], self.columns, self.kinds)
            if problems:
                self.add_error("value", " ".join(problems))
            else:
                cleaned["condition"] = condition
        return cleaned


class BaseConditionFormSet(_FormSet[ConditionForm]):
    def clean(self) -> None:
        if any(form.errors for form in self.forms):
            return
        if not any(form.cleaned_data.get("condition") for form in self.forms):
            raise forms.ValidationError("Set at least one condition.")


ConditionFormSet = forms.formset_factory(
    ConditionForm,
    formset=BaseConditionFormSet,
    extra=CONDITION_ROWS,
    max_num=CONDITION_ROWS,
    absolute_max=CONDITION_ROWS,
    validate_max=True,
)


class DeriveForm:
    """Row conditions on a ready export's columns, joined with AND (a formset of rows)."""

    def __init__(
        self,
        data: Any = None,
        *,
        columns: Sequence[str],
        kinds: dict[str, str] | None = None,
    ) -> None:
        self.formset = ConditionFormSet(
            data, prefix="c", form_kwargs={"columns": columns, "kinds": kinds}
        )

    def is_valid(self) -> bool:
        return self.formset.is_valid()

    def conditions(self) -> list[dict[str, str]]:
        return [
            {"column": c.column, "operator": c.operator, "value": c.value}
            for form in self.formset.forms
            if (c := form.cleaned_data.get("condition")) is not None
        ]

    def all_messages(self) -> list[str]:
        messages = [str(message) for message in self.formset.non_form_errors()]
        for form in self.formset.forms:
            messages.extend(str(m) for errors in form.errors.values() for m in errors)
        return messages


HISTORY_SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "name": ("Name (A to Z)", ("name", "-created_at", "-id")),
    "status": ("Status", ("status", "-created_at", "-id")),
    "rows": ("Most rows", ("-row_count", "-created_at", "-id")),
    "size": ("Largest file", ("-compressed_size", "-created_at", "-id")),
}


class HistoryFilterForm(forms.Form):
    """The history page's filters: a GET form, so a filtered, sorted page is a shareable URL."""

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Name, query or #id contains",
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    status = forms.ChoiceField(required=False, label="Status")
    format = forms.ChoiceField(
        required=False, label="Format", choices=[("", "Any format"), *formats.CHOICES]
    )
    requester = forms.ChoiceField(required=False, label="Asked by")
    date_from = forms.DateField(required=False, label="From (UTC)", widget=DateInput)
    date_to = forms.DateField(required=False, label="To (UTC)", widget=DateInput)
    sort = forms.ChoiceField(
        required=False,
        label="Sort by",
        choices=[(key, label) for key, (label, _) in HISTORY_SORTS.items()],
    )

    def __init__(self, *args: Any, requesters: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        status = self.fields["status"]
        assert isinstance(status, forms.ChoiceField)
        status.choices = [("", "Any status"), ("active", "In progress"), *Status.choices]
        requester = self.fields["requester"]
        assert isinstance(requester, forms.ChoiceField)
        requester.choices = [("", "Anyone"), *((label, label) for label in requesters)]
        if len(requesters) <= 1:
            # Someone who sees only their own exports has nobody else to pick.
            requester.widget = forms.HiddenInput()

    def clean_q(self) -> str:
        return str(self.cleaned_data["q"]).strip()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        check_date_range(self, cleaned)
        return cleaned

    def filtered(self) -> bool:
        """Whether any filter (not the sort) narrows the list."""
        if not self.is_bound or not self.is_valid():
            return False
        return any(
            self.cleaned_data.get(name)
            for name in ("q", "status", "format", "requester", "date_from", "date_to")
        )

    def apply(self, exports: QuerySet[Any]) -> QuerySet[Any]:
        if self.is_bound and not self.is_valid():
            return exports.none()  # the page asks to fix the filters first
        data = self.cleaned_data if self.is_bound else {}
        text = data.get("q") or ""
        if text:
            match = (
                Q(name__icontains=text)
                | Q(source_query__icontains=text)
                | Q(match_query__icontains=text)
                | Q(connection_name__icontains=text)
                # A multi-connection export's connections (their ids and names, as JSON text).
                | Q(connections__icontains=text)
            )
            number = whole_number(text.lstrip("#"))
            if number is not None:
                match |= Q(pk=number)
            exports = exports.filter(match)
        status = data.get("status") or ""
        if status == "active":
            exports = exports.filter(status__in=ACTIVE_STATUSES)
        elif status:
            exports = exports.filter(status=status)
        if data.get("format"):
            exports = exports.filter(format=data["format"])
        if data.get("requester"):
            exports = exports.filter(requested_by_label=data["requester"])
        if data.get("date_from"):
            exports = exports.filter(created_at__date__gte=data["date_from"])
        if data.get("date_to"):
            exports = exports.filter(created_at__date__lte=data["date_to"])
        _, ordering = HISTORY_SORTS.get(data.get("sort") or "newest", HISTORY_SORTS["newest"])
        return exports.order_by(*ordering)
