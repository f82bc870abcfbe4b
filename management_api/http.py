"""The one HTTP path to the Management API: client, token, retries, errors.

One pooled httpx.Client per process, built lazily and rebuilt after a fork, so every
Celery worker child and web worker gets its own connections. Every call is for the current
tenant (tenants.current_tenant()): its base URL, credentials and audience. Its bearer token
comes from the client-credentials grant and lives in Django's cache under the tenant's slug,
shared by every process, so many calls cost one token request. Retries live here and
nowhere else.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.filebased import FileBasedCache

from . import pacing
from .errors import ManagementApiError, PermanentError, TransientError
from .tenants import current_tenant, current_tenant_slug_or_blank

logger = logging.getLogger("management_api")

USER_AGENT = "Userdesk/0.1 (Auth0 Management API client; httpx)"
BACKOFF_BASE_SECONDS = 0.25
TOKEN_WAIT_POLL_SECONDS = 0.05
# Methods that are safe to send twice; a POST is repeated only when it surely never left.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass
class RequestStats:
    """Upstream requests sent by this process (cheap; read by tests and the bench), in all
    and by (tenant slug, path)."""

    total: int = 0
    by_path: Counter[str] = field(default_factory=Counter)
    by_tenant_path: Counter[tuple[str, str]] = field(default_factory=Counter)

    def snapshot(self) -> tuple[int, Counter[str]]:
        return self.total, Counter(self.by_path)

    def for_tenant(self, slug: str) -> Counter[str]:
        """Requests sent for one tenant, by path."""
        return Counter(
            {path: n for (tenant, path), n in self.by_tenant_path.items() if tenant == slug}
        )


stats = RequestStats()


def _count_request(request: httpx.Request) -> None:
    stats.total += 1
    stats.by_path[request.url.path] += 1
    stats.by_tenant_path[current_tenant_slug_or_blank(), request.url.path] += 1


_transport: httpx.BaseTransport | None = None
_client: tuple[int, httpx.Client] | None = None
_client_lock = threading.Lock()


def _build_client() -> httpx.Client:
    return httpx.Client(
        transport=_transport,
        timeout=httpx.Timeout(settings.AUTH0_TIMEOUT_SECONDS),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        event_hooks={"request": [_count_request]},
        follow_redirects=False,
    )


def http_client() -> httpx.Client:
    """This process's client; a forked child builds its own instead of sharing sockets."""
    global _client
    current = _client
    pid = os.getpid()
    if current is None or current[0] != pid:
        with _client_lock:
            current = _client
            if current is None or current[0] != pid:
                current = (pid, _build_client())
                _client = current
    return current[1]


@contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Route this process's calls through `transport` (tests: httpx.MockTransport)."""
    global _transport, _client
    previous = _transport
    with _client_lock:
        _transport, _client = transport, None
    try:
        yield
    finally:
        with _client_lock:
            _transport, _client = previous, None


def url_for(path: str) -> str:
    return f"{current_tenant().base_url}{path}"


