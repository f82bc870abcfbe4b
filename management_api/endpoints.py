"""One plain function per Management API endpoint Userdesk uses."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from .errors import PermanentError, TransientError
from .http import api_request, error_from_response, http_client, redact

logger = logging.getLogger("management_api")

# Auth0 never lets a search reach past the first 1,000 matches, and caps `total` there.
SEARCH_WINDOW = 1000


@dataclass(frozen=True)
class SearchPage:
    users: list[dict[str, Any]]
    total: int | None
    page: int
    per_page: int
    start: int = 0

    @property
    def capped(self) -> bool:
        """True when more users may match than Auth0 will count or page through."""
        return self.total is not None and self.total >= SEARCH_WINDOW

    @property
    def reachable(self) -> int:
        """How many of the matches can be paged through (at most 1,000)."""
        if self.total is None:
            return self.start + len(self.users)
        return min(self.total, SEARCH_WINDOW)

    @property
    def page_count(self) -> int:
        if self.per_page <= 0:
            return 1
        return max(1, -(-self.reachable // self.per_page))

    @property
    def has_next(self) -> bool:
        if self.total is None:
            return len(self.users) == self.per_page and (self.page + 1) * self.per_page < (
                SEARCH_WINDOW
            )
        return self.page + 1 < self.page_count

    @property
    def has_previous(self) -> bool:
        return self.page > 0


def _fields_params(fields: Sequence[str] | None) -> dict[str, str]:
    if not fields:
        return {}
    return {"fields": ",".join(fields), "include_fields": "true"}


def search_users(
    q: str = "",
    page: int = 0,
    per_page: int = 50,
    sort: str | None = None,
    fields: Sequence[str] | None = None,
    include_totals: bool = True,
) -> SearchPage:
    """GET /users with search engine v3 (eventually consistent)."""
    params: dict[str, Any] = {
        "search_engine": "v3",
        "page": page,
        "per_page": per_page,
        "include_totals": "true" if include_totals else "false",
        **_fields_params(fields),
    }
    if q:
        params["q"] = q
    if sort:
        params["sort"] = sort
    body = api_request("GET", "/users", params=params)
    if isinstance(body, list):
        return SearchPage(users=body, total=None, page=page, per_page=per_page)
    if not isinstance(body, dict):
        raise PermanentError("Auth0 answered the search with an unexpected shape")
    return SearchPage(
        users=list(body.get("users") or []),
        total=int(body["total"]) if body.get("total") is not None else None,
        page=page,
        per_page=per_page,
        start=int(body.get("start") or page * per_page),
    )


def users_by_email(email: str, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """GET /users-by-email: exact and case-sensitive, immediately consistent."""
    body = api_request("GET", "/users-by-email", params={"email": email, **_fields_params(fields)})
    return list(body or [])


def get_user(user_id: str) -> dict[str, Any] | None:
    """GET /users/{id}; None when the user does not exist."""
    body = api_request("GET", f"/users/{quote(user_id, safe='')}", none_on_404=True)
    return body if isinstance(body, dict) else None


def list_connections(fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every connection of the tenant, paging through 100 at a time."""
    connections: list[dict[str, Any]] = []
    page = 0
    while True:
        body = api_request(
            "GET",
            "/connections",
            params={
                "page": page,
                "per_page": 100,
                "include_totals": "true",
                **_fields_params(fields),
            },
        )
        if isinstance(body, list):
            batch, total = body, None
        else:
            batch, total = list(body.get("connections") or []), body.get("total")
        connections.extend(batch)
        if len(batch) < 100 or (total is not None and len(connections) >= int(total)):
            return connections
        page += 1


def create_users_export(spec: dict[str, Any]) -> dict[str, Any]:
    """POST /jobs/users-exports with `spec` (connection_id, format, limit, fields)."""
    body = api_request("POST", "/jobs/users-exports", json=spec)
    if not isinstance(body, dict):
        raise PermanentError("Auth0 answered the export request with an unexpected shape")
    return body


def create_users_import(
    users: bytes,
    *,
    connection_id: str,
    upsert: bool = False,
    external_id: str = "",
    send_completion_email: bool = False,
    filename: str = "users.json",
) -> dict[str, Any]:
    """POST /jobs/users-imports: `users` (a JSON array of at most 500 KB) into a database
    connection. Multipart, as Auth0 requires. Not repeated after a timeout or a 5xx (the job
    may exist; a second one would import twice), only after a 429, which Auth0 never processed.
    `send_completion_email` defaults to False here (Auth0's default, true, mails every admin)."""
    data = {
        "connection_id": connection_id,
        "upsert": "true" if upsert else "false",
        "send_completion_email": "true" if send_completion_email else "false",
    }
    if external_id:
        data["external_id"] = external_id
    body = api_request(
        "POST",
        "/jobs/users-imports",
        data=data,
        files={"users": (filename, users, "application/json")},
        safe_to_repeat=False,
    )
    if not isinstance(body, dict):
        raise PermanentError("Auth0 answered the import request with an unexpected shape")
    return body


def get_job_errors(job_id: str) -> list[dict[str, Any]]:
    """GET /jobs/{id}/errors: an import's per-user errors (`[{user, errors}]`), [] when Auth0
    found none (its 204). A failed export job answers with the job object instead: returned as
    a one-item list holding it."""
    body = api_request("GET", f"/jobs/{quote(job_id, safe='')}/errors")
    if body is None:
        return []
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise PermanentError("Auth0 answered the job errors request with an unexpected shape")
    return body


def get_job(job_id: str) -> dict[str, Any] | None:
    """GET /jobs/{id}; None when the job does not exist (any more)."""
    body = api_request("GET", f"/jobs/{quote(job_id, safe='')}", none_on_404=True)
    return body if isinstance(body, dict) else None


@contextmanager
def download(url: str) -> Iterator[httpx.Response]:
    """Stream a signed download link (no Authorization header; the URL is the credential).

    Yields an open httpx response to iterate (`iter_bytes()`); errors raised while reading
    come out as TransientError/PermanentError. The link's query string (its signature) is
    never logged or put in an error message.
    """
    shown = redact(url)
    try:
        with http_client().stream(
            "GET",
            url,
            timeout=httpx.Timeout(settings.AUTH0_TIMEOUT_SECONDS),
            headers={"Accept": "*/*"},
        ) as response:
            if response.status_code >= 400:
                response.read()
                error = error_from_response(response)
                logger.warning("download of %s failed: HTTP %s", shown, response.status_code)
                error.human = f"Downloading the export file failed (HTTP {response.status_code})"
                raise error
            yield response
    except httpx.TimeoutException:
        raise TransientError(
            "Downloading the export file timed out", retry_after_seconds=5.0
        ) from None
    except httpx.TransportError as exc:
        logger.warning("download of %s failed: %s: %s", shown, type(exc).__name__, exc)
        raise TransientError(
            f"Downloading the export file failed: {_broken_transfer(exc)}",
            retry_after_seconds=5.0,
        ) from None


def _broken_transfer(exc: httpx.TransportError) -> str:
    """What went wrong with a download, in words (the exception's class goes to the log)."""
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the download server closed the connection before the whole file arrived"
    if isinstance(exc, httpx.ConnectError):
        return "the download server could not be reached"
    if isinstance(exc, httpx.ProxyError):
        return "the proxy between this server and the download server refused the transfer"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke while the file was arriving"
    return "the connection to the download server failed"
