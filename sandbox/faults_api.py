"""`/sandbox/faults` and `/sandbox/stats`: the sandbox's own admin endpoints (not Auth0's).

Guarded by HTTP Basic auth with the sandbox client id and secret (`curl -u id:secret`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults
from sandbox.http import api_error, method_not_allowed, requests_seen
from sandbox.ratelimit import buckets


def _is_admin(request: HttpRequest) -> bool:
    kind, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic":
        return False
    try:
        client_id, _, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return client_id == settings.SANDBOX_CLIENT_ID and hmac.compare_digest(
        secret, settings.SANDBOX_CLIENT_SECRET
    )


def _denied() -> JsonResponse:
    response = api_error(401, "Sandbox admin endpoints need the sandbox client id and secret")
    response["WWW-Authenticate"] = 'Basic realm="sandbox"'
    return response


@csrf_exempt
@login_not_required
def faults_view(request: HttpRequest) -> JsonResponse:
    if not _is_admin(request):
        return _denied()
    if request.method == "GET":
        return JsonResponse(faults.current())
    if request.method == "PUT":
        try:
            changes = json.loads(request.body or b"{}")
        except ValueError:
            return api_error(400, "Send a JSON object of switch values", "invalid_body")
        if not isinstance(changes, dict):
            return api_error(400, "Send a JSON object of switch values", "invalid_body")
        try:
            return JsonResponse(faults.set_many(changes))
        except faults.FaultError as exc:
            return api_error(400, str(exc), "invalid_body")
    if request.method == "DELETE":
        # A clean slate for the next test: switches back to their settings, buckets full.
        current = faults.reset()
        buckets.reset()
        requests_seen.clear()
        return JsonResponse(current)
    return method_not_allowed()


@csrf_exempt
@login_not_required
def stats_view(request: HttpRequest) -> JsonResponse:
    if not _is_admin(request):
        return _denied()
    if request.method != "GET":
        return method_not_allowed()
    return JsonResponse({"requests": dict(requests_seen)})
