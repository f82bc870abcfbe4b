"""What every sandbox Management API answer goes through: errors, tokens, rate limits, faults."""

from __future__ import annotations

import functools
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, tenant_logs, tokens
from sandbox.ratelimit import Decision, buckets


def json_type(value: Any) -> str:
    """A parsed JSON value's type as Auth0's payload validation names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


View = Callable[..., HttpResponse]
# Auth0 labels every answer, bodiless 204s included, with this (go-auth0 recordings).
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
API_PREFIX = "/api/v2/"

_random = random.Random()
_seen_lock = threading.Lock()
# API calls the server saw, per group (tests count an SDK's retries with it).
requests_seen: Counter[str] = Counter()


def json_response(data: Any, status: int = 200) -> JsonResponse:
    """A JSON answer as Auth0 sends it: compact, UTF-8, labelled `charset=utf-8`."""
    return JsonResponse(
        data,
        status=status,
        safe=False,
        content_type=JSON_CONTENT_TYPE,
        json_dumps_params={"ensure_ascii": False, "separators": (",", ":")},
    )


def api_error(status: int, message: str, error_code: str | None = None) -> JsonResponse:
    """Auth0's error body: `{statusCode, error, message, errorCode}` (errorCode when known)."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
    }
    if error_code:
        body["errorCode"] = error_code
    return json_response(body, status=status)


def shape_refused(name: str, value: Any, fields: dict[str, str], required: tuple[str, ...]) -> str:
    """Why a nested object of a request breaks its schema ('' when it does not): `fields` maps
    each allowed key to its JSON type, as the definition's `additionalProperties: false`
    objects have them. A null value is left to the caller."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        return f"'Expected type object but found type {json_type(value)}' on property {name}"
    extra = sorted(set(value) - set(fields))
    if extra:
        return f"'Additional properties not allowed: {','.join(extra)}' on property {name}"
    for key in required:
        if key not in value:
            return f"'Missing required property: {key}' on property {name}"
    for key, kind in fields.items():
        if key in value and json_type(value[key]) != kind:
            found = json_type(value[key])
            return f"'Expected type {kind} but found type {found}' on property {name}.{key}"
    return ""


class BadJson(ValueError):
    """A request body that is not strict JSON (RFC 8259), so it can never be sent back out."""


def _no_constant(name: str) -> Any:
    raise BadJson(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"{text} is out of range")
    return value


def _check_text(value: Any) -> None:
    """Refuse lone surrogates (`"\\ud800"`): no UTF-8 answer or export could carry them."""
    if isinstance(value, str):
        value.encode("utf-8")
    elif isinstance(value, dict):
        for key, item in value.items():
            key.encode("utf-8")
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def strict_json(raw: bytes) -> Any:
    """Parse a request body; raise ValueError unless it is strict JSON that can be stored.

    Python's parser accepts `NaN`, `Infinity`, `1e400` (as infinity) and lone surrogates, none
    of which can be written back as JSON: a user holding one would break every later read.
    """
    value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    try:
        _check_text(value)
    except UnicodeEncodeError:
        raise BadJson("lone surrogate in a string") from None
    return value


def form_values(request: HttpRequest) -> QueryDict:
    """A form-urlencoded body (`request.POST` is only parsed for POST)."""
    return QueryDict(request.body, encoding="utf-8")


def method_not_allowed() -> JsonResponse:
    return api_error(405, "Method Not Allowed")


def _rate_limited(decision: Decision) -> JsonResponse:
    if decision.bucket == "global":
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
            if decision.log_event:
                tenant_logs.rate_limit(
                    request,
                    decision.log_event,
                    bucket=decision.bucket,
                    limit=decision.limit,
                    remaining=decision.remaining,
                )
            response: HttpResponse | None
            if not decision.allowed:
                response = _rate_limited(decision)
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


def group_of(request: HttpRequest) -> str:
    """The rate-limit group a request to `/api/v2/...` counts against."""
    path = request.path.removeprefix(API_PREFIX)
    if path.startswith("users"):
        return "users_read" if request.method in ("GET", "HEAD") else "users_write"
    if path.startswith("connections"):
        return "connections"
    return "other"


def rate_limit_headers_middleware(get_response: View) -> View:
    """Answers no view rate-limited (405s, unrouted 404s) still carry X-RateLimit-*, as at
    Auth0; a 204 is labelled JSON like every other answer. Reads the bucket, takes nothing."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if not request.path.startswith(API_PREFIX):
            return response
        if "X-RateLimit-Limit" not in response:
            plan = faults.current()["rate_limit_plan"]
            for name, value in buckets.peek(plan, group_of(request)).headers().items():
                response[name] = value
        if response.status_code == 204:
            response["Content-Type"] = JSON_CONTENT_TYPE
        return response

    return middleware


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return api_error(404, "Not Found")


def server_error(request: HttpRequest) -> JsonResponse:
    return api_error(500, "Internal Server Error")
