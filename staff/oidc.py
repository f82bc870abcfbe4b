"""Staff sign-in with the company's OpenID Connect provider (mozilla-django-oidc, configured here).

The provider is found by discovery: `{OIDC_ISSUER}/.well-known/openid-configuration` is fetched
once and kept in the cache, so nothing is fetched at start-up and a provider that is down never
stops password sign-in. mozilla-django-oidc does the flow (state, nonce, PKCE S256, the code
exchange, JWKS lookup of the RS256 key); this module adds what it leaves open: the ID token's
issuer and audience, the role claim mapped to Userdesk roles at every sign-in and re-check,
users created just in time, and a reason for every refusal, shown to the staff member and
written to the audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.views.generic import View
from django_htmx.http import HttpResponseClientRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from management_api.tenants import all_tenants

from .audit import IDENTITY_BOUND, SIGN_IN, client_ip, record_for, record_sign_in_failure
from .models import StaffIdentity
from .permissions import ROLE_CAPABILITIES
from .roles import current_roles, set_roles, split_role

log = logging.getLogger(__name__)

REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")
_memo_lock = threading.Lock()
_memo: dict[str, tuple[float, dict[str, Any]]] = {}


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be fetched or is not usable."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def provider_name() -> str:
    return str(settings.OIDC_PROVIDER_NAME)


def discovery() -> dict[str, Any]:
    """The provider's OpenID configuration, fetched once per OIDC_DISCOVERY_CACHE_SECONDS."""
    issuer = settings.OIDC_ISSUER
    lifetime = settings.OIDC_DISCOVERY_CACHE_SECONDS
    now = time.monotonic()
    with _memo_lock:
        memo = _memo.get(issuer)
    if memo and now - memo[0] < lifetime:
        return memo[1]
    key = f"oidc-discovery:{issuer}"
    document = cache.get(key)
    if not isinstance(document, dict):
        document = _fetch_discovery(issuer)
        cache.set(key, document, lifetime)
    with _memo_lock:
        _memo[issuer] = (now, document)
    return document


def _fetch_discovery(issuer: str) -> dict[str, Any]:
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=settings.OIDC_TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ProviderUnavailable(f"{url} did not answer with a configuration ({exc})") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not answer with a JSON object")
    # OpenID Connect Discovery 1.0, section 4.3: the issuer must be exactly the one asked for.
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}"
        )
    missing = [name for name in REQUIRED_ENDPOINTS if not document.get(name)]
    if missing:
        raise ProviderUnavailable(f"{url} lacks {', '.join(missing)}")
    algorithms = document.get("id_token_signing_alg_values_supported") or []
    if "RS256" not in algorithms:
        raise ProviderUnavailable(f"{url} does not offer RS256 ID tokens")
    methods = document.get("code_challenge_methods_supported")
    if methods is not None and "S256" not in methods:
        raise ProviderUnavailable(f"{url} does not offer PKCE with S256")
    return document


def forget_discovery() -> None:
    """Drop the cached configuration and keys of the current issuer (tests, a new provider)."""
    with _memo_lock:
        _memo.pop(settings.OIDC_ISSUER, None)
    cache.delete(f"oidc-discovery:{settings.OIDC_ISSUER}")
    cache.delete(f"oidc-jwks:{settings.OIDC_ISSUER}")


