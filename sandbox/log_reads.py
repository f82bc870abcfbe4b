"""The tenant's logs as Auth0 answers them: the events written as rows (`tenant_logs`) and each
seeded user's history, made on read from the profile (`seed_support`), inside the retention
window."""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox import faults, seed, seed_support, tenant_logs
from sandbox.models import TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.support_models import LogEvent


def _seeded(user_id: str) -> list[dict[str, Any]]:
    """The seeded history of a user of the seeded tenant (made on read: `seed_support`)."""
    meta = seed.tenant_seed()
    row = TenantUser.objects.using(SANDBOX_DB).filter(user_id=user_id).values("id", "profile")
    found = row.first()
    if meta is None or found is None or found["id"] > meta[2]:
        return []  # users created through the API have only what the API wrote
    # The history moves forward by whole days, so an old tenant keeps a recent one (and within
    # a day, dates and log ids stay put).
    day_ms = 86_400_000
    elapsed = int(faults.now().timestamp() * 1000) - meta[1]
    anchor = meta[1] + max(0, elapsed // day_ms) * day_ms
    return seed_support.seeded_events(meta[0], anchor, json.loads(found["profile"]))


def _what(event: dict[str, Any]) -> tuple[Any, ...]:
    # A seeded event's log id counts its place in the user's history, which a change can shift.
    return event["date"], event["type"], event.get("description"), event.get("ip")


@contextmanager
def history_kept(user_id: str) -> Iterator[None]:
    """Logs are history: a change to a seeded user (unblocked, verified, deleted) never takes
    back the events its seeded history showed before. That history is made on read from the
    profile, so the events the change would make vanish are written as rows, as they were."""
    before = _seeded(user_id)
    yield
    if not before:
        return
    after = {_what(e) for e in _seeded(user_id)}
    gone = [e for e in before if _what(e) not in after]
    tail = zlib.crc32(f"kept:{user_id}".encode()) * 1000
    for number, body in enumerate(gone):
        moment = dt.datetime.fromisoformat(body["date"].replace("Z", "+00:00"))
        body["log_id"] = body["_id"] = tenant_logs.new_log_id(moment, tail=tail + number)
    LogEvent.objects.using(SANDBOX_DB).bulk_create(
        [tenant_logs.row(e) for e in gone], ignore_conflicts=True
    )


def _kept(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cutoff = tenant_logs.iso(faults.now() - dt.timedelta(days=tenant_logs.retention_days()))
    return sorted(
        (e for e in events if e["date"] >= cutoff), key=lambda e: (e["date"], e["log_id"])
    )


def for_user(user_id: str) -> list[dict[str, Any]]:
    """The user's events inside the retention window, oldest first."""
    texts = (
        LogEvent.objects.using(SANDBOX_DB).filter(user_id=user_id).values_list("body", flat=True)
    )
    return _kept([json.loads(text) for text in texts] + _seeded(user_id))


def search(conditions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Events in the retention window matching every (field, value) exactly, oldest first.

    A user's seeded history is searched only when a condition names the `user_id`.
    """
    rows = LogEvent.objects.using(SANDBOX_DB).all()
    seeded: list[dict[str, Any]] = []
    for field, value in conditions:
        if field == "type":
            rows = rows.filter(type=value)
        elif field == "user_id":
            rows = rows.filter(user_id=value)
            seeded = _seeded(value)
    events = [json.loads(text) for text in rows.values_list("body", flat=True)] + seeded
    return _kept(
        [
            e
            for e in events
            if all(("" if e.get(f) is None else str(e.get(f))) == v for f, v in conditions)
        ]
    )
