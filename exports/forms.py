"""The export builder: a POST form whose cleaned_data becomes the stored export spec."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms

from . import derive
from .fields import (
    CSV_MAX_FIELDS,
    CSV_WHOLE_VALUES,
    EXPORTABLE_FIELDS,
    MAX_NAME_LENGTH,
    field_problem,
    is_whole_object,
    leaf_example,
)
from .models import ExportSpec, Format

MAX_ROWS = 300
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
        FieldRow(name, "standard", is_object=name in CSV_WHOLE_VALUES) for name in EXPORTABLE_FIELDS
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


class ExportForm(forms.Form):
    connection = forms.ChoiceField(required=False, label="Connection")
    format = forms.ChoiceField(
        choices=Format.choices, initial=Format.CSV, widget=forms.RadioSelect, label="Format"
    )
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_LIMIT,
        label="Limit",
        help_text="Leave empty to export every user.",
    )
    sample = forms.BooleanField(required=False, label="Sample of 10 users")
    source_query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)
    template_title = forms.CharField(
        required=False, max_length=120, label="Template name", strip=True
    )

    def __init__(
        self,
        *args: Any,
        connections: Iterable[dict[str, str]] = (),
        rows: Sequence[FieldRow] = (),
        metadata_objects: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.connections = {c["id"]: c for c in connections}
        self.fields["connection"].choices = [("", "All connections")] + [  # type: ignore[attr-defined]
            (c["id"], f"{c['name']} ({c['strategy']})" if c.get("strategy") else c["name"])
            for c in self.connections.values()
        ]
        self.metadata_objects = set(metadata_objects)
        if self.is_bound:
            rows = self._rows_from_data()
        self.rows = list(rows)
        for index, row in enumerate(self.rows):
            self._add_row_fields(index, row)

    # --- The picker rows ---------------------------------------------------------------

    def _rows_from_data(self) -> list[FieldRow]:
        rows = []
        for index in range(MAX_ROWS):
            prefix = f"r{index}-"
            if prefix + "kind" not in self.data:
                break
            kind = self.data.get(prefix + "kind")
            rows.append(
                FieldRow(
                    name=(self.data.get(prefix + "name") or "").strip(),
                    kind=kind if kind in ("standard", "metadata", "free") else "free",
                    is_object=(self.data.get(prefix + "name") or "") in self.metadata_objects,
                )
            )
        return rows

    def _add_row_fields(self, index: int, row: FieldRow) -> None:
        prefix = f"r{index}-"
        self.fields[prefix + "kind"] = forms.CharField(
            required=False, initial=row.kind, widget=forms.HiddenInput
        )
        name_widget: forms.Widget
        if row.kind == "free":
            name_widget = forms.TextInput(
                attrs={"placeholder": "e.g. user_metadata.plan", "class": "field-name"}
            )
        else:
            name_widget = forms.HiddenInput(attrs={"class": "field-name"})
        self.fields[prefix + "name"] = forms.CharField(
            required=False,
            initial=row.name,
            max_length=MAX_NAME_LENGTH,
            widget=name_widget,
            label="Field",
        )
        self.fields[prefix + "on"] = forms.BooleanField(
            required=False,
            initial=row.on,
            label=row.name or "Include",
            widget=forms.CheckboxInput(
                attrs={"class": "field-on", "data-object": "true" if row.is_object else "false"}
            ),
        )
        self.fields[prefix + "as"] = forms.CharField(
            required=False,
            initial=row.export_as,
            max_length=MAX_NAME_LENGTH,
            label="Column title",
            widget=forms.TextInput(attrs={"placeholder": "column title", "class": "field-as"}),
        )
        self.fields[prefix + "order"] = forms.IntegerField(
            required=False,
            initial=row.order,
            min_value=1,
            max_value=MAX_ROWS,
            label="Order",
            widget=forms.NumberInput(attrs={"class": "field-order", "size": 3}),
        )

    def row_fields(self) -> list[dict[str, Any]]:
        """Bound fields per row, for the template."""
        return [
            {
                "row": row,
                "kind": self[f"r{i}-kind"],
                "on": self[f"r{i}-on"],
                "name": self[f"r{i}-name"],
                "as": self[f"r{i}-as"],
                "order": self[f"r{i}-order"],
            }
            for i, row in enumerate(self.rows)
        ]

    # --- Validation ----------------------------------------------------------------------

    def clean_connection(self) -> str:
        value: str = self.cleaned_data.get("connection") or ""
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("sample"):
            cleaned["limit"] = 10
        connection_id = cleaned.get("connection") or ""
        cleaned["connection_id"] = connection_id
        cleaned["connection_name"] = (
            self.connections[connection_id]["name"] if connection_id in self.connections else ""
        )

        picked: list[tuple[int, int, dict[str, str]]] = []
        for index, row in enumerate(self.rows):
            prefix = f"r{index}-"
            name = (cleaned.get(prefix + "name") or "").strip()
            on = bool(cleaned.get(prefix + "on")) or (row.kind == "free" and bool(name))
            if not on:
                continue
            problem = field_problem(name)
            if problem:
                self.add_error(prefix + "name", problem)
                continue
            raw_title = cleaned.get(prefix + "as") or ""
            export_as = raw_title.strip()
            title = export_as or name
            if raw_title.startswith(FORMULA_PREFIXES) or title.startswith(FORMULA_PREFIXES):
                self.add_error(
                    prefix + "as",
                    f"“{title}” starts with {_prefix_name(raw_title or title)}: a spreadsheet "
                    "would run the column title as a formula. Start it with a letter or digit.",
                )
                continue
            order = cleaned.get(prefix + "order") or MAX_ROWS + index
            item = {"name": name}
            if export_as:
                item["export_as"] = export_as
            picked.append((order, index, item))
        picked.sort(key=lambda entry: (entry[0], entry[1]))
        fields = [item for _, _, item in picked]

        titles: dict[str, str] = {}
        for _, index, item in picked:
            title = item.get("export_as") or item["name"]
            if title in titles:
                self.add_error(
                    f"r{index}-as",
                    f"Two fields would both be titled “{title}”; give one another title.",
                )
            titles[title] = item["name"]

        if cleaned.get("format") == Format.CSV:
            for _, index, item in picked:
                if is_whole_object(item["name"], self.metadata_objects):
                    self.add_error(
                        f"r{index}-name",
                        f"CSV cannot hold the whole object “{item['name']}”: pick its leaf "
                        f"paths (e.g. {leaf_example(item['name'])}) or choose NDJSON.",
                    )
            if len(fields) > CSV_MAX_FIELDS:
                self.add_error(
                    None,
                    f"CSV exports take at most {CSV_MAX_FIELDS} fields; you picked "
                    f"{len(fields)}. Remove {len(fields) - CSV_MAX_FIELDS} or choose NDJSON.",
                )
        if not fields and not self.errors:
            self.add_error(None, "Pick at least one field.")
        cleaned["fields"] = fields
        return cleaned

    def spec(self) -> ExportSpec:
        """The export spec: what exports.tasks.create_export stores."""
        return ExportSpec.from_data(self.cleaned_data)


def _prefix_name(title: str) -> str:
    first = title[:1]
    return {"\t": "a tab", "\r": "a carriage return"}.get(first, f"“{first}”")


class TemplateNameForm(forms.Form):
    name = forms.CharField(max_length=120, strip=True, label="Template name")


CONDITION_ROWS = 5


class DeriveForm(forms.Form):
    """Row conditions on a ready export's columns, joined with AND."""

    def __init__(
        self,
        *args: Any,
        columns: Sequence[str],
        kinds: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.columns = list(columns)
        self.kinds = kinds
        column_choices = [("", "—")] + [(c, c) for c in self.columns]
        for index in range(CONDITION_ROWS):
            self.fields[f"c{index}-column"] = forms.ChoiceField(
                required=False, choices=column_choices, label="Column"
            )
            self.fields[f"c{index}-operator"] = forms.ChoiceField(
                required=False, choices=list(derive.OPERATORS.items()), label="Condition"
            )
            self.fields[f"c{index}-value"] = forms.CharField(
                required=False, max_length=500, label="Value", strip=False
            )

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "column": self[f"c{i}-column"],
                "operator": self[f"c{i}-operator"],
                "value": self[f"c{i}-value"],
            }
            for i in range(CONDITION_ROWS)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        conditions: list[derive.Condition] = []
        for index in range(CONDITION_ROWS):
            column = cleaned.get(f"c{index}-column") or ""
            if not column:
                continue
            condition = derive.Condition(
                column=column,
                operator=cleaned.get(f"c{index}-operator") or "equals",
                value=cleaned.get(f"c{index}-value") or "",
            )
            problems = derive.validate_conditions([condition], self.columns, self.kinds)
            if problems:
                self.add_error(f"c{index}-value", " ".join(problems))
                continue
            conditions.append(condition)
        if not conditions and not self.errors:
            self.add_error(None, "Set at least one condition.")
        cleaned["conditions"] = [
            {"column": c.column, "operator": c.operator, "value": c.value} for c in conditions
        ]
        return cleaned

    def conditions(self) -> list[dict[str, str]]:
        return list(self.cleaned_data["conditions"])

    def all_messages(self) -> list[str]:
        return [str(message) for errors in self.errors.values() for message in errors]
