"""Shared rate budgets: bulk calls go at most (1 - reserve) x a bucket's rate, for every process.

Auth0 limits the Management API per tenant and bucket, as its rate-limit policy says:
https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
On Essentials and Professional a bucket per endpoint group, on Free and Enterprise one for the
whole tenant. A bulk run calls `acquire(tenant, bucket, timeout)` before each request (or sends
it through `call`); the budget is a GCRA kept in Redis when REDIS_URL is set, else in the
database (`RateBudget`, a row lock), so every worker process and machine shares it. It runs at
(1 - BULK_INTERACTIVE_RESERVE) of the bucket's rate and bursts (1 - reserve) of its size, so
staff in the console keep the rest and never wait: interactive calls never acquire.

Every response's X-RateLimit-* headers reach `observe` (a hook in http.send): when fewer tokens
are left than the reserve, or on a 429, the budget pauses (a 429: until the bucket's reset)
and bulk calls wait out the pause.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from . import tenants
from .errors import TransientError

logger = logging.getLogger("management_api.pacing")

T = TypeVar("T")


@dataclass(frozen=True)
class Rate:
    """An Auth0 bucket: `burst` tokens, refilled at `per_minute`."""

    burst: int
    per_minute: float

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


# Auth0's Management API limits per plan (public cloud, the page above): the one table.
_PER_ENDPOINT = {
    "users_read": Rate(40, 500),  # GET /users, /users/{id}, /users-by-email
    "users_write": Rate(20, 200),  # POST /users, PATCH and DELETE /users/{id}
    "connections": Rate(5, 50),  # GET /connections*
    "other": Rate(10, 150),  # all other endpoints combined
}
PLAN_RATES: dict[str, dict[str, Rate]] = {
    "free": {"global": Rate(2, 2 * 60)},
    "essentials": _PER_ENDPOINT,
    "professional": _PER_ENDPOINT,
    "enterprise": {"global": Rate(50, 16 * 60)},
    "enterprise_nonprod": {"global": Rate(10, 2 * 60)},
}
# A budget's state outlives its last use by this long (Redis key expiry).
KEEP_SECONDS = 3600
# Longest pause one response may cause (a Reset far ahead is a clock problem, not a plan).
MAX_PAUSE_SECONDS = 60.0


class PacingTimeout(TransientError):
    """The budget had no slot within the caller's timeout; try the item again later."""


# --- Plans and buckets -------------------------------------------------------------------


def rate_plan(plan: str, environment: str = "production") -> str:
    """The rate table of an Auth0 plan: an Enterprise tenant not tagged production has 2/s."""
    if plan == "enterprise" and environment != "production":
        return "enterprise_nonprod"
    if plan not in PLAN_RATES:
        raise ValueError(f"Unknown rate-limit plan {plan!r}; known: {', '.join(PLAN_RATES)}")
    return plan


def current_tenant_slug() -> str:
    """The tenant the client talks to now: `tenant_scope`'s, else the only one."""
    return tenants.current_tenant_slug()


def tenant_plan(tenant_slug: str) -> str:
    """The rate table of a tenant: its plan and environment (Enterprise outside production has
    its own), or AUTH0_RATE_LIMIT_PLAN for the single tenant when set."""
    if settings.AUTH0_RATE_LIMIT_PLAN and not settings.AUTH0_TENANTS:
        return rate_plan(settings.AUTH0_RATE_LIMIT_PLAN)
    tenant = tenants.get_tenant(tenant_slug)
    return rate_plan(tenant.plan, tenant.environment)


def bucket_for(method: str, path: str, plan: str) -> str:
    """The Auth0 bucket a request counts against; `path` with or without `/api/v2`."""
    buckets = PLAN_RATES[rate_plan(plan)]
    if "global" in buckets:
        return "global"
    parts = path.removeprefix("/api/v2").strip("/").split("/")
    reading = method.upper() in ("GET", "HEAD")
    if (parts[0] == "users" and len(parts) <= 2) or parts[0] == "users-by-email":
        return "users_read" if reading else "users_write"
    if parts[0] == "connections" and reading:
        return "connections"
    return "other"


def rate_for(plan: str, bucket: str) -> Rate:
    return PLAN_RATES[rate_plan(plan)][bucket]


def bulk_rate(rate: Rate) -> Rate:
    """What bulk calls may use of a bucket: (1 - reserve) of its rate and of its burst."""
    share = 1.0 - settings.BULK_INTERACTIVE_RESERVE
    return Rate(max(1, math.floor(share * rate.burst)), share * rate.per_minute)


def reserve_tokens(limit: int) -> int:
    """Tokens a bucket of `limit` keeps for staff; fewer left pauses bulk calls."""
    return math.ceil(settings.BULK_INTERACTIVE_RESERVE * limit)


# --- Where budgets live --------------------------------------------------------------------


