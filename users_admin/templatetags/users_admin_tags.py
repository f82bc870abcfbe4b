"""Display helpers for Auth0 user objects (values stay strings until the template escapes them)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django import template
from django.http import QueryDict
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from users_admin.access import as_dict
from users_admin.logtypes import describe, method_summary
from users_admin.timeline import Entry, entries_html, shown_when

register = template.Library()


@register.filter
def auth0_date(value: Any) -> dt.datetime | Any:
    """Auth0's ISO-8601 strings as datetimes, so `|date` can format them."""
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        return parsed or value
    return value


@register.filter
def pretty_json(value: Any) -> str:
    if value is None or value == "":
        return "{}"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def label(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key)


@register.filter
def label_action(mapping: dict[str, Any], key: str) -> Any:
    """The entry `key` of a mapping, or None (the user page's fix button of a problem)."""
    return as_dict(mapping).get(key)


@register.filter
def mfa_method(method: Any) -> str:
    """An MFA method in words, with its masked phone or email, or its name."""
    return method_summary(method) if isinstance(method, dict) else ""


@register.filter
def log_words(event_type: Any) -> str:
    return describe(str(event_type or ""))


@register.simple_tag(takes_context=True)
def back_to_results(context: dict[str, Any]) -> str:
    """The search a user page was opened from (`?from=`), as a link back; only ever the
    tenant's search page with a query."""
    request = context.get("request")
    search = request.GET.get("from", "") if request is not None else ""
    if not search or "\n" in search or "\r" in search:
        return ""
    return reverse("users_admin:search") + "?" + QueryDict(search).urlencode()


@register.filter
def auth0_when(value: Any) -> str:
    """An Auth0 date as the user page shows it, in one call (it shows up to a dozen, and an
    include per date cost more than the rest of its profile): `<time>` in UTC, the original value
    in `datetime`; an en dash without a value."""
    when = auth0_date(value)
    if not when:
        return "\u2013"
    return format_html('<time datetime="{}">{} UTC</time>', value, shown_when(when))


@register.filter
def timeline_entries(entries: list[Entry]) -> str:
    """The timeline's <li> entries (built in Python: see users_admin.timeline.entries_html)."""
    return entries_html(entries)


# Where an address or a user id may break across lines: after "@" and "|", before a dot.
_BREAKS = re.compile(r"(?<=[@|])|(?=\.)")


@register.filter
def breakable(value: Any) -> str:
    """An email address or user id that a narrow column breaks between its parts (after "@"
    and "|", before a dot), not letter by letter."""
    return mark_safe("<wbr>".join(escape(part) for part in _BREAKS.split(str(value))))  # noqa: S308 (escaped)


@register.filter
def compact_json(value: Any) -> str:
    """A small JSON value on one line (a bulk run's before/after)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def duration(seconds: Any) -> str:
    """45 -> "45 seconds", 600 -> "10 minutes", 9000 -> "2.5 hours"."""
    value = float(seconds or 0)
    if value < 120:
        return f"{value:.0f} second{'s' * (round(value) != 1)}"
    if value < 7200:
        return f"{value / 60:.0f} minutes"
    return f"{value / 3600:.1f} hours".replace(".0 ", " ")
