"""Upstream answers shared briefly through the cache, under keys that name the upstream.

Every key of a cached Auth0 answer is made by :func:`cache_key`, so what identifies the
upstream (the current tenant's slug, base URL and client id) is added in one place: one
tenant's answer is never read for another. The tenant's connection list is the one cached
answer both apps read (:func:`connections`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.cache import cache

from .endpoints import list_connections
from .tenants import current_tenant


def cache_key(kind: str, *parts: Any) -> str:
    """The cache key of one kind of the current tenant's answers (``parts`` say which one)."""
    tenant = current_tenant()
    identity = json.dumps([tenant.base_url, tenant.client_id, *parts])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:40]
    return f"management_api:{kind}:{tenant.slug}:{digest}"


def connections() -> list[dict[str, str]]:
    """The tenant's connections as {id, name, strategy}, sorted by name, cached for
    CONNECTIONS_CACHE_SECONDS (0: not cached)."""
    key = cache_key("connections")
    cached = cache.get(key)
    if cached is not None:
        return list(cached)
    found = [
        {
            "id": str(c.get("id") or ""),
            "name": str(c.get("name") or ""),
            "strategy": str(c.get("strategy") or ""),
        }
        for c in list_connections(fields=["id", "name", "strategy"])
        if c.get("id") and c.get("name")
    ]
    found.sort(key=lambda c: c["name"].lower())
    if settings.CONNECTIONS_CACHE_SECONDS > 0:
        cache.set(key, found, settings.CONNECTIONS_CACHE_SECONDS)
    return found