class Store(Protocol):
    def reserve(self, key: tuple[str, str], interval: float, tau: float, most: float) -> float:
        """Book the next slot: seconds to wait for it, or -1 (nothing booked) past `most`."""

    def pause(self, key: tuple[str, str], seconds: float) -> None:
        """No slot before `seconds` from now (a longer pause already set stays)."""

    def paused_for(self, key: tuple[str, str]) -> float:
        """Seconds left of the pause (0 when none)."""

    def forget(self, key: tuple[str, str]) -> None:
        """Drop the budget's state: a full burst and no pause."""


# The GCRA on Redis's clock: a hash per budget holds `tat` (when the next call is due at the
# steady rate) and `pause`. A call may go `tau` before `tat` (the burst), never before `pause`.
_RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
local pause = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0')
local interval, tau, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local at = math.max(now, tat - tau, pause)
if at - now > most then return '-1' end
redis.call('HSET', KEYS[1], 'tat', tostring(math.max(tat, at) + interval))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(at - now)
"""
_PAUSE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ends = now + tonumber(ARGV[1])
if ends > tonumber(redis.call('HGET', KEYS[1], 'pause') or '0') then
  redis.call('HSET', KEYS[1], 'pause', tostring(ends))
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return tostring(ends - now)
"""
_PAUSED_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return tostring(math.max(0, tonumber(redis.call('HGET', KEYS[1], 'pause') or '0') - now))
"""


class RedisStore:
    """Budgets in Redis: one hash per tenant and bucket, changed by scripts on Redis's clock."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self.prefix = f"{settings.CACHES['default'].get('KEY_PREFIX') or 'userdesk'}:pacing"
        self._reserve = self.client.register_script(_RESERVE_LUA)
        self._pause = self.client.register_script(_PAUSE_LUA)
        self._paused = self.client.register_script(_PAUSED_LUA)

    def _key(self, key: tuple[str, str]) -> str:
        return f"{self.prefix}:{key[0]}:{key[1]}"

    def reserve(self, key: tuple[str, str], interval: float, tau: float, most: float) -> float:
        args: list[str | int] = [repr(interval), repr(tau), repr(most), KEEP_SECONDS]
        return float(self._reserve(keys=[self._key(key)], args=args))

    def pause(self, key: tuple[str, str], seconds: float) -> None:
        self._pause(keys=[self._key(key)], args=[repr(seconds), KEEP_SECONDS])

    def paused_for(self, key: tuple[str, str]) -> float:
        return float(self._paused(keys=[self._key(key)]))

    def forget(self, key: tuple[str, str]) -> None:
        self.client.delete(self._key(key))


class DatabaseStore:
    """Budgets in the database: a `RateBudget` row per tenant and bucket, changed under its
    row lock (SQLite's IMMEDIATE transactions lock the whole file). Machines share the clock
    through NTP."""

    def _locked(self, key: tuple[str, str]) -> Any:
        from .models import RateBudget

        RateBudget.objects.get_or_create(tenant=key[0], bucket=key[1])
        return RateBudget.objects.select_for_update().get(tenant=key[0], bucket=key[1])

    def reserve(self, key: tuple[str, str], interval: float, tau: float, most: float) -> float:
        with transaction.atomic():
            row = self._locked(key)
            now = time.time()
            at = max(now, row.next_at - tau, row.paused_until)
            if at - now > most:
                return -1.0
            row.next_at = max(row.next_at, at) + interval
            row.save(update_fields=["next_at"])
            return at - now

    def pause(self, key: tuple[str, str], seconds: float) -> None:
        from .models import RateBudget

        ends = time.time() + seconds
        with transaction.atomic():
            self._locked(key)
            RateBudget.objects.filter(tenant=key[0], bucket=key[1], paused_until__lt=ends).update(
                paused_until=ends
            )

    def paused_for(self, key: tuple[str, str]) -> float:
        from .models import RateBudget

        row = RateBudget.objects.filter(tenant=key[0], bucket=key[1]).first()
        return 0.0 if row is None else max(0.0, row.paused_until - time.time())

    def forget(self, key: tuple[str, str]) -> None:
        from .models import RateBudget

        RateBudget.objects.filter(tenant=key[0], bucket=key[1]).delete()


_stores: dict[tuple[int, str], Store] = {}
_stores_lock = threading.Lock()


def store() -> Store:
    """Redis when REDIS_URL is set (one client per process), else the database."""
    url = settings.REDIS_URL
    if not url:
        return DatabaseStore()
    key = (os.getpid(), url)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = RedisStore(url)
        return _stores[key]


# --- Bulk calls -------------------------------------------------------------------------