def signing_keys(*, fresh: bool = False) -> list[dict[str, Any]]:
    """The provider's JWKS keys, kept as long as the discovery document; `fresh` fetches them
    again (a token signed with a key id we have not seen: the provider rotated its keys)."""
    key = f"oidc-jwks:{settings.OIDC_ISSUER}"
    keys = None if fresh else cache.get(key)
    if isinstance(keys, list):
        return keys
    url = str(discovery()["jwks_uri"])
    try:
        response = httpx.get(url, timeout=settings.OIDC_TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
        keys = response.json()["keys"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable(f"{url} did not answer with a key set ({exc})") from None
    if not isinstance(keys, list):
        raise ProviderUnavailable(f"{url} did not answer with a key set")
    cache.set(key, keys, settings.OIDC_DISCOVERY_CACHE_SECONDS)
    return keys


def _matching_key(keys: list[dict[str, Any]], header: dict[str, Any]) -> dict[str, Any] | None:
    kid, alg = header.get("kid"), header.get("alg")
    for jwk in keys:
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("alg", alg) == alg:
            return jwk
    return None


def claim_values(claims: dict[str, Any]) -> list[str]:
    """The role claim's values: a list of strings, or one string of space- or comma-separated."""
    raw = claims.get(settings.OIDC_ROLE_CLAIM)
    if isinstance(raw, str):
        return [part for part in raw.replace(",", " ").split() if part]
    if isinstance(raw, list | tuple):
        return [str(item) for item in raw]
    return []


def mapped_roles(claims: dict[str, Any]) -> set[str]:
    """Userdesk roles the claim grants through OIDC_ROLE_MAP: names in ROLE_CAPABILITIES, a
    role on every tenant, or "Role@tenant", a role on that one (a tenant not configured grants
    nothing)."""
    role_map: dict[str, str] = settings.OIDC_ROLE_MAP
    slugs = {tenant.slug for tenant in all_tenants()}
    granted = set()
    for value in claim_values(claims):
        name, tenant = split_role(role_map.get(value, ""))
        if name in ROLE_CAPABILITIES and (not tenant or tenant in slugs):
            granted.add(role_map[value])
    return granted


class SignInRefused(Exception):
    """A sign-in the provider allowed but Userdesk refuses; the message is for the person."""


def _fail(request: HttpRequest, reason: str) -> None:
    request.oidc_failure = reason  # type: ignore[attr-defined]


class PasswordBackend(ModelBackend):
    """Email and password, the break-glass sign-in; PASSWORD_SIGN_IN=false switches it off.

    Switched off, it also stops recognising sessions it opened, so they end at once.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not settings.PASSWORD_SIGN_IN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: int) -> User | None:
        if not settings.PASSWORD_SIGN_IN:
            return None
        return super().get_user(user_id)


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """The code flow of mozilla-django-oidc, with endpoints from discovery and Userdesk roles."""

    OIDC_RP_SIGN_ALGO = "RS256"
    OIDC_RP_IDP_SIGN_KEY = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The parent reads every endpoint here; this backend is built for each password sign-in
        # too, so endpoints are looked up only when an OIDC callback needs them.
        self.UserModel = User

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return str(discovery()["token_endpoint"])

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return str(discovery()["userinfo_endpoint"])

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return str(discovery()["jwks_uri"])

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return str(settings.OIDC_RP_CLIENT_SECRET)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not enabled() or "code" not in request.GET:
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except ProviderUnavailable as exc:
            log.warning("OIDC sign-in: %s", exc)
            _fail(request, f"{provider_name()} could not be reached. Try again in a moment.")
            return None
        except requests.RequestException as exc:
            log.warning("OIDC sign-in: the code exchange failed: %s", exc)
            _fail(
                request, f"{provider_name()} did not accept the sign-in (the code exchange failed)."
            )
            return None
        except SuspiciousOperation as exc:
            log.warning("OIDC sign-in refused: %s", exc)
            _fail(request, f"The answer from {provider_name()} did not check out: {exc}")
            return None
        return user

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        # The parent fetches the JWKS at every sign-in; keep it, and look again only for a key
        # id it does not hold.
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SuspiciousOperation("the ID token is not a JWT") from None
        key = _matching_key(signing_keys(), header)
        if key is None:
            key = _matching_key(signing_keys(fresh=True), header)
        if key is None:
            raise SuspiciousOperation(f"no key {header.get('kid')!r} in the provider's key set")
        return jwt.PyJWK(key)

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        # The parent skips the audience and the issuer; an ID token for another client, or from
        # another provider that shares its keys, must not sign anyone in.
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.PyJWTError:
            raise SuspiciousOperation("the ID token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise SuspiciousOperation(f"the ID token is signed with {header.get('alg')}, not RS256")
        try:
            return dict(
                jwt.decode(
                    payload,
                    key,
                    algorithms=["RS256"],
                    audience=self.OIDC_RP_CLIENT_ID,
                    issuer=settings.OIDC_ISSUER,
                    leeway=settings.OIDC_CLOCK_LEEWAY_SECONDS,
                    options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                )
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"the ID token was rejected ({exc})") from None

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("the userinfo answer is about another subject")
        claims = {**payload, **userinfo}
        try:
            user = sign_in_from_claims(claims, self.request)
        except SignInRefused as refused:
            _fail(self.request, str(refused))
            return None
        user.oidc_subject = str(payload["sub"])  # type: ignore[attr-defined]
        return user


def sign_in_from_claims(claims: dict[str, Any], request: HttpRequest | None) -> User:
    """The staff member these verified claims describe, created or updated, roles from the claim.

    The provider's account (issuer and subject) is bound to the staff member at the first
    sign-in and finds them from then on; the email only finds an account not bound yet, and
    only an email the provider marks verified (`email_verified` the JSON boolean true; absent,
    "true", 1 and the like do not count) finds, creates or renames one. Raises SignInRefused
    when the claims grant no Userdesk role (an existing member loses their roles at once; a
    superuser is let in without one only through a binding made before), lack a verified email
    for an account not bound yet, or name an account bound to another subject.
    """
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise SignInRefused(f"{provider_name()} sent no email address for this account.")
    verified = claims.get("email_verified") is True
    issuer, subject = str(claims.get("iss") or settings.OIDC_ISSUER), str(claims["sub"])
    roles = mapped_roles(claims)
    identity = (
        StaffIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    )
    if identity is None and not verified:
        raise SignInRefused(
            f"{provider_name()} has not verified the email address {email}, so it cannot "
            "open a Userdesk account. Verify it there, or ask your administrator."
        )
    user = identity.user if identity else User.objects.filter(username=email).first()
    if identity is None and user is not None:
        bound = StaffIdentity.objects.filter(user=user, issuer=issuer).first()
        if bound is not None:
            raise SignInRefused(
                f"The Userdesk account {email} belongs to another account at {provider_name()}. "
                "Ask your administrator if this is a mistake."
            )
    if user is None:
        if not roles:
            raise SignInRefused(
                f"Your account at {provider_name()} ({email}) grants no Userdesk role. "
                "Ask your administrator for access."
            )
        user = User(username=email, email=email)
        user.set_unusable_password()
        user.save()
    elif not user.is_active:
        raise SignInRefused(f"The Userdesk account {user.get_username()} is deactivated.")
    had_roles = bool(current_roles(user))
    set_roles(user, roles, source="claim", request=request, subject=subject)
    if not roles and not (user.is_superuser and identity is not None):
        raise SignInRefused(
            f"Your account at {provider_name()} ({email}) no longer grants a Userdesk role, "
            "so your access has ended. Ask your administrator if this is a mistake."
            if had_roles
            else f"Your account at {provider_name()} ({email}) grants no Userdesk role. "
            "Ask your administrator for access."
        )
    if identity is None:
        identity = StaffIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        record_for(request, user, IDENTITY_BOUND, provider=provider_name(), subject=subject)
    StaffIdentity.objects.filter(pk=identity.pk).update(last_sign_in_at=timezone.now())
    if verified and user.email != email:
        user.email = email  # the provider's address now; the username stays as it was
        user.save(update_fields=["email"])
    return user


def _not_configured(request: HttpRequest) -> HttpResponse:
    messages.error(request, "Sign-in with an identity provider is not configured here.")
    return redirect("login")


def _login_not_required(view: Any) -> Any:
    view.login_required = False
    return view


class SignInStartView(OIDCAuthenticationRequestView):
    """`/oidc/start/`: sends the browser to the provider with state, nonce and a PKCE challenge."""

    def __init__(self, **kwargs: Any) -> None:
        View.__init__(self, **kwargs)

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:
        return str(discovery()["authorization_endpoint"])

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(settings.OIDC_RP_CLIENT_ID)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return _not_configured(request)
        try:
            discovery()
        except ProviderUnavailable as exc:
            log.warning("OIDC sign-in: %s", exc)
            messages.error(
                request, f"{provider_name()} could not be reached. Try again in a moment."
            )
            return redirect("login")
        return super().get(request)


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """`/oidc/callback/`: the provider's answer; a refusal is shown and audited, never a 500."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return _not_configured(request)
        if request.GET.get("state") not in request.session.get("oidc_states", {}):
            return self.not_started_here()
        try:
            return super().get(request)
        except SuspiciousOperation:
            # The state was used meanwhile (the same answer twice at once).
            return self.not_started_here()

    def login_success(self) -> HttpResponse:
        request = self.request
        rechecked = request.user.is_authenticated and request.user == self.user
        response: HttpResponse = super().login_success()
        if not rechecked:  # a re-check of an open session is no new sign-in
            record_for(
                request,
                self.user,
                SIGN_IN,
                self.user.get_username(),
                method="oidc",
                provider=provider_name(),
                subject=str(getattr(self.user, "oidc_subject", "")),
            )
        return response

    def not_started_here(self) -> HttpResponse:
        """An answer to no sign-in this browser has pending (a link someone else made, a used
        state): it changes nothing, signs nobody out and shows none of its text. Audited, at
        most UNSTARTED_AUDITED_PER_HOUR times an hour per address, since anyone can send it."""
        request = self.request
        reason = "This sign-in link was not started in this browser, or was used twice."
        if _count_unstarted(request) <= UNSTARTED_AUDITED_PER_HOUR:
            error = request.GET.get("error", "")
            code = error if error in OAUTH_ERRORS else ("other" if error else "")
            record_sign_in_failure(request, method="oidc", reason=reason, error=code)
        messages.error(request, f"{reason} Nothing changed.")
        return HttpResponseRedirect(reverse("login"))

    def login_failure(self) -> HttpResponse:
        request = self.request
        reason = getattr(request, "oidc_failure", None)
        error = request.GET.get("error")
        if reason is None and error in {"login_required", "interaction_required"}:
            reason = f"Your session at {provider_name()} has ended. Sign in again."
        elif reason is None and error:
            # The provider's own words, to the browser that started this sign-in.
            detail = (request.GET.get("error_description") or error)[:DESCRIPTION_SHOWN]
            reason = f"{provider_name()} refused the sign-in: {detail}"
        elif reason is None:
            reason = "The sign-in did not complete. Try again."
        record_sign_in_failure(request, method="oidc", reason=reason, error=error or "")
        messages.error(request, reason)
        return HttpResponseRedirect(reverse("login"))


# The error codes of OAuth 2.0 (RFC 6749, 4.1.2.1) and OpenID Connect (Core, 3.1.2.6).
OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    }
)
DESCRIPTION_SHOWN = 300
UNSTARTED_AUDITED_PER_HOUR = 20