def redact(url: str) -> str:
    """A URL fit for logs and messages: no query string (signed links keep secrets there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- Errors from responses --------------------------------------------------------------


def _body_fields(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        message = str(
            body.get("message") or body.get("error_description") or body.get("error") or ""
        )
        code = str(body.get("errorCode") or body.get("error") or "")
        return message, code
    text = response.text.strip()
    return (text[:200] if text else response.reason_phrase), ""


def error_from_response(
    response: httpx.Response, *, retry_after_seconds: float | None = None
) -> ManagementApiError:
    message, code = _body_fields(response)
    status = response.status_code
    if status == 429 or status >= 500:
        wait = retry_after_seconds if retry_after_seconds is not None else 1.0
        human = (
            "Auth0's rate limit was reached"
            if status == 429
            else f"Auth0 could not answer (HTTP {status})"
        )
        return TransientError(
            f"{human}: {message}" if message else human,
            retry_after_seconds=wait,
            status=status,
            message=message,
            error_code=code,
        )
    return PermanentError(
        message or f"Auth0 refused the request (HTTP {status})",
        status=status,
        message=message,
        error_code=code,
    )


# --- Retry timing ---------------------------------------------------------------------


def backoff_seconds(attempt: int) -> float:
    """Capped exponential backoff with jitter: about 0.25 s, 0.5 s, 1 s, ... up to the cap."""
    ceiling = min(settings.AUTH0_BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    return ceiling * random.uniform(0.5, 1.0)


def server_delay_seconds(response: httpx.Response) -> float | None:
    """What the server asked for: Retry-After (seconds or HTTP date), else X-RateLimit-Reset."""
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            # Epoch seconds, as every Auth0 SDK reads it; a little jitter spreads the herd.
            return max(0.0, float(reset) - time.time()) * random.uniform(1.0, 1.2)
        except ValueError:
            return None
    return None


# --- Sending ------------------------------------------------------------------------


def send(
    method: str,
    url: str,
    *,
    deadline: float,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    safe_to_repeat: bool | None = None,
    data: Mapping[str, str] | None = None,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
) -> httpx.Response:
    """One logical request with bounded retries; returns any response that is not 429/5xx.

    `safe_to_repeat` defaults to whether the method is idempotent.
    """
    repeatable = method in IDEMPOTENT if safe_to_repeat is None else safe_to_repeat
    attempt = 0
    path = urlsplit(url).path
    while True:
        deadline += pacing.before_call(method, url)  # a bulk call's wait for its slot
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransientError(
                "Auth0 did not answer in time", retry_after_seconds=backoff_seconds(attempt) + 1
            )
        timeout = httpx.Timeout(min(settings.AUTH0_TIMEOUT_SECONDS, remaining))
        server_delay: float | None = None
        try:
            response = http_client().request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            retryable = repeatable or isinstance(exc, httpx.ConnectTimeout)
            failure: ManagementApiError = TransientError(
                "Auth0 did not answer in time", retry_after_seconds=1.0
            )
            reason = type(exc).__name__
        except httpx.TransportError as exc:
            retryable = repeatable or isinstance(exc, httpx.ConnectError)
            failure = TransientError("Auth0 could not be reached", retry_after_seconds=1.0)
            reason = type(exc).__name__
        else:
            status = response.status_code
            pacing.observe_response(method, url, status, response.headers)
            if status != 429 and status < 500:
                return response
            # A 429 was never processed, so even a POST may be repeated (a bulk call's by
            # pacing.call, after the budget's pause).
            retryable = (repeatable or status == 429) and not (status == 429 and pacing.paced())
            server_delay = server_delay_seconds(response)
            failure = error_from_response(response)
            reason = f"HTTP {status}"
        delay = server_delay if server_delay is not None else backoff_seconds(attempt)
        attempt += 1
        if (
            not retryable
            or attempt > settings.AUTH0_MAX_RETRIES
            or time.monotonic() + delay > deadline
        ):
            if isinstance(failure, TransientError):
                failure.retry_after_seconds = max(1.0, math.ceil(delay))
            logger.warning("%s %s failed after %d attempt(s): %s", method, path, attempt, reason)
            raise failure
        logger.info("%s %s: %s, retry %d in %.2fs", method, path, reason, attempt, delay)
        time.sleep(delay)


# --- Token -----------------------------------------------------------------------------


def _token_cache_key() -> str:
    tenant = current_tenant()
    identity = f"{tenant.base_url}|{tenant.client_id}|{tenant.audience}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return f"management_api:token:{tenant.slug}:{digest}"


def _fetch_token(deadline: float) -> tuple[str, int]:
    tenant = current_tenant()
    response = send(
        "POST",
        url_for("/oauth/token"),
        deadline=deadline,
        safe_to_repeat=True,  # asking for a token twice only mints two tokens
        json={
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "audience": tenant.audience,
        },
    )
    if response.status_code != 200:
        message, code = _body_fields(response)
        raise PermanentError(
            f"Auth0 refused the dashboard's client credentials: {message or response.status_code}",
            status=response.status_code,
            message=message,
            error_code=code,
        )
    try:
        body = response.json()
        token = str(body["access_token"])
        expires_in = int(body.get("expires_in") or 86400)
    except (ValueError, KeyError, TypeError):
        raise PermanentError(
            "Auth0's token endpoint answered without an access token", status=200
        ) from None
    # Keep it until shortly before it expires: a minute early, or a tenth of a short lifetime.
    lifetime = max(1, expires_in - min(60, expires_in // 10))
    return token, lifetime


class _TokenLock:
    """Who fetches the token: one process at a time, across every process sharing the cache.

    `cache.add` is atomic on Redis and in memory, but Django's file cache implements it as
    "check, then write", so two processes can both win; there an O_EXCL lock file decides.
    """

    def __init__(self, key: str) -> None:
        self.key = f"{key}:lock"
        self.seconds = math.ceil(settings.AUTH0_DEADLINE_SECONDS) + 1
        backend = caches["default"]
        self.path: Path | None = None
        if isinstance(backend, FileBasedCache):
            name = hashlib.sha256(self.key.encode()).hexdigest() + ".lock"
            self.path = Path(backend._dir) / name  # type: ignore[attr-defined]

    def acquire(self) -> bool:
        if self.path is None:
            return bool(cache.add(self.key, os.getpid(), timeout=self.seconds))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                # A holder that died leaves its file: it expires like the cache entry would.
                if time.time() - self.path.stat().st_mtime > self.seconds:
                    self.path.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return False
        os.close(descriptor)
        return True

    def release(self) -> None:
        if self.path is None:
            cache.delete(self.key)
        else:
            self.path.unlink(missing_ok=True)


def access_token(deadline: float, *, reject: str | None = None) -> str:
    """The cached token, fetched once for all processes when missing (or equal to `reject`)."""
    key = _token_cache_key()
    lock = _TokenLock(key)
    while True:
        cached = cache.get(key)
        if cached and cached != reject:
            return str(cached)
        if lock.acquire():
            try:
                cached = cache.get(key)
                if cached and cached != reject:
                    return str(cached)
                token, lifetime = _fetch_token(deadline)
                cache.set(key, token, timeout=lifetime)
                return token
            finally:
                lock.release()
        # Another process is fetching it right now: wait for its result.
        if time.monotonic() + TOKEN_WAIT_POLL_SECONDS > deadline:
            raise TransientError(
                "Timed out waiting for a Management API token", retry_after_seconds=2.0
            )
        time.sleep(TOKEN_WAIT_POLL_SECONDS)


# --- Authenticated API calls -------------------------------------------------------------


_budget: ContextVar[float | None] = ContextVar("management_api_budget", default=None)


@contextmanager
def budget(seconds: float | None = None) -> Iterator[None]:
    """Calls made inside share one deadline (a page view with two calls still ends in time)."""
    ends = time.monotonic() + (seconds if seconds is not None else settings.AUTH0_DEADLINE_SECONDS)
    outer = _budget.get()
    token = _budget.set(ends if outer is None else min(outer, ends))
    try:
        yield
    finally:
        _budget.reset(token)


def api_request(
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    none_on_404: bool = False,
    safe_to_repeat: bool | None = None,
    data: Mapping[str, str] | None = None,
    files: Mapping[str, tuple[str, bytes, str]] | None = None,
) -> Any:
    """Call `/api/v2{path}`; the parsed JSON body, None for 204 (or 404 when asked).

    `safe_to_repeat` (default: the method is idempotent) says whether a request that may
    have reached Auth0 (a read timeout, a 5xx) can be sent again. `data` and `files` make a
    multipart/form-data body (the users-imports job).
    """
    deadline = time.monotonic() + settings.AUTH0_DEADLINE_SECONDS
    shared = _budget.get()
    if shared is not None:
        deadline = min(deadline, shared)
    url = url_for(f"/api/v2{path}")
    token = access_token(deadline)
    response = send(
        method,
        url,
        deadline=deadline,
        params=params,
        json=json,
        headers={"Authorization": f"Bearer {token}"},
        safe_to_repeat=safe_to_repeat,
        data=data,
        files=files,
    )
    if response.status_code == 401:
        # Revoked or expired early: one fresh token, one more try.
        token = access_token(deadline, reject=token)
        response = send(
            method,
            url,
            deadline=deadline,
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
            safe_to_repeat=safe_to_repeat,
            data=data,
            files=files,
        )
    if response.status_code == 404 and none_on_404:
        return None
    if response.status_code >= 400:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    return _parse_json(response, path)


def deadline_now() -> float:
    """When a call starting now must end: AUTH0_DEADLINE_SECONDS, or the shared budget."""
    deadline = time.monotonic() + settings.AUTH0_DEADLINE_SECONDS
    shared = _budget.get()
    return deadline if shared is None else min(deadline, shared)


def _parse_json(response: httpx.Response, path: str) -> Any:
    """The body as Python objects, parsed once.

    orjson reads the usual UTF-8 body (a 50-user page about twice as fast as the stdlib);
    anything it refuses (UTF-16, NaN, an integer past 64 bits) goes to httpx's stdlib parse,
    so what is accepted stays the same.
    """
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return response.json()
    except ValueError:
        raise PermanentError(
            f"Auth0 answered {path} with something that is not JSON",
            status=response.status_code,
        ) from None
