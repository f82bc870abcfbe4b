"""The tenant's log events: what API writes and seeded sign-ins append, what `/logs` reads.

Events are stored as the JSON the API returns (`LogEvent.body`), with the user id and date as
columns. Management API writes are `sapi` events with `user_id: null` (as Auth0 records them),
so a user's own log list does not show them; `GET /api/v2/logs?q=type:sapi` does.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction

from sandbox import faults
from sandbox.routers import SANDBOX_DB
from sandbox.support_models import LogEvent

# Retention of log events per tenant plan, in days:
# https://auth0.com/docs/deploy-monitor/logs/log-data-retention
RETENTION_DAYS = {"free": 1, "essentials": 5, "professional": 10, "enterprise": 30}
# Auth0's own wording for each type the sandbox writes (log-event-type-codes).
DESCRIPTIONS = {
    "s": "Successful login event.",
    "f": "Failed login",
    "fp": "Wrong email or password.",
    "fu": "Wrong email or password.",
    "ss": "",
    "scp": "Password changed successfully.",
    "fcp": "Failed to change password.",
    "scpr": "",
    "sce": "",
    "scu": "",
    "scpn": "",
    "sv": "Successfully consumed email verification link",
    "fv": "Failed to send verification email",
    "svr": "Successfully called verification email endpoint. Verification email in queue to send.",
    "fvr": "Failed to process verification email request",
    "limit_wc": "An IP address is blocked because it reached the maximum failed login attempts "
    "into a single account.",
    "ublkdu": "User login block released",
    "gd_enrollment_complete": "Guardian - Enrollment complete",
    "gd_unenroll": "Guardian - Unenroll device account",
    "gd_auth_succeed": "MFA Auth success",
    "gd_auth_failed": "MFA Auth failed",
    "slo": "User successfully logged out",
    "srrt": "Successfully revoked a refresh token",
    "sdu": "User successfully deleted",
    "api_limit": "The maximum number of requests to the Management API in given time has "
    "been reached",
    "api_limit_warning": "The limit of requests to the Management API in given time is about "
    "to be reached",
}
API_CLIENT_NAME = ""
LOGIN_CLIENT = ("AaiyAPdpYdesoKnqjj8HJqRn4T5titww", "Userdesk Demo App")


def retention_days(plan: str | None = None) -> int:
    return RETENTION_DAYS[plan or str(faults.current()["tenant_plan"])]


def iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Tails count up from a random start: unique, and in write order within one millisecond.
_tails = itertools.count(secrets.randbelow(10**30) * 10**5)


def new_log_id(moment: dt.datetime, tail: int | None = None) -> str:
    """56 digits like Auth0's: 900, the UTC time to the millisecond, then a unique tail."""
    moment = moment.astimezone(dt.UTC)
    stamp = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    number = next(_tails) if tail is None else tail
    return f"900{stamp}{number:036d}"


def event(
    kind: str,
    *,
    moment: dt.datetime,
    log_id: str,
    user: dict[str, Any] | None = None,
    description: str | None = None,
    connection: dict[str, str] | None = None,
    client: tuple[str, str] | None = None,
    ip: str = "",
    user_agent: str = "",
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One log event shaped like Auth0's (`Log` in the definition, recorded key order)."""
    body: dict[str, Any] = {
        "date": iso(moment),
        "type": kind,
        "description": DESCRIPTIONS.get(kind, "") if description is None else description,
    }
    if connection is not None:
        body["connection"] = connection["name"]
        body["connection_id"] = connection["id"]
    body["client_id"] = client[0] if client else ""
    body["client_name"] = client[1] if client else API_CLIENT_NAME
    body["ip"] = ip
    body["user_agent"] = user_agent
    body["details"] = details or {}
    body["hostname"] = settings.SANDBOX_DOMAIN
    if user is not None:
        body["user_id"] = user["user_id"]
        body["user_name"] = user.get("email") or user.get("username") or user.get("name") or ""
        identities = user.get("identities") or [{}]
        provider = identities[0].get("provider", "")
        body["strategy"] = provider
        body["strategy_type"] = (
            "database"
            if provider == "auth0"
            else "enterprise"
            if provider in ("samlp", "waad", "adfs", "oidc")
            else "social"
        )
    else:
        body["user_id"] = None
    body["log_id"] = log_id
    body["_id"] = log_id
    body["isMobile"] = False
    return body


def row(body: dict[str, Any]) -> LogEvent:
    return LogEvent(
        log_id=body["log_id"],
        user_id=body["user_id"] or "",
        date=body["date"],
        type=body["type"],
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )


def append(kind: str, **fields: Any) -> dict[str, Any]:
    """Write one event now (sandbox clock) and return it."""
    moment = faults.now()
    body = event(kind, moment=moment, log_id=new_log_id(moment), **fields)
    with transaction.atomic(using=SANDBOX_DB):
        row(body).save(using=SANDBOX_DB, force_insert=True)
    return body


def api_write(
    request: Any,
    description: str,
    *,
    status: int,
    body: Any,
    response_body: Any,
    scopes: Iterable[str] = (),
) -> dict[str, Any]:
    """The `sapi` event of a Management API write (user_id null, the target in the path)."""
    path = request.META.get("REQUEST_URI") or request.get_full_path()
    path, _, _ = str(path).partition("?")
    details = {
        "request": {
            "method": request.method.lower(),
            "path": path,
            "query": {key: request.GET.get(key) for key in request.GET},
            "userAgent": request.headers.get("User-Agent", ""),
            "body": body,
            "channel": "api",
            "ip": request.META.get("REMOTE_ADDR", ""),
            "auth": {
                "user": {},
                "strategy": "jwt",
                "credentials": {"scopes": sorted(scopes)},
            },
        },
        "response": {"statusCode": status, "body": response_body},
    }
    return append(
        "sapi",
        description=description,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=_agent(request.headers.get("User-Agent", "")),
        details=details,
    )


def rate_limit(request: Any, kind: str, *, bucket: str, limit: int, remaining: int) -> None:
    """`api_limit_warning` (a bucket 80% used) or `api_limit` (a bucket exceeded)."""
    append(
        kind,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=_agent(request.headers.get("User-Agent", "")),
        details={"api": "management", "bucket": bucket, "limit": limit, "remaining": remaining},
    )


def _agent(raw: str) -> str:
    # Auth0 normalises user agents to "Family x.y.z / OS x.y.z"; unknown clients read as Other.
    return "Other 0.0.0 / Other 0.0.0" if raw else ""
