"""Fault switches and the injectable clock of the sandbox tenant.

Switches live in the sandbox database (`Switch` rows), so the server, `manage.py sandbox_faults`
and tests all see the same values. Environment variables give their values at start
(`SANDBOX_FAULT_*`); a key without a row falls back to its setting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox.job_models import Switch
from sandbox.ratelimit import PLAN_NAMES


@dataclass(frozen=True)
class FaultKey:
    setting: str
    parse: Callable[[Any], Any]
    help: str


def _share(value: Any) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError("must be between 0 and 1")
    return share


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    number = int(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    return int(value)


def _text(value: Any) -> str:
    return "" if value is None or value is False else str(value)


def _plan(value: Any) -> str:
    plan = str(value)
    if plan not in PLAN_NAMES:
        raise ValueError(f"must be one of {', '.join(PLAN_NAMES)}")
    return plan


TENANT_PLANS = ("free", "essentials", "professional", "enterprise")


def _tenant_plan(value: Any) -> str:
    plan = str(value)
    if plan not in TENANT_PLANS:
        raise ValueError(f"must be one of {', '.join(TENANT_PLANS)}")
    return plan


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise ValueError("must be true or false")


FAULT_KEYS: dict[str, FaultKey] = {
    "rate_limit_share": FaultKey(
        "SANDBOX_FAULT_RATE_LIMIT_SHARE", _share, "share of API calls answered 429 (0..1)"
    ),
    "error_share": FaultKey(
        "SANDBOX_FAULT_ERROR_SHARE", _share, "share of API calls answered 500 or 503 (0..1)"
    ),
    "latency_ms": FaultKey(
        "SANDBOX_FAULT_LATENCY_MS", _non_negative_int, "added latency on every API call (ms)"
    ),
    "download_cut_bytes": FaultKey(
        "SANDBOX_FAULT_DOWNLOAD_CUT_BYTES",
        _non_negative_int,
        "serve only this many bytes of an export file, then close (0 = off)",
    ),
    "link_seconds": FaultKey(
        "SANDBOX_FAULT_LINK_SECONDS",
        _non_negative_int,
        "lifetime of download links in seconds (0 = the normal 60 s); a client that downloads "
        "at once never sees it lapse: use link_lapses",
    ),
    "link_lapses": FaultKey(
        "SANDBOX_FAULT_LINK_LAPSES",
        _non_negative_int,
        "the next this many download requests are answered as lapsed links (403), each "
        "counting the switch down",
    ),
    "job_fail": FaultKey(
        "SANDBOX_FAULT_JOB_FAIL", _text, "jobs created while set fail with this reason ('' = off)"
    ),
    "job_pending_seconds": FaultKey(
        "SANDBOX_FAULT_JOB_PENDING_SECONDS",
        _non_negative_int,
        "jobs created while set stay pending this long",
    ),
    "job_rows_per_second": FaultKey(
        "SANDBOX_FAULT_JOB_ROWS_PER_SECOND",
        _non_negative_int,
        "export jobs write at most this many users a second, to watch progress (0 = off)",
    ),
    "clock_offset_seconds": FaultKey(
        "SANDBOX_FAULT_CLOCK_OFFSET_SECONDS",
        _int,
        "shift of the sandbox clock (token expiry, link expiry, job deletion)",
    ),
    "rate_limit_plan": FaultKey(
        "SANDBOX_RATE_LIMIT_PLAN", _plan, f"rate-limit plan: {', '.join(PLAN_NAMES)}"
    ),
    "tenant_plan": FaultKey(
        "SANDBOX_TENANT_PLAN",
        _tenant_plan,
        "tenant plan: log retention, and sessions/refresh tokens on enterprise only",
    ),
    "email_template_disabled": FaultKey(
        "SANDBOX_FAULT_EMAIL_TEMPLATE_DISABLED",
        _flag,
        "the verification email template is disabled: verification jobs fail",
    ),
}


class FaultError(ValueError):
    pass


def parse(key: str, value: Any) -> Any:
    if key not in FAULT_KEYS:
        raise FaultError(f"Unknown fault switch {key!r}; known: {', '.join(FAULT_KEYS)}")
    try:
        return FAULT_KEYS[key].parse(value)
    except (TypeError, ValueError) as exc:
        raise FaultError(f"Fault switch {key}: {exc}") from None


def defaults() -> dict[str, Any]:
    return {key: getattr(settings, spec.setting) for key, spec in FAULT_KEYS.items()}


def current() -> dict[str, Any]:
    """Every switch's value: its row if set, else its setting."""
    values = defaults()
    for row in Switch.objects.all():
        if row.key in values:
            values[row.key] = row.value
    return values


def set_many(changes: dict[str, Any]) -> dict[str, Any]:
    parsed = {key: parse(key, value) for key, value in changes.items()}
    for key, value in parsed.items():
        Switch.objects.update_or_create(key=key, defaults={"value": value})
    return current()


def take_link_lapse() -> bool:
    """Whether this download is answered as a lapsed link (``link_lapses`` counted down)."""
    with transaction.atomic():
        row = Switch.objects.select_for_update().filter(key="link_lapses").first()
        left = int(settings.SANDBOX_FAULT_LINK_LAPSES if row is None else row.value)
        if left <= 0:
            return False
        Switch.objects.update_or_create(key="link_lapses", defaults={"value": left - 1})
    return True


def reset() -> dict[str, Any]:
    Switch.objects.all().delete()
    return current()


def clock_offset() -> dt.timedelta:
    row = Switch.objects.filter(key="clock_offset_seconds").values_list("value", flat=True).first()
    seconds = settings.SANDBOX_FAULT_CLOCK_OFFSET_SECONDS if row is None else row
    return dt.timedelta(seconds=int(seconds))


def now() -> dt.datetime:
    """The sandbox's clock: real time shifted by the `clock_offset_seconds` switch."""
    return timezone.now() + clock_offset()
