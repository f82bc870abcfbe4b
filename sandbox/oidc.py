"""The sandbox tenant as a demo OpenID Connect provider: the Authentication API's sign-in endpoints.

`/.well-known/openid-configuration`, `/.well-known/jwks.json` (one RS256 key, kept in the var
folder), `/authorize` (a page to pick one of the seeded staff identities; `prompt=none` answers
from the sandbox's own session cookie), `POST /oauth/token` with `grant_type=authorization_code`
(other grants go on to the client-credentials endpoint in sandbox.tokens), and `/userinfo`.

Close to Auth0 where it matters to a client: the code flow with PKCE (S256), `state` and `nonce`
returned, a blocked user answered `error=unauthorized` / `user is blocked`, `login_required` for
`prompt=none` without a session. Not like Auth0: codes and access tokens are signed blobs rather
than stored grants (a code is still single-use within one sandbox process); any redirect URI on
a loopback host is accepted instead of a list of allowed callback URLs; the role claim is a plain
`groups` claim (a real tenant adds it in an Action, usually under a namespaced name).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template import Context, Template
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, tokens

# The dashboard's OIDC_SANDBOX defaults name the same client (config/settings.py).
CLIENT_ID = "sandbox-staff-sign-in"
CLIENT_SECRET = "sandbox-staff-sign-in-secret"
SESSION_COOKIE = "sandbox_oidc_session"
CODE_SECONDS = 60
ID_TOKEN_SECONDS = 36000
ACCESS_TOKEN_SECONDS = 86400
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class StaffIdentity:
    sub: str
    email: str
    name: str
    groups: tuple[str, ...]
    blocked: bool = False
    note: str = ""

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "groups": list(self.groups),
        }


# The tenant's staff directory: one identity per Userdesk role, one with none, one blocked.
STAFF_IDENTITIES = {
    identity.sub: identity
    for identity in (
        StaffIdentity(
            "auth0|staff-support",
            "support@userdesk.local",
            "Sam Support",
            ("userdesk-support",),
            note="groups: userdesk-support",
        ),
        StaffIdentity(
            "auth0|staff-exports",
            "exports@userdesk.local",
            "Erin Exports",
            ("userdesk-support", "userdesk-exports"),
            note="groups: userdesk-support, userdesk-exports",
        ),
        StaffIdentity(
            "auth0|staff-lead",
            "lead@userdesk.local",
            "Lee Lead",
            ("userdesk-support", "userdesk-leads"),
            note="groups: userdesk-support, userdesk-leads",
        ),
        StaffIdentity(
            "auth0|staff-visitor",
            "visitor@userdesk.local",
            "Val Visitor",
            (),
            note="no groups: Userdesk refuses the sign-in",
        ),
        StaffIdentity(
            "auth0|staff-blocked",
            "blocked@userdesk.local",
            "Bo Blocked",
            ("userdesk-support",),
            blocked=True,
            note="blocked: the sandbox refuses the sign-in",
        ),
    )
}


# --- The signing key ----------------------------------------------------------------------------


@dataclass
class _KeyStore:
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: rsa.RSAPrivateKey | None = None


_keys = _KeyStore()


def _key_path() -> Path:
    return Path(settings.VAR_DIR) / "sandbox-oidc-key.pem"


def signing_key() -> rsa.RSAPrivateKey:
    """The RS256 key, made once per var folder and kept, so ID tokens survive a restart."""
    with _keys.lock:
        if _keys.key is not None:
            return _keys.key
        path = _key_path()
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process wrote it first: use theirs
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(loaded, rsa.RSAPrivateKey)
        _keys.key = loaded
        return loaded


def public_jwk() -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(
        signing_key().public_key(), as_dict=True
    )
    thumbprint = hashlib.sha256(f"{jwk['e']}.{jwk['n']}".encode()).digest()
    jwk.update(kid=base64.urlsafe_b64encode(thumbprint[:12]).decode().rstrip("="))
    jwk.update(alg="RS256", use="sig")
    return jwk


# --- Endpoints ---------------------------------------------------------------------------------


def issuer(request: HttpRequest) -> str:
    """The issuer is where the sandbox is reached (a real tenant's is https://{domain}/)."""
    return f"{request.scheme}://{request.get_host()}/"


@login_not_required
def configuration(request: HttpRequest) -> JsonResponse:
    base = issuer(request)
    return JsonResponse(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}authorize",
            "token_endpoint": f"{base}oauth/token",
            "userinfo_endpoint": f"{base}userinfo",
            "jwks_uri": f"{base}.well-known/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "name"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
        }
    )


