"""Running a user search for the search page: the shared short-lived cache in front of Auth0."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import caches
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from management_api import SearchPage, cache_key, search_users

from .converters import path_segment
from .forms import DATE_COLUMNS


@dataclass(frozen=True)
class SearchResult:
    page: SearchPage
    fetched_at: float  # epoch seconds when Auth0 answered
    from_cache: bool

    @property
    def age_seconds(self) -> int:
        return max(0, int(time.time() - self.fetched_at))


def requested_fields(columns: Sequence[str]) -> list[str]:
    """What to ask Auth0 for: the shown columns, plus user_id for the detail link."""
    fields = ["user_id"]
    fields.extend(c for c in columns if c != "user_id")
    return fields


def run_search(
    q: str,
    *,
    page: int,
    per_page: int,
    sort: str | None,
    fields: Sequence[str],
    fresh: bool = False,
) -> SearchResult:
    """Search, answered from the shared cache when the same search ran moments ago.

    Search is eventually consistent anyway, so a result up to SEARCH_CACHE_SECONDS old
    loses nothing and spares the tenant's rate limit. `fresh` (the page's Refresh) asks
    Auth0 again and caches that answer for the next agent.
    """
    ttl = settings.SEARCH_CACHE_SECONDS
    key = cache_key("search", q, page, per_page, sort, list(fields))
    cache = caches["search"]  # Redis, or this process's memory: never a file (settings)
    if ttl > 0 and not fresh:
        hit = cache.get(key)
        if hit is not None:
            return SearchResult(page=hit["page"], fetched_at=hit["fetched_at"], from_cache=True)
    result = search_users(q, page=page, per_page=per_page, sort=sort, fields=fields)
    fetched_at = time.time()
    if ttl > 0:
        cache.set(key, {"page": result, "fetched_at": fetched_at}, ttl)
    return SearchResult(page=result, fetched_at=fetched_at, from_cache=False)


_ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _text(value: Any) -> str:
    # The stdlib escape (what Django's wraps) without the lazy-string wrapper's cost per call.
    return escape(str(value))


# Columns whose value an agent pastes elsewhere: the page adds a copy button to them.
COPYABLE_COLUMNS = frozenset({"email", "user_id"})


def _cell(user: dict[str, Any], column: str, label: str) -> str:
    value = user.get(column)
    td = f'<td data-label="{_text(label)}"'
    if column == "identities":
        identities = value if isinstance(value, list) else []
        names = ", ".join(str(i.get("connection", "")) for i in identities if isinstance(i, dict))
        return f"{td}>{_text(names)}</td>"
    if column in DATE_COLUMNS and isinstance(value, str):
        # Auth0 writes 2023-01-25T19:00:28.395Z: minutes in UTC are a slice of it.
        shown = f"{value[:10]} {value[11:16]}" if _ISO_UTC.match(value) else value
        return f'{td}><time datetime="{_text(value)}">{_text(shown)}</time></td>'
    if column == "blocked" and value is None:
        # Auth0 sends `blocked` only for users an admin blocked.
        value = False
    if value is True or value is False:
        return f"{td}>yes</td>" if value else f"{td}>no</td>"
    if value is None:
        return f'{td}><span class="muted">&ndash;</span></td>'
    if column == "logins_count":
        return f'{td} class="num">{_text(value)}</td>'
    if column in COPYABLE_COLUMNS:
        return f'{td}><span class="copyable" data-copy="{_text(value)}">{_text(value)}</span></td>'
    return f"{td}>{_text(value)}</td>"


def shown_part(user: Any, columns: Sequence[str]) -> Any:
    """What the results table reads of a user (`result_rows`): its id and the columns, of its
    identities their connections alone. Masked (users_admin.pii) is then only what is shown,
    and a reveal is looked up only for a user with a masked value on screen."""
    if not isinstance(user, dict):
        return user
    part = {key: user[key] for key in ("user_id", *columns) if key in user}
    identities = part.get("identities")
    if isinstance(identities, list):
        part["identities"] = [
            {"connection": identity.get("connection", "")}
            if isinstance(identity, dict)
            else identity
            for identity in identities
        ]
    return part


def result_rows(
    users: list[dict[str, Any]],
    columns: Sequence[str],
    labels: dict[str, str],
    back: str = "",
) -> list[SafeString]:
    """The results table's rows as HTML, every value escaped here.

    A 50-row page is a few hundred cells; a template tag per cell (and a reverse() per row)
    cost more than the rest of the page view together, so rows are built in one pass.
    """
    # reverse() once; each row only appends its quoted id the way reverse() would.
    prefix = reverse("users_admin:detail", args=["-"])[: -len("-/")]
    # The detail page offers "Back to results" to this very search.
    suffix = "?" + urlencode({"from": back}) if back else ""
    rows = []
    for user in users:
        user_id = str(user.get("user_id", ""))
        url = prefix + path_segment(user_id) + "/" + suffix
        cells = "".join(_cell(user, column, labels.get(column, column)) for column in columns)
        rows.append(
            mark_safe(  # noqa: S308 (every value above went through escape())
                f'<tr>{cells}<td class="details-link"><a href="{escape(url)}">Details'
                f'<span class="visually-hidden"> of {_text(user_id)}</span></a></td></tr>'
            )
        )
    return rows
