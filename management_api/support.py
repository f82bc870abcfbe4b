"""The endpoints a support agent's actions call: one plain function per endpoint.

Which requests may be sent twice (after a read timeout or a 5xx that may have done the work)
is decided here, per endpoint, from what a second copy would do:
- PATCH of given fields, DELETE, and the POSTs that only invalidate something are idempotent:
  repeating them changes nothing more, so they are retried like reads.
- The POSTs that create something a person receives (a verification email job, a password
  change ticket, a reset email) are repeated only when Auth0 surely never acted on them: a 429
  or a refused connection (http.send's rule). A timeout is reported, never blindly repeated.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .errors import ManagementApiError, PermanentError
from .http import _body_fields, api_request, deadline_now, error_from_response, send, url_for
from .tenants import current_tenant

T = TypeVar("T")

LOGS_PER_PAGE = 50
# Auth0 pages through at most the first 1,000 log events of a user.
LOGS_WINDOW = 1000


def _user(user_id: str) -> str:
    return quote(user_id, safe="")


# --- Concurrency ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """One of several concurrent calls: its value, or the Management API error it raised."""

    value: T | None = None
    error: ManagementApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()
POOL_THREADS = 8


def _executor() -> ThreadPoolExecutor:
    """This process's worker threads, kept between page views (starting threads per request
    costs milliseconds on a loaded machine); a forked child builds its own."""
    global _pool
    current = _pool
    if current is None or current[0] != os.getpid():
        with _pool_lock:
            current = _pool
            if current is None or current[0] != os.getpid():
                current = (
                    os.getpid(),
                    ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="management-api"),
                )
                _pool = current
    return current[1]


def concurrently(
    calls: dict[str, Callable[[], Any]], *, meanwhile: Callable[[], object] | None = None
) -> dict[str, Outcome[Any]]:
    """Run independent calls at once on the shared client, so they cost about the slowest.

    Each runs in a copy of the caller's context, so a `budget()` deadline still applies.
    Only ManagementApiError is caught (into the Outcome); anything else propagates. Not for
    calls that themselves call `concurrently` (they would wait on the same threads).
    `meanwhile` runs in the calling thread while the calls are out (its own database work,
    say, which must stay on the caller's connection).
    """

    def run(call: Callable[[], Any]) -> Outcome[Any]:
        try:
            return Outcome(value=call())
        except ManagementApiError as exc:
            return Outcome(error=exc)

    pool = _executor()
    futures = {
        name: pool.submit(contextvars.copy_context().run, run, call) for name, call in calls.items()
    }
    if meanwhile is not None:
        meanwhile()
    return {name: future.result() for name, future in futures.items()}


# --- Users -------------------------------------------------------------------------------


def update_user(user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH /users/{id}: root fields replace, metadata merges one level, null deletes a key.

    Sending the same fields twice leaves the same user, so it is safe to repeat.
    """
    body = api_request("PATCH", f"/users/{_user(user_id)}", json=changes, safe_to_repeat=True)
    if not isinstance(body, dict):
        raise PermanentError("Auth0 answered the update with an unexpected shape")
    return body


def delete_user(user_id: str) -> None:
    """DELETE /users/{id}: 204, and 204 again when the user is already gone."""
    api_request("DELETE", f"/users/{_user(user_id)}")


# --- Brute-force blocks ------------------------------------------------------------------


def user_blocks(user_id: str) -> list[dict[str, Any]] | None:
    """GET /user-blocks/{id}: the `blocked_for` entries (identifier, ip, connection); None: 404."""
    body = api_request(
        "GET",
        f"/user-blocks/{_user(user_id)}",
        params={"consider_brute_force_enablement": "true"},
        none_on_404=True,
    )
    if body is None:
        return None
    return list(body.get("blocked_for") or []) if isinstance(body, dict) else []


def clear_user_blocks(user_id: str) -> None:
    """DELETE /user-blocks/{id}: lifts brute-force blocks (an admin block stays)."""
    api_request("DELETE", f"/user-blocks/{_user(user_id)}")


def user_blocks_by_identifier(identifier: str) -> list[dict[str, Any]]:
    """GET /user-blocks?identifier= (a username, phone number or email)."""
    body = api_request("GET", "/user-blocks", params={"identifier": identifier})
    return list(body.get("blocked_for") or []) if isinstance(body, dict) else []


def clear_user_blocks_by_identifier(identifier: str) -> None:
    """DELETE /user-blocks?identifier=."""
    api_request("DELETE", "/user-blocks", params={"identifier": identifier})


# --- Verification email and password change -----------------------------------------------


def send_verification_email(
    user_id: str, *, identity: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST /jobs/verification-email: 201 with a pending job (`GET /jobs/{id}` follows it).

    Not repeated after a timeout: a second job would send the user a second email.
    """
    payload: dict[str, Any] = {"user_id": user_id}
    if identity:
        payload["identity"] = identity
    body = api_request("POST", "/jobs/verification-email", json=payload)
    if not isinstance(body, dict) or "id" not in body:
        raise PermanentError("Auth0 answered the verification email request with no job")
    return body


def create_password_change_ticket(
    user_id: str, *, ttl_sec: int = 3600, mark_email_as_verified: bool = False
) -> str:
    """POST /tickets/password-change: a reset URL to hand the user (Auth0 sends no email).

    Not repeated after a timeout: the agent decides whether a second ticket is wanted.
    """
    body = api_request(
        "POST",
        "/tickets/password-change",
        json={
            "user_id": user_id,
            "ttl_sec": ttl_sec,
            "mark_email_as_verified": mark_email_as_verified,
        },
    )
    if not isinstance(body, dict) or not body.get("ticket"):
        raise PermanentError("Auth0 answered the password change request with no ticket")
    return str(body["ticket"])


def send_password_reset_email(email: str, connection: str) -> str:
    """Authentication API POST /dbconnections/change_password: Auth0 emails the reset link.

    No bearer token (the client id is enough). Auth0 answers 200 with a sentence, the same
    for unknown addresses. Not repeated after a timeout (a second email).
    """
    response = send(
        "POST",
        url_for("/dbconnections/change_password"),
        deadline=deadline_now(),
        json={"client_id": current_tenant().client_id, "email": email, "connection": connection},
    )
    if response.status_code >= 400:
        raise error_from_response(response)
    message, _ = _body_fields(response)
    return message or "Auth0 accepted the request."


# --- MFA --------------------------------------------------------------------------------


def authentication_methods(user_id: str) -> list[dict[str, Any]] | None:
    """GET /users/{id}/authentication-methods (all pages); None when the user does not exist."""
    methods: list[dict[str, Any]] = []
    page = 0
    while True:
        body = api_request(
            "GET",
            f"/users/{_user(user_id)}/authentication-methods",
            params={"page": page, "per_page": 100, "include_totals": "true"},
            none_on_404=True,
        )
        if body is None:
            return None if page == 0 else methods
        batch = body if isinstance(body, list) else list(body.get("authenticators") or [])
        methods.extend(batch)
        total = body.get("total") if isinstance(body, dict) else None
        if len(batch) < 100 or (total is not None and len(methods) >= int(total)):
            return methods
        page += 1


def delete_authentication_method(user_id: str, method_id: str) -> None:
    """DELETE /users/{id}/authentication-methods/{method_id}."""
    api_request(
        "DELETE", f"/users/{_user(user_id)}/authentication-methods/{quote(method_id, safe='')}"
    )


def delete_authentication_methods(user_id: str) -> None:
    """DELETE /users/{id}/authentication-methods: every factor (403 while a passkey exists)."""
    api_request("DELETE", f"/users/{_user(user_id)}/authentication-methods")


def invalidate_remember_browser(user_id: str) -> None:
    """POST .../multifactor/actions/invalidate-remember-browser: idempotent, so repeatable."""
    api_request(
        "POST",
        f"/users/{_user(user_id)}/multifactor/actions/invalidate-remember-browser",
        safe_to_repeat=True,
    )


# --- Sessions and refresh tokens (Enterprise plans) ------------------------------------------


def user_sessions(user_id: str) -> list[dict[str, Any]]:
    """GET /users/{id}/sessions, following the `next` cursor."""
    return _cursor_list(f"/users/{_user(user_id)}/sessions", "sessions")


def delete_user_sessions(user_id: str) -> None:
    """DELETE /users/{id}/sessions: 202, asynchronous and eventually consistent."""
    api_request("DELETE", f"/users/{_user(user_id)}/sessions")


def user_refresh_tokens(user_id: str) -> list[dict[str, Any]]:
    """GET /users/{id}/refresh-tokens, following the `next` cursor."""
    return _cursor_list(f"/users/{_user(user_id)}/refresh-tokens", "tokens")


def delete_user_refresh_tokens(user_id: str) -> None:
    """DELETE /users/{id}/refresh-tokens: 202, asynchronous."""
    api_request("DELETE", f"/users/{_user(user_id)}/refresh-tokens")


def _cursor_list(path: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):  # 10,000 sessions is not one person's
        params: dict[str, Any] = {"take": 100}
        if cursor:
            params["from"] = cursor
        body = api_request("GET", path, params=params)
        if not isinstance(body, dict):
            return items
        items.extend(body.get(key) or [])
        cursor = body.get("next") or None
        if not cursor:
            return items
    return items


# --- Logs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogPage:
    events: list[dict[str, Any]]
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        return len(self.events) == self.per_page and (self.page + 1) * self.per_page < LOGS_WINDOW

    @property
    def has_previous(self) -> bool:
        return self.page > 0


def user_logs(user_id: str, page: int = 0, per_page: int = LOGS_PER_PAGE) -> LogPage:
    """GET /users/{id}/logs, newest first (`total` under Log Search v3 is only this page's)."""
    body = api_request(
        "GET",
        f"/users/{_user(user_id)}/logs",
        params={"page": page, "per_page": per_page, "sort": "date:-1", "include_totals": "true"},
    )
    events = body if isinstance(body, list) else list((body or {}).get("logs") or [])
    return LogPage(events=events, page=page, per_page=per_page)
