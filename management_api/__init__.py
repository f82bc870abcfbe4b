"""Userdesk's client for the Auth0 Management API (used by users_admin and exports).

Callers get dicts, a SearchPage dataclass, None for "not found", or one of the typed
errors below; never httpx types (except the stream `download` yields).
"""

from __future__ import annotations

from .endpoints import (
    SEARCH_WINDOW,
    SearchPage,
    create_users_export,
    download,
    get_job,
    get_user,
    list_connections,
    search_users,
    users_by_email,
)
from .errors import ManagementApiError, PermanentError, TransientError
from .http import budget, stats, use_transport

__all__ = [
    "SEARCH_WINDOW",
    "ManagementApiError",
    "PermanentError",
    "SearchPage",
    "TransientError",
    "budget",
    "create_users_export",
    "download",
    "get_job",
    "get_user",
    "list_connections",
    "search_users",
    "stats",
    "use_transport",
    "users_by_email",
]
