"""Token buckets per endpoint group, after Auth0's Management API rate-limit policy.

The sandbox is one process, so buckets live in memory behind a lock. A bucket holds `burst`
tokens and refills at `per_minute / 60` tokens a second; each API call takes one. The plan
(`SANDBOX_RATE_LIMIT_PLAN`, or the `rate_limit_plan` switch of a running sandbox) picks the
table: Auth0's documented ones, or the sandbox's own `paid`, `off`. Auth0's:
https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    burst: int
    per_minute: float


# Essentials and Professional: buckets per endpoint group; every endpoint not listed shares
# "All other endpoints combined".
_PER_ENDPOINT = {
    "users_read": Limit(40, 500),
    "users_write": Limit(20, 200),
    "connections": Limit(5, 50),
    "other": Limit(10, 150),
}
# "paid" (the default) follows the Essentials/Professional table, except Read Connections:
# Auth0 allows burst 5, 50/min there, which would make a dashboard's connection picker (loaded
# on every export form) trip in a test run; the sandbox allows burst 20, 120/min.
PLANS: dict[str, dict[str, Limit]] = {
    "essentials": _PER_ENDPOINT,
    "professional": _PER_ENDPOINT,
    # Enterprise (public cloud): one bucket for the whole tenant.
    "enterprise": {"global": Limit(50, 16 * 60)},
    "enterprise_nonprod": {"global": Limit(10, 2 * 60)},
    "paid": {
        "users_read": Limit(40, 500),
        "users_write": Limit(20, 200),
        "connections": Limit(20, 120),
        # "Read Logs": also taken by /users/{id}/logs (which row Auth0 counts it in is unknown).
        "logs": Limit(10, 100),
        "other": Limit(10, 150),
    },
    # Free tenants share one global bucket: burst 2, 2 per second.
    "free": {"global": Limit(2, 120)},
    "off": {},
}
PLAN_NAMES = tuple(PLANS)
UNLIMITED = 1_000_000
# Auth0 writes `api_limit_warning` when a bucket's use reaches 80% of its tokens, and again if it
# is still there a minute later; `api_limit` when a bucket is exceeded, at most once a minute.
WARNING_SHARE = 0.8
LOG_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int
    bucket: str
    # The tenant log event this call should write ("api_limit_warning", "api_limit" or "").
    log_event: str = ""

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class Buckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, float]] = {}
        self._logged: dict[tuple[str, str, str], float] = {}

    def reset(self) -> None:
        with self._lock:
            self._state.clear()
            self._logged.clear()

    def take(self, plan: str, group: str) -> Decision:
        """Take a token for one API call (or find the bucket empty)."""
        return self._decide(plan, group, take=True)

    def take_keyed(self, key: str, limit: Limit) -> Decision:
        """Take a token from a bucket of its own per key (an Authentication API endpoint limit,
        such as the reset email's per IP and address)."""
        return self._bucket(("keyed", key), limit, take=True)

    def peek(self, plan: str, group: str) -> Decision:
        """The bucket's state, for the headers of an answer that took no token."""
        return self._decide(plan, group, take=False)

    def _decide(self, plan: str, group: str, *, take: bool) -> Decision:
        limits = PLANS[plan]
        if not limits:
            now = int(time.time())
            return Decision(True, UNLIMITED, UNLIMITED, now, 0, "off")
        bucket = group if group in limits else "global" if "global" in limits else "other"
        return self._bucket((plan, bucket), limits[bucket], take=take)

    def _bucket(self, key: tuple[str, str], limit: Limit, *, take: bool) -> Decision:
        bucket = key[1]
        rate = limit.per_minute / 60.0
        with self._lock:
            mono = time.monotonic()
            tokens, last = self._state.get(key, (float(limit.burst), mono))
            tokens = min(float(limit.burst), tokens + (mono - last) * rate)
            allowed = tokens >= 1.0
            if allowed and take:
                tokens -= 1.0
            self._state[key] = (tokens, mono)
            log_event = self._log_event(key, limit, tokens, allowed, mono) if take else ""
        wall = time.time()
        reset_epoch = math.ceil(wall + (limit.burst - tokens) / rate)
        retry_after = max(1, math.ceil((1.0 - tokens) / rate))
        return Decision(
            allowed=allowed,
            limit=limit.burst,
            remaining=int(tokens),
            reset_epoch=reset_epoch,
            retry_after=retry_after,
            bucket=bucket,
            log_event=log_event,
        )

    def _log_event(
        self, key: tuple[str, str], limit: Limit, tokens: float, allowed: bool, mono: float
    ) -> str:
        """Which tenant log event a call writes, once a minute per bucket (under the lock)."""
        if key[0] == "keyed":
            return ""
        if not allowed:
            kind = "api_limit"
        elif limit.burst - tokens >= WARNING_SHARE * limit.burst:
            kind = "api_limit_warning"
        else:
            return ""
        last = self._logged.get((*key, kind))
        if last is not None and mono - last < LOG_EVERY_SECONDS:
            return ""
        self._logged[(*key, kind)] = mono
        return kind


buckets = Buckets()
