"""`POST /api/v2/connections` on a real sandbox server: a second database connection made by API
(so an import round trip needs no SQL), Auth0's 201 shape, its checks and its 409; with plain
HTTP and with the official Python SDK (issue 22, item 9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0

from tests.fixtures.sandbox import SandboxServer, make_sandbox_server

RECORDED_KEYS = {
    "id",
    "options",
    "strategy",
    "name",
    "is_domain_connection",
    "enabled_clients",
    "realms",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    made = make_sandbox_server(tmp_path_factory.mktemp("connections-sandbox"), users=5, seed=3)
    made.set_faults(rate_limit_plan="off")
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with server.api() as client:
        yield client


def test_a_database_connection_is_created_listed_and_refused_twice(api: httpx.Client) -> None:
    created = api.post(
        "/api/v2/connections",
        json={"name": "second-db", "strategy": "auth0", "options": {"requires_username": False}},
    )
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    body = created.json()
    assert set(body) >= RECORDED_KEYS
    assert body["id"].startswith("con_")
    assert len(body["id"]) == 20
    assert body["strategy"] == "auth0"
    assert body["name"] == "second-db"
    assert body["realms"] == ["second-db"]
    assert body["options"]["requires_username"] is False
    assert body["options"]["passwordPolicy"] == "good"

    listed = api.get("/api/v2/connections", params={"strategy": "auth0"}).json()
    assert body["id"] in [c["id"] for c in listed]
    one = api.get(f"/api/v2/connections/{body['id']}").json()
    assert one["name"] == "second-db"

    again = api.post("/api/v2/connections", json={"name": "second-db", "strategy": "auth0"})
    assert again.status_code == 409
    assert again.json()["message"] == "A connection with the same name already exists"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"strategy": "auth0"}, "Payload validation error: 'Missing required property: name'."),
        (
            {"name": "x", "strategy": "auth0", "colour": "red"},
            "Payload validation error: 'Additional properties not allowed: colour'.",
        ),
        (
            {"name": "-bad-", "strategy": "auth0"},
            "Payload validation error: 'String does not match pattern "
            "^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$: -bad-' on property name.",
        ),
        (
            {"name": "x", "strategy": "auth0", "options": []},
            "Payload validation error: 'Expected type object but found type array' on "
            "property options.",
        ),
    ],
)
def test_a_bad_body_is_refused_as_auth0_words_it(
    api: httpx.Client, body: dict[str, Any], message: str
) -> None:
    answer = api.post("/api/v2/connections", json=body)
    assert answer.status_code == 400
    assert answer.json()["message"] == message
    assert answer.json()["errorCode"] == "invalid_body"


def test_creating_needs_the_create_connections_scope(server: SandboxServer) -> None:
    with server.api(scope="read:connections") as client:
        answer = client.post("/api/v2/connections", json={"name": "nope", "strategy": "auth0"})
    assert answer.status_code == 403
    assert "create:connections" in answer.json()["message"]


def test_the_official_sdk_creates_one_unmodified(server: SandboxServer, tmp_path: Path) -> None:
    host = server.base_url.removeprefix("http://")
    token = GetToken(
        host, server.client_id, client_secret=server.client_secret, protocol="http"
    ).client_credentials(audience=server.audience)
    client = Auth0(base_url=f"{server.base_url}/api/v2", token=token["access_token"])
    made = client.connections.create(name="sdk-db", strategy="auth0")
    assert made.name == "sdk-db"
    assert made.id is not None
    assert made.id.startswith("con_")
    assert made.strategy == "auth0"
