"""Token buckets per endpoint group, after Auth0's Management API rate-limit policy.

The sandbox is one process, so buckets live in memory behind a lock. A bucket holds `burst`
tokens and refills at `per_minute / 60` tokens a second; each API call takes one.
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


# "paid" follows the Essentials/Professional table, except Read Connections: Auth0 allows
# burst 5, 50/min there, which would make a dashboard's connection picker (loaded on every
# export form) trip in a test run; the sandbox allows burst 20, 120/min.
PLANS: dict[str, dict[str, Limit]] = {
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
UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int
    bucket: str

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

    def reset(self) -> None:
        with self._lock:
            self._state.clear()

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
        )


buckets = Buckets()
