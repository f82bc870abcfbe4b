"""What every sandbox Management API answer goes through: errors, tokens, rate limits, faults."""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, tokens
from sandbox.ratelimit import Decision, buckets

View = Callable[..., HttpResponse]

_random = random.Random()
_seen_lock = threading.Lock()
# API calls the server saw, per group (tests count an SDK's retries with it).
requests_seen: Counter[str] = Counter()


def api_error(status: int, message: str, error_code: str | None = None) -> JsonResponse:
    """Auth0's error body: `{statusCode, error, message, errorCode}` (errorCode when known)."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if error_code:
        body["errorCode"] = error_code
    return JsonResponse(body, status=status)


def method_not_allowed() -> JsonResponse:
    return api_error(405, "Method Not Allowed")


def _rate_limited(decision: Decision, plan: str) -> JsonResponse:
    if plan == "free":
        message = "Global limit has been reached"
    else:
        message = f"Global per second {decision.bucket} group limit has been reached"
    return api_error(429, message, "too_many_requests")


def expected_any(*scopes: str) -> str:
    """The 403 text most of Auth0's definition gives: `Insufficient scope; expected any of: a,b.`"""
    return f"Insufficient scope; expected any of: {','.join(scopes)}."


def _authenticate(
    request: HttpRequest, scopes: tuple[str, ...], forbidden: str | None = None
) -> JsonResponse | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return api_error(401, "Missing authentication")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return api_error(401, "Bad HTTP authentication header format")
    try:
        claims = tokens.verify(token.strip())
    except tokens.TokenProblem as problem:
        return api_error(401, problem.message)
    granted = set(str(claims.get("scope", "")).split())
    request.sandbox_scopes = granted  # type: ignore[attr-defined]
    if scopes and not granted.intersection(scopes):
        message = forbidden or f"Insufficient scope, expected any of: {','.join(scopes)}"
        return api_error(403, message, "insufficient_scope")
    return None


def granted_scopes(request: HttpRequest) -> set[str]:
    """The scopes of the request's token (set by `management_api` once it is verified)."""
    return set(getattr(request, "sandbox_scopes", ()))


def _forced_fault(switches: dict[str, Any]) -> JsonResponse | None:
    if switches["rate_limit_share"] and _random.random() < switches["rate_limit_share"]:
        response = api_error(429, "Global limit has been reached", "too_many_requests")
        response["Retry-After"] = "1"
        response["X-RateLimit-Remaining"] = "0"
        response["X-RateLimit-Reset"] = str(int(time.time()) + 1)
        return response
    if switches["error_share"] and _random.random() < switches["error_share"]:
        status = _random.choice((500, 503))
        return api_error(status, HTTPStatus(status).phrase)
    return None


def management_api(
    scopes: tuple[str, ...], group: str, forbidden: str | None = None
) -> Callable[[View], View]:
    """Wrap a `/api/v2` view: latency, rate limit, bearer token and scope, fault switches.

    Every answer, errors included, carries the group's X-RateLimit-* headers; the switches are
    read once per request and left on `request.sandbox_switches` for the view. `forbidden` is
    the endpoint's own 403 text when its definition words it differently.
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @login_not_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            with _seen_lock:
                requests_seen[group] += 1
            switches = faults.current()
            request.sandbox_switches = switches  # type: ignore[attr-defined]
            if switches["latency_ms"]:
                time.sleep(switches["latency_ms"] / 1000)
            plan = switches["rate_limit_plan"]
            decision = buckets.take(plan, group)
            response: HttpResponse | None
            if not decision.allowed:
                response = _rate_limited(decision, plan)
            else:
                response = _authenticate(request, scopes, forbidden) or _forced_fault(switches)
                if response is None:
                    response = view(request, *args, **kwargs)
            for name, value in decision.headers().items():
                if name not in response:
                    response[name] = value
            return response

        return wrapper

    return decorate


def sandbox_switches(request: HttpRequest) -> dict[str, Any]:
    switches = getattr(request, "sandbox_switches", None)
    return switches if switches is not None else faults.current()


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return api_error(404, "Not Found")


def server_error(request: HttpRequest) -> JsonResponse:
    return api_error(500, "Internal Server Error")
