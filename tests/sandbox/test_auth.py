"""The sandbox's token endpoint and how every Management API call checks its token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sandbox.tokens import GRANTED_SCOPES
from tests.fixtures.sandbox import SandboxServer


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset_faults()
    yield sandbox_server
    sandbox_server.reset_faults()


def _credentials(sandbox: SandboxServer, **changes: Any) -> dict[str, Any]:
    body = {
        "grant_type": "client_credentials",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "audience": sandbox.audience,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_token_from_json_body(sandbox: SandboxServer) -> None:
    response = httpx.post(f"{sandbox.base_url}/oauth/token", json=_credentials(sandbox))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["expires_in"] == 86400
    assert body["token_type"] == "Bearer"
    assert set(body["scope"].split()) >= {"read:users", "read:connections", "create:users"}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == f"https://{sandbox.domain}/"
    assert claims["sub"] == f"{sandbox.client_id}@clients"
    assert claims["aud"] == sandbox.audience
    assert claims["azp"] == sandbox.client_id
    assert claims["gty"] == "client-credentials"
    assert claims["exp"] - claims["iat"] == 86400
    assert claims["scope"] == body["scope"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"


def test_token_from_form_body_works_on_the_api(sandbox: SandboxServer) -> None:
    response = httpx.post(f"{sandbox.base_url}/oauth/token", data=_credentials(sandbox))
    assert response.status_code == 200
    token = response.json()["access_token"]

    listed = httpx.get(
        f"{sandbox.base_url}/api/v2/connections", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("changes", "status", "body"),
    [
        (
            {"client_secret": "wrong"},
            403,
            {"error": "access_denied", "error_description": "Unauthorized"},
        ),
        (
            {"client_id": "someone-else"},
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
        (
            {"client_secret": None},
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
        ),
        (
            {"grant_type": "password"},
            403,
            {
                "error": "unsupported_grant_type",
                "error_description": "Unsupported grant type: password",
            },
        ),
        (
            {"grant_type": None},
            400,
            {
                "error": "invalid_request",
                "error_description": "Missing required parameter: grant_type",
            },
        ),
        (
            {"audience": "https://elsewhere.example/api/v2/"},
            403,
            {
                "error": "access_denied",
                "error_description": "Service not found: https://elsewhere.example/api/v2/",
            },
        ),
        (
            {"scope": "read:users delete:clients"},
            403,
            {
                "error": "access_denied",
                "error_description": "Client has not been granted scopes: delete:clients",
            },
        ),
    ],
)
def test_token_refusals(
    sandbox: SandboxServer, changes: dict[str, Any], status: int, body: dict[str, str]
) -> None:
    response = httpx.post(f"{sandbox.base_url}/oauth/token", json=_credentials(sandbox, **changes))
    assert response.status_code == status
    assert response.json() == body


def test_audience_without_trailing_slash_is_another_api(sandbox: SandboxServer) -> None:
    audience = sandbox.audience.rstrip("/")
    response = httpx.post(
        f"{sandbox.base_url}/oauth/token", json=_credentials(sandbox, audience=audience)
    )
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def _connections(sandbox: SandboxServer, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{sandbox.base_url}/api/v2/connections", headers=headers)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing authentication"),
        ({"Authorization": "Basic abc"}, "Bad HTTP authentication header format"),
        ({"Authorization": "Bearer not-a-jwt"}, "Invalid token"),
    ],
)
def test_api_refuses_missing_or_malformed_tokens(
    sandbox: SandboxServer, headers: dict[str, str], message: str
) -> None:
    response = _connections(sandbox, headers)
    assert response.status_code == 401
    assert response.json() == {"statusCode": 401, "error": "Unauthorized", "message": message}
    assert "X-RateLimit-Limit" in response.headers


def test_api_refuses_a_token_signed_with_another_key(sandbox: SandboxServer) -> None:
    claims = jwt.decode(sandbox.token(), options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-sandbox-key-but-long-enough-for-hs256", algorithm="HS256")
    response = _connections(sandbox, {"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid signature received for JSON Web Token validation."


def test_api_refuses_an_expired_token(sandbox: SandboxServer) -> None:
    token = sandbox.token()
    headers = {"Authorization": f"Bearer {token}"}
    assert _connections(sandbox, headers).status_code == 200

    sandbox.shift_clock(86400 + 1)
    response = _connections(sandbox, headers)

    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Expired token received for JSON Web Token validation",
    }


def test_missing_scope_is_403_insufficient_scope(sandbox: SandboxServer) -> None:
    with sandbox.api(scope="read:users") as api:
        response = api.get("/api/v2/connections")
    assert response.status_code == 403
    assert response.json() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: read:connections",
        "errorCode": "insufficient_scope",
    }


def test_narrowed_scope_is_echoed_and_enough_for_its_endpoint(sandbox: SandboxServer) -> None:
    response = httpx.post(
        f"{sandbox.base_url}/oauth/token", json=_credentials(sandbox, scope="read:connections")
    )
    assert response.json()["scope"] == "read:connections"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert _connections(sandbox, headers).status_code == 200


def test_the_manual_names_every_scope_a_token_grants() -> None:
    manual = (Path(__file__).resolve().parents[2] / "docs" / "sandbox" / "index.md").read_text()
    granted = manual.split(") granting `", 1)[1].split("`", 1)[0].split()
    assert granted == list(GRANTED_SCOPES)
