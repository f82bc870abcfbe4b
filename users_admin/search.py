"""Running a user search for the search page: the shared short-lived cache in front of Auth0."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from management_api import SearchPage, list_connections, search_users


@dataclass(frozen=True)
class SearchResult:
    page: SearchPage
    fetched_at: float  # epoch seconds when Auth0 answered
    from_cache: bool

    @property
    def age_seconds(self) -> int:
        return max(0, int(time.time() - self.fetched_at))


def _key(kind: str, *parts: Any) -> str:
    identity = json.dumps([settings.AUTH0_BASE_URL, settings.AUTH0_CLIENT_ID, *parts])
    return f"users_admin:{kind}:" + hashlib.sha256(identity.encode()).hexdigest()[:40]


def requested_fields(columns: Sequence[str]) -> list[str]:
    """What to ask Auth0 for: the shown columns, plus user_id for the detail link."""
    fields = ["user_id"]
    fields.extend(c for c in columns if c != "user_id")
    return fields


def run_search(
    q: str, *, page: int, per_page: int, sort: str | None, fields: Sequence[str]
) -> SearchResult:
    """Search, answered from the shared cache when the same search ran moments ago.

    Search is eventually consistent anyway, so a result up to SEARCH_CACHE_SECONDS old
    loses nothing and spares the tenant's rate limit.
    """
    ttl = settings.SEARCH_CACHE_SECONDS
    key = _key("search", q, page, per_page, sort, list(fields))
    if ttl > 0:
        hit = cache.get(key)
        if hit is not None:
            return SearchResult(page=hit["page"], fetched_at=hit["fetched_at"], from_cache=True)
    result = search_users(q, page=page, per_page=per_page, sort=sort, fields=fields)
    fetched_at = time.time()
    if ttl > 0:
        cache.set(key, {"page": result, "fetched_at": fetched_at}, ttl)
    return SearchResult(page=result, fetched_at=fetched_at, from_cache=False)


def connections() -> list[dict[str, Any]]:
    """The tenant's connections (id, name, strategy), cached briefly for the filter."""
    key = _key("connections")
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    found = [
        {"id": c.get("id", ""), "name": c.get("name", ""), "strategy": c.get("strategy", "")}
        for c in list_connections(fields=["id", "name", "strategy"])
        if c.get("name")
    ]
    found.sort(key=lambda c: str(c["name"]).lower())
    if settings.CONNECTIONS_CACHE_SECONDS > 0:
        cache.set(key, found, settings.CONNECTIONS_CACHE_SECONDS)
    return found
