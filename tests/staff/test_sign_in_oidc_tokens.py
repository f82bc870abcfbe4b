"""ID tokens that must not sign anyone in: the cases no honest provider produces.

A small provider on a local HTTP server (the network's lowest seam) answers discovery, JWKS,
the token endpoint and userinfo; the token endpoint hands out the ID token each test crafts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.test import Client

from staff import audit
from staff.models import AuditEvent, StaffIdentity
from staff.oidc import forget_discovery
from staff.roles import ensure_roles

CLIENT_ID = "userdesk-local"
CLIENT_SECRET = "a client secret of at least thirty-two bytes"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWK = {**jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "k1"}


class Provider:
    def __init__(self) -> None:
        self.id_token = ""
        self.userinfo: dict[str, Any] = {
            "sub": "u1",
            "email": "eve@example.org",
            "email_verified": True,
            "groups": ["userdesk-support"],
        }
        self.keys = [JWK]
        self.key_set_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _json(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    base = provider.issuer
                    self._json(
                        {
                            "issuer": base,
                            "authorization_endpoint": f"{base}/authorize",
                            "token_endpoint": f"{base}/token",
                            "userinfo_endpoint": f"{base}/userinfo",
                            "jwks_uri": f"{base}/jwks",
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }
                    )
                elif path == "/jwks":
                    provider.key_set_fetches += 1
                    self._json({"keys": provider.keys})
                else:  # userinfo
                    self._json(provider.userinfo)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                self._json(
                    {"access_token": "at", "id_token": provider.id_token, "token_type": "Bearer"}
                )

        return Handler


@pytest.fixture
def local_provider(settings: Any, db: None) -> Iterator[Provider]:
    provider = Provider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_PROVIDER_NAME = "Local IdP"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_ROLE_MAP = {"userdesk-support": "Support"}
    ensure_roles()
    forget_discovery()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()
        forget_discovery()


def claims(provider: Provider, nonce: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "u1",
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": "eve@example.org",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def attempt(provider: Provider, token_for: Any) -> Client:
    client = Client(HTTP_HOST="localhost")
    query = parse_qs(urlsplit(client.get("/sign-in/oidc/")["Location"]).query)
    provider.id_token = token_for(query["nonce"][0])
    client.get("/sign-in/oidc/callback/", {"code": "c", "state": query["state"][0]})
    return client


def rs256(payload: dict[str, Any], key: Any = KEY, kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def test_a_good_token_signs_in(local_provider: Provider) -> None:
    client = attempt(local_provider, lambda nonce: rs256(claims(local_provider, nonce)))
    assert "_auth_user_id" in client.session
    assert User.objects.filter(username="eve@example.org").exists()


def test_the_key_set_is_kept_and_fetched_again_only_for_a_new_key_id(
    local_provider: Provider,
) -> None:
    for _ in range(2):
        client = attempt(local_provider, lambda nonce: rs256(claims(local_provider, nonce)))
        assert "_auth_user_id" in client.session
    assert local_provider.key_set_fetches == 1
    # The provider rotates its signing key: the first token with the new key id looks again.
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    local_provider.keys = [
        {**jwt.algorithms.RSAAlgorithm.to_jwk(rotated.public_key(), as_dict=True), "kid": "k2"}
    ]
    client = attempt(
        local_provider, lambda nonce: rs256(claims(local_provider, nonce), rotated, "k2")
    )
    assert "_auth_user_id" in client.session
    assert local_provider.key_set_fetches == 2
    # A key id the provider does not have is refused after one more look.
    client = attempt(local_provider, lambda nonce: rs256(claims(local_provider, nonce), kid="k9"))
    assert "_auth_user_id" not in client.session
    assert local_provider.key_set_fetches == 3
    (failure,) = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED)
    assert "no key 'k9'" in failure.details["reason"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("another audience", "Audience doesn't match"),
        ("another issuer", "Invalid issuer"),
        ("expired", "expired"),
        ("another nonce", "Nonce"),
        ("no expiry", "exp"),
        ("HS256 with the client secret as key", "not RS256"),
        ("signed by another key", "did not check out"),
    ],
)
def test_a_bad_token_signs_nobody_in(local_provider: Provider, case: str, expected: str) -> None:
    def token_for(nonce: str) -> str:
        good = claims(local_provider, nonce)
        if case == "another audience":
            return rs256({**good, "aud": "someone-else"})
        if case == "another issuer":
            return rs256({**good, "iss": "https://evil.example.com/"})
        if case == "expired":
            return rs256({**good, "exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200})
        if case == "another nonce":
            return rs256({**good, "nonce": "replayed"})
        if case == "no expiry":
            return rs256(claims(local_provider, nonce, exp=None))
        if case == "HS256 with the client secret as key":
            return jwt.encode(good, CLIENT_SECRET, algorithm="HS256", headers={"kid": "k1"})
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(good, other, algorithm="RS256", headers={"kid": "k1"})

    client = attempt(local_provider, token_for)
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username="eve@example.org").exists()
    (failure,) = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED)
    assert expected in failure.details["reason"]


NOT_VERIFIED = ["absent", "false", 0, "true", 1, None, False]


def signs_in_as(provider: Provider, email_verified: Any = True, **changes: Any) -> Client:
    """A sign-in whose userinfo says `email_verified` (the string "absent": no such claim)."""
    provider.userinfo = {**provider.userinfo, "email_verified": email_verified, **changes}
    if email_verified == "absent":
        del provider.userinfo["email_verified"]
    return attempt(provider, lambda nonce: rs256(claims(provider, nonce)))


def refusals() -> list[str]:
    events = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED).order_by("id")
    return [str(event.details["reason"]) for event in events]


@pytest.mark.parametrize("email_verified", NOT_VERIFIED)
def test_an_email_not_verified_as_true_binds_to_no_existing_account(
    local_provider: Provider, email_verified: Any
) -> None:
    from tests.fixtures.personas import make_staff

    member = make_staff("eve@example.org", "Support")
    client = signs_in_as(local_provider, email_verified)
    assert "_auth_user_id" not in client.session
    assert not StaffIdentity.objects.exists()
    (reason,) = refusals()
    assert "Local IdP has not verified the email address eve@example.org" in reason
    page = client.get("/sign-in/").content.decode()
    assert "has not verified the email address eve@example.org" in page
    assert User.objects.get().pk == member.pk


@pytest.mark.parametrize("email_verified", NOT_VERIFIED)
def test_an_email_not_verified_as_true_creates_no_account(
    local_provider: Provider, email_verified: Any
) -> None:
    client = signs_in_as(local_provider, email_verified)
    assert "_auth_user_id" not in client.session
    assert not User.objects.exists()
    (reason,) = refusals()
    assert "has not verified the email address" in reason


@pytest.mark.parametrize("email_verified", NOT_VERIFIED)
def test_a_superuser_is_not_reached_by_an_email_not_verified_as_true(
    local_provider: Provider, email_verified: Any
) -> None:
    User.objects.create_superuser("eve@example.org", "eve@example.org", "pw")
    client = signs_in_as(local_provider, email_verified, groups=[])
    assert "_auth_user_id" not in client.session
    assert not StaffIdentity.objects.exists()


def test_a_superuser_with_no_role_claim_is_refused_until_bound_by_subject(
    local_provider: Provider,
) -> None:
    """Superusers skip the no-role refusal only once the provider's account is theirs."""
    admin = User.objects.create_superuser("eve@example.org", "eve@example.org", "pw")
    for _ in range(2):  # a refused sign-in binds nothing, so a second one is refused too
        client = signs_in_as(local_provider, True, groups=[])
        assert "_auth_user_id" not in client.session
        assert not StaffIdentity.objects.exists()
    assert all("grants no Userdesk role" in reason for reason in refusals())
    # A sign-in whose claim granted a role bound the subject: from then on, let in without one.
    assert "_auth_user_id" in signs_in_as(local_provider, True, groups=["userdesk-support"]).session
    assert StaffIdentity.objects.get().user == admin
    client = signs_in_as(local_provider, True, groups=[])
    assert client.session["_auth_user_id"] == str(admin.pk)


def test_a_member_bound_by_subject_signs_in_but_keeps_their_verified_email(
    local_provider: Provider,
) -> None:
    assert "_auth_user_id" in signs_in_as(local_provider, True).session
    member = User.objects.get()
    client = signs_in_as(local_provider, "false", email="mallory@example.org")
    assert client.session["_auth_user_id"] == str(member.pk)
    member.refresh_from_db()
    assert member.email == "eve@example.org"
    assert "_auth_user_id" in signs_in_as(local_provider, True, email="eve2@example.org").session
    member.refresh_from_db()
    assert member.email == "eve2@example.org"
