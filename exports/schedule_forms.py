"""The schedule form: what to export (a template or a saved search), how much of it (every
matching user, or only those created or changed since the last successful run) and when."""

from __future__ import annotations

from typing import Any, cast
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth.models import User
from django.http import QueryDict

from users_admin.forms import ConditionFormSet, SearchForm, search_query
from users_admin.models import SavedSearch
from users_admin.rows import ROW_PREFIX, with_management_form

from . import formats, matching
from .fields import DEFAULT_FIELDS
from .models import ExportSpec, ExportTemplate
from .schedule_models import WEEKDAYS, ExportSchedule, Frequency, Scope

# The fields a saved search's scheduled export holds (the builder's defaults).
SEARCH_FIELDS = [*DEFAULT_FIELDS, {"name": "updated_at"}]
ZONES = sorted(available_timezones() - {"localtime", "Factory"})


def saved_search_query(saved: SavedSearch) -> str:
    """The Lucene query a saved search runs (ValueError with the reason when it has none)."""
    data = with_management_form(QueryDict(saved.query_string))
    data = data.copy()
    data.setdefault("mode", "advanced" if data.get("q") else "builder")
    query, errors = search_query(SearchForm(data), ConditionFormSet(data, prefix=ROW_PREFIX))
    if query is None:
        raise ValueError("; ".join(errors) or "the saved search holds no query")
    return query


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Each run's export is named after it.")
    source = forms.ChoiceField(
        label="What to export",
        help_text=(
            "A template runs with its own fields and format; a saved search exports its "
            "matching users with the default fields, as NDJSON."
        ),
    )
    scope = forms.ChoiceField(label="Which users", choices=Scope.choices, initial=Scope.FULL)
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.WEEKLY)
    weekday = forms.TypedChoiceField(
        label="Day of the week (weekly)", choices=WEEKDAYS, coerce=int, initial=0
    )
    day_of_month = forms.IntegerField(
        label="Day of the month (monthly)",
        min_value=1,
        max_value=31,
        initial=1,
        help_text="29, 30 or 31 run on the last day of shorter months.",
    )
    at_time = forms.TimeField(
        label="Time",
        initial="07:00",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    zone = forms.ChoiceField(label="Time zone", initial="UTC")

    def __init__(
        self, *args: Any, templates: list[ExportTemplate], searches: list[SavedSearch], **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.templates = {f"template:{t.pk}": t for t in templates}
        self.searches = {f"search:{s.pk}": s for s in searches}
        source = cast(forms.ChoiceField, self.fields["source"])
        source.choices = [
            ("", "Choose a template or a saved search"),
            ("Templates", [(key, t.name) for key, t in self.templates.items()]),
            ("Saved searches", [(key, s.name) for key, s in self.searches.items()]),
        ]
        cast(forms.ChoiceField, self.fields["zone"]).choices = [(z, z) for z in ZONES]
        if not self.is_bound:
            self.fields["name"].widget.attrs["autofocus"] = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key = cleaned.get("source")
        if not key:
            return cleaned
        if key in self.templates:
            template = self.templates[key]
            spec = ExportSpec.from_data(template.spec)
            label = f"Template “{template.name}”"
        else:
            saved = self.searches[key]
            try:
                query = saved_search_query(saved)
            except ValueError as exc:
                self.add_error("source", f"This saved search cannot be exported: {exc}")
                return cleaned
            spec = ExportSpec(
                format=formats.NDJSON.name, fields=list(SEARCH_FIELDS), match_query=query
            )
            label = f"Saved search “{saved.name}”"
        if spec.match_query:
            try:
                spec.exact_plan()
            except (matching.Unanswerable, ValueError) as exc:
                self.add_error("source", f"Its query cannot be run: {exc}")
                return cleaned
        cleaned["spec"] = spec.as_data()
        cleaned["source_label"] = label
        return cleaned

    def schedule(self, owner: User) -> ExportSchedule:
        data = self.cleaned_data
        return ExportSchedule(
            name=data["name"],
            owner=owner,
            source_label=data["source_label"],
            spec=data["spec"],
            scope=data["scope"],
            frequency=data["frequency"],
            weekday=data["weekday"],
            day_of_month=data["day_of_month"],
            at_time=data["at_time"],
            zone=data["zone"],
        )