@login_not_required
def jwks(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"keys": [public_jwk()]})


LOGIN_PAGE = Template(
    """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Sign in · {{ tenant }}</title></head>
<body>
<main>
<h1>Sign in to {{ tenant }}</h1>
<p>The sandbox tenant's staff directory. Pick who you are signing in as (no password).</p>
{% if error %}<p role="alert"><strong>{{ error }}</strong></p>{% endif %}
<form method="post" action="authorize">
{% for name, value in params %}<input type="hidden" name="{{ name }}" value="{{ value }}">
{% endfor %}
<fieldset>
<legend>Staff identity</legend>
{% for identity in identities %}
<p><label><input type="radio" name="identity" value="{{ identity.sub }}"
{% if forloop.first %}checked{% endif %}>
{{ identity.name }} &lt;{{ identity.email }}&gt;</label> <small>({{ identity.note }})</small></p>
{% endfor %}
</fieldset>
<button type="submit">Continue</button>
</form>
</main>
</body>
</html>"""
)

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
)


def _redirect_back(redirect_uri: str, state: str, **params: str) -> HttpResponseRedirect:
    query = urlencode({**params, **({"state": state} if state else {})})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return HttpResponseRedirect(f"{redirect_uri}{separator}{query}")


def _plain_error(message: str) -> HttpResponse:
    # What Auth0 shows when it cannot trust the redirect URI: a page, not a redirect.
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


@csrf_exempt
@login_not_required
def authorize(request: HttpRequest) -> HttpResponse:
    source = request.POST if request.method == "POST" else request.GET
    params = {name: source.get(name, "") for name in AUTHORIZE_PARAMS}
    redirect_uri, state = params["redirect_uri"], params["state"]
    if params["client_id"] != CLIENT_ID:
        return _plain_error(f"Unknown client: {params['client_id'] or '(none)'}")
    target = urlsplit(redirect_uri)
    if target.scheme not in {"http", "https"} or target.hostname not in LOOPBACK_HOSTS:
        return _plain_error("The redirect_uri must be an http(s) URL on this machine.")
    if params["response_type"] != "code":
        return _redirect_back(
            redirect_uri,
            state,
            error="unsupported_response_type",
            error_description="Unsupported response type: " + params["response_type"],
        )
    if "openid" not in params["scope"].split():
        return _redirect_back(
            redirect_uri, state, error="invalid_scope", error_description="openid is required"
        )
    if params["code_challenge"] and params["code_challenge_method"] not in {"S256", "plain", ""}:
        return _redirect_back(
            redirect_uri,
            state,
            error="invalid_request",
            error_description="Unsupported code_challenge_method",
        )

    if request.method == "POST":
        identity = STAFF_IDENTITIES.get(request.POST.get("identity", ""))
        if identity is None:
            return _login_page(params, "Pick an identity.")
        return _grant(identity, params, set_session=True)

    if source.get("prompt") == "none":
        session_sub = _session_subject(request)
        identity = STAFF_IDENTITIES.get(session_sub or "")
        if identity is None:
            return _redirect_back(
                redirect_uri, state, error="login_required", error_description="Login required"
            )
        return _grant(identity, params, set_session=False)
    return _login_page(params, "")


def _login_page(params: dict[str, str], error: str) -> HttpResponse:
    html = LOGIN_PAGE.render(
        Context(
            {
                "tenant": settings.SANDBOX_TENANT,
                "params": [(name, value) for name, value in params.items() if value],
                "identities": list(STAFF_IDENTITIES.values()),
                "error": error,
            }
        )
    )
    return HttpResponse(html, status=400 if error else 200)


def _session_subject(request: HttpRequest) -> str | None:
    try:
        return str(
            signing.loads(
                request.COOKIES.get(SESSION_COOKIE, ""),
                key=settings.SANDBOX_SIGNING_KEY,
                salt="sandbox-oidc-session",
                max_age=ACCESS_TOKEN_SECONDS,
            )
        )
    except signing.BadSignature:
        return None