def acquire(tenant_slug: str, bucket: str, timeout: float) -> None:
    """Wait for the next bulk slot of the tenant's bucket; PacingTimeout past `timeout` seconds."""
    rate = bulk_rate(rate_for(tenant_plan(tenant_slug), bucket))
    interval = 1.0 / rate.per_second
    tau = (rate.burst - 1) * interval
    key = (tenant_slug, bucket)
    budget = store()
    ends = time.monotonic() + timeout
    while True:
        most = ends - time.monotonic()
        wait = budget.reserve(key, interval, tau, max(0.0, most))
        if wait < 0:
            raise PacingTimeout(
                f"No {bucket} slot for {tenant_slug} within {timeout:g} s",
                retry_after_seconds=max(1.0, budget.paused_for(key), interval),
            )
        if wait <= 0:
            return
        time.sleep(wait)
        # A pause that began while this call waited (a 429, low headers) holds it too.
        if budget.paused_for(key) <= 0:
            return


def reset(tenant_slug: str, bucket: str) -> None:
    """Start a budget afresh (a full burst, no pause): benches and tests."""
    store().forget((tenant_slug, bucket))


# Within bulk_calls: what runs before each attempt of a Management API call.
Before = Callable[[str, str], None]
_paced: ContextVar[Before | None] = ContextVar("management_api_paced", default=None)


def paced() -> bool:
    """Whether the current request is a bulk call (sent by `call` or within `bulk_calls`),
    whose 429 http.send hands back to the caller instead of repeating it."""
    return _paced.get() is not None


def _as_is(method: str, path: str) -> None:
    """Bulk calls whose sender acquired their slots itself (`call`)."""


@contextmanager
def bulk_calls(before: Before | None = None) -> Iterator[None]:
    """Requests sent within are bulk calls: `before(method, path)` runs before each attempt of a
    Management API call (where a bulk run waits for the call's slot), and a 429 is raised to
    the caller (which sends the item again once the budget's pause ends), never repeated by
    http.send."""
    token = _paced.set(before or _as_is)
    try:
        yield
    finally:
        _paced.reset(token)


def before_call(method: str, url: str) -> float:
    """http.send's hook before each attempt: runs the bulk call's `before`; the seconds it
    waited (which do not count against the call's deadline)."""
    before = _paced.get()
    path = urlsplit(url).path
    if before is None or not path.startswith("/api/v2/"):
        return 0.0
    started = time.monotonic()
    before(method, path)
    return time.monotonic() - started


def call(tenant_slug: str, bucket: str, send: Callable[[], T], *, timeout: float) -> T:
    """One bulk request through the budget: acquire, then `send()`. A 429 (never processed by
    Auth0, so safe to repeat, even a POST) pauses the budget and is sent again once a slot
    frees: it never fails the item. Raises PacingTimeout when a slot takes over `timeout`."""
    with bulk_calls():
        while True:
            acquire(tenant_slug, bucket, timeout)
            try:
                return send()
            except TransientError as exc:
                if exc.status != 429:
                    raise
                # http.send's hook paused the budget already, from the answer's headers; this
                # pause holds even if the hook's tenant or bucket differ from the caller's.
                store().pause(
                    (tenant_slug, bucket), min(exc.retry_after_seconds, MAX_PAUSE_SECONDS)
                )
                logger.info("%s %s: 429, sent again after the pause", tenant_slug, bucket)


# --- What responses say ---------------------------------------------------------------------


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def observe(
    tenant_slug: str, bucket: str, headers: Mapping[str, str], status: int | None = None
) -> None:
    """Follow one response's X-RateLimit-* headers (and a 429's Retry-After).

    A 429 pauses bulk calls until the bucket resets (Retry-After when Reset is missing); fewer
    tokens left than the reserve (less one, for rounding and calls in flight) pause them until
    the bucket refills to it. Never blocks.
    """
    headers = {name.lower(): value for name, value in headers.items()}
    limit = _number(headers, "x-ratelimit-limit")
    remaining = _number(headers, "x-ratelimit-remaining")
    reset = _number(headers, "x-ratelimit-reset")
    seconds = 0.0
    if status == 429:
        retry_after = _number(headers, "retry-after")
        if reset is not None:
            seconds = reset - time.time()
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        seconds = max(seconds, 1.0)
    elif limit is not None and remaining is not None:
        # One token of slack: Remaining is a whole number, and other calls are in flight.
        short = reserve_tokens(int(limit)) - 1 - remaining
        if short > 0:
            seconds = short / rate_for(tenant_plan(tenant_slug), bucket).per_second
    if seconds > 0:
        store().pause((tenant_slug, bucket), min(seconds, MAX_PAUSE_SECONDS))


def observe_response(method: str, url: str, status: int, headers: Mapping[str, str]) -> None:
    """http.send's hook: every Management API answer, interactive or bulk, reaches `observe`.
    A failure here is logged, never raised: an interactive call must not suffer for it."""
    path = urlsplit(url).path
    if not path.startswith("/api/v2/"):
        return
    try:
        tenant = current_tenant_slug()
        observe(tenant, bucket_for(method, path, tenant_plan(tenant)), headers, status)
    except Exception:
        logger.warning("rate-limit headers of %s %s not recorded", method, path, exc_info=True)