def _count_unstarted(request: HttpRequest) -> int:
    """How many unstarted callbacks this address sent in the current hour, this one included."""
    key = f"oidc-unstarted:{client_ip(request)}:{int(time.time() // 3600)}"
    cache.add(key, 0, 3600)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        return 1


sign_in_start = _login_not_required(SignInStartView.as_view())
sign_in_callback = _login_not_required(SignInCallbackView.as_view())


class SessionRecheck(SessionRefresh):
    """Re-checks an OIDC session with the provider every OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS.

    mozilla-django-oidc's SessionRefresh sends the browser to the provider with `prompt=none`;
    an account disabled there comes back with `login_required` and is signed out. This subclass
    reads its settings per request (tests and discovery), and answers htmx with HX-Redirect.
    """

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)

    OIDC_EXEMPT_URLS: list[str] = []
    OIDC_STATE_SIZE = 32
    OIDC_NONCE_SIZE = 32
    OIDC_USE_NONCE = True
    OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:
        return str(discovery()["authorization_endpoint"])

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return str(settings.OIDC_RP_CLIENT_ID)

    @property
    def OIDC_RP_SCOPES(self) -> str:
        return str(settings.OIDC_RP_SCOPES)

    @property
    def exempt_urls(self) -> set[str]:
        return {
            reverse("oidc_authentication_init"),
            reverse("oidc_authentication_callback"),
            reverse("logout"),
            reverse("healthz"),
        }

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        backend = request.session.get(BACKEND_SESSION_KEY) if hasattr(request, "session") else None
        if not enabled() or backend != OIDC_BACKEND:
            return False
        return bool(super().is_refreshable_url(request))

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            response = super().process_request(request)
        except ProviderUnavailable as exc:
            # The browser could not reach it either; the next request tries again.
            log.warning("OIDC session re-check skipped: %s", exc)
            return None
        if isinstance(response, HttpResponseRedirect) and request.headers.get("HX-Request"):
            return HttpResponseClientRedirect(response["Location"])
        return response


OIDC_BACKEND = f"{StaffOIDCBackend.__module__}.{StaffOIDCBackend.__qualname__}"
PASSWORD_BACKEND = f"{PasswordBackend.__module__}.{PasswordBackend.__qualname__}"