def _grant(identity: StaffIdentity, params: dict[str, str], *, set_session: bool) -> HttpResponse:
    redirect_uri, state = params["redirect_uri"], params["state"]
    if identity.blocked:
        response = _redirect_back(
            redirect_uri, state, error="unauthorized", error_description="user is blocked"
        )
        response.delete_cookie(SESSION_COOKIE)
        return response
    code = signing.dumps(
        {
            "sub": identity.sub,
            "client_id": params["client_id"],
            "redirect_uri": redirect_uri,
            "nonce": params["nonce"],
            "scope": params["scope"],
            "challenge": params["code_challenge"],
            "method": params["code_challenge_method"] or "plain",
        },
        key=settings.SANDBOX_SIGNING_KEY,
        salt="sandbox-oidc-code",
        compress=True,
    )
    response = _redirect_back(redirect_uri, state, code=code)
    if set_session:
        response.set_cookie(
            SESSION_COOKIE,
            signing.dumps(
                identity.sub, key=settings.SANDBOX_SIGNING_KEY, salt="sandbox-oidc-session"
            ),
            httponly=True,
            samesite="Lax",
        )
    return response


_used_codes_lock = threading.Lock()
_used_codes: set[str] = set()


def _token_error(status: int, error: str, description: str) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


def _client_credentials(request: HttpRequest, body: dict[str, Any]) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return str(body.get("client_id") or ""), str(body.get("client_secret") or "")


def _pkce_ok(challenge: str, method: str, verifier: str) -> bool:
    if not challenge:
        return True
    if not verifier:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return hmac.compare_digest(computed, challenge)
    return hmac.compare_digest(verifier, challenge)


@csrf_exempt
@login_not_required
def token(request: HttpRequest) -> HttpResponse:
    """`POST /oauth/token`: the authorization code here, every other grant in sandbox.tokens."""
    body = tokens._request_body(request) if request.method == "POST" else None
    if not body or body.get("grant_type") != "authorization_code":
        return tokens.token_view(request)
    client_id, secret = _client_credentials(request, body)
    if client_id != CLIENT_ID or not hmac.compare_digest(secret, CLIENT_SECRET):
        return _token_error(401, "invalid_client", "Client authentication failed")
    raw_code = str(body.get("code") or "")
    try:
        grant = signing.loads(
            raw_code,
            key=settings.SANDBOX_SIGNING_KEY,
            salt="sandbox-oidc-code",
            max_age=CODE_SECONDS,
        )
    except signing.BadSignature:
        return _token_error(403, "invalid_grant", "Invalid authorization code")
    with _used_codes_lock:
        if raw_code in _used_codes:
            return _token_error(403, "invalid_grant", "Invalid authorization code")
        _used_codes.add(raw_code)
    if grant["client_id"] != client_id or grant["redirect_uri"] != body.get("redirect_uri"):
        return _token_error(
            403,
            "invalid_grant",
            "Unauthorized: the redirect_uri does not match the one of the authorization",
        )
    if not _pkce_ok(grant["challenge"], grant["method"], str(body.get("code_verifier") or "")):
        return _token_error(403, "invalid_grant", "Failed to verify code verifier")
    identity = STAFF_IDENTITIES.get(grant["sub"])
    if identity is None or identity.blocked:
        return _token_error(401, "unauthorized", "user is blocked")
    now = int(faults.now().timestamp())
    claims = {
        **identity.claims(),
        "iss": issuer(request),
        "aud": client_id,
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "auth_time": now,
    }
    if grant["nonce"]:
        claims["nonce"] = grant["nonce"]
    id_token = jwt.encode(
        claims, signing_key(), algorithm="RS256", headers={"kid": public_jwk()["kid"]}
    )
    access_token = signing.dumps(
        {"sub": identity.sub, "scope": grant["scope"], "iat": now},
        key=settings.SANDBOX_SIGNING_KEY,
        salt="sandbox-oidc-access",
    )
    return JsonResponse(
        {
            "access_token": access_token,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": grant["scope"],
        },
        headers={"Cache-Control": "no-store"},
    )


@csrf_exempt
@login_not_required
def userinfo(request: HttpRequest) -> HttpResponse:
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    try:
        grant = signing.loads(
            value.strip(),
            key=settings.SANDBOX_SIGNING_KEY,
            salt="sandbox-oidc-access",
            max_age=ACCESS_TOKEN_SECONDS,
        )
    except signing.BadSignature:
        grant = None
    identity = STAFF_IDENTITIES.get(grant["sub"]) if grant and kind.lower() == "bearer" else None
    if identity is None or identity.blocked:
        response = HttpResponse("Unauthorized", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    claims = identity.claims()
    scopes = str(grant.get("scope", "")).split() if grant else []
    if "email" not in scopes:
        claims.pop("email", None)
        claims.pop("email_verified", None)
    return JsonResponse(claims)
