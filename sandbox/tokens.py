"""Access tokens of the sandbox tenant: `POST /oauth/token` (client credentials), their checks."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import jwt
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults

# Everything the demo client is granted; a token request may ask for a subset with `scope`.
GRANTED_SCOPES = (
    "read:users",
    "update:users",
    "create:users",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:user_idp_tokens",
    "delete:users",
    "update:users_app_metadata",
    "read:logs",
    "read:logs_users",
    "create:user_tickets",
    "read:authentication_methods",
    "delete:authentication_methods",
    "read:sessions",
    "delete:sessions",
    "read:refresh_tokens",
    "delete:refresh_tokens",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "create:resource_servers",
    "read:resource_servers",
    "delete:resource_servers",
    "create:role_members",
    "delete:role_members",
    "read:organizations",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
)


def audience() -> str:
    return f"https://{settings.SANDBOX_DOMAIN}/api/v2/"


def issuer() -> str:
    return f"https://{settings.SANDBOX_DOMAIN}/"


def issue(client_id: str, scopes: tuple[str, ...] = GRANTED_SCOPES) -> tuple[str, int]:
    """A signed access token for the client and its lifetime in seconds."""
    issued_at = int(faults.now().timestamp())
    lifetime = settings.SANDBOX_TOKEN_LIFETIME_SECONDS
    claims = {
        "iss": issuer(),
        "sub": f"{client_id}@clients",
        "aud": audience(),
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "scope": " ".join(scopes),
        "gty": "client-credentials",
        "azp": client_id,
    }
    return jwt.encode(claims, settings.SANDBOX_SIGNING_KEY, algorithm="HS256"), lifetime


@dataclass(frozen=True)
class TokenProblem(Exception):
    message: str


def verify(token: str) -> dict[str, Any]:
    """The claims of a valid token, or TokenProblem with Auth0's 401 message."""
    try:
        claims = jwt.decode(
            token,
            settings.SANDBOX_SIGNING_KEY,
            algorithms=["HS256"],
            # Times are checked below against the sandbox clock, which tests may shift.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "require": ["exp", "aud"],
            },
        )
    except jwt.InvalidSignatureError:
        raise TokenProblem("Invalid signature received for JSON Web Token validation.") from None
    except jwt.PyJWTError:
        raise TokenProblem("Invalid token") from None
    if claims.get("aud") != audience():
        raise TokenProblem(f"Bad audience: {claims.get('aud')}")
    if not isinstance(claims["exp"], int) or claims["exp"] <= faults.now().timestamp():
        raise TokenProblem("Expired token received for JSON Web Token validation")
    return claims


def _oauth_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _request_body(request: HttpRequest) -> dict[str, Any] | None:
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


@csrf_exempt
@login_not_required
def token_view(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse(
            {"statusCode": 404, "error": "Not Found", "message": "Not Found"}, status=404
        )
    body = _request_body(request)
    if body is None:
        return _oauth_error(400, "invalid_request", "Invalid request body")
    grant_type = body.get("grant_type")
    if grant_type != "client_credentials":
        if not grant_type:
            return _oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
        return _oauth_error(403, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    client_id = str(body.get("client_id") or "")
    client_secret = str(body.get("client_secret") or "")
    if not client_id or not client_secret or client_id != settings.SANDBOX_CLIENT_ID:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    if not hmac.compare_digest(client_secret, settings.SANDBOX_CLIENT_SECRET):
        return _oauth_error(403, "access_denied", "Unauthorized")
    requested_audience = str(body.get("audience") or "")
    if requested_audience != audience():
        if not requested_audience:
            return _oauth_error(
                403,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            )
        return _oauth_error(403, "access_denied", f"Service not found: {requested_audience}")
    scopes: tuple[str, ...] = GRANTED_SCOPES
    if body.get("scope"):
        wanted = tuple(str(body["scope"]).split())
        missing = [scope for scope in wanted if scope not in GRANTED_SCOPES]
        if missing:
            return _oauth_error(
                403, "access_denied", f"Client has not been granted scopes: {','.join(missing)}"
            )
        scopes = wanted
    token, lifetime = issue(client_id, scopes)
    return JsonResponse(
        {
            "access_token": token,
            "expires_in": lifetime,
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }
    )
