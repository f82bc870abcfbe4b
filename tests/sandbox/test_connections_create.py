"""What a tenant is set up with, on a real sandbox server: connections (a second database
connection made by API, so an import round trip needs no SQL; any other strategy; changed and
deleted), roles and resource servers, in Auth0's shapes, with its checks and refusals; with plain
HTTP and with the official Python SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0

from tests.fixtures.sandbox import SandboxServer, running_sandbox

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
    with running_sandbox(tmp_path_factory.mktemp("connections-sandbox"), users=5, seed=3) as made:
        made.set_faults(rate_limit_plan="off")
        yield made


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    with server.api() as client:
        yield client


@pytest.fixture
def client(server: SandboxServer) -> Auth0:
    """The official Python SDK (auth0-python) on the server, with a client-credentials token."""
    host = server.base_url.removeprefix("http://")
    token = GetToken(
        host, server.client_id, client_secret=server.client_secret, protocol="http"
    ).client_credentials(audience=server.audience)
    client = Auth0(base_url=f"{server.base_url}/api/v2", token=token["access_token"])
    return client


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


def test_the_official_sdk_creates_one_unmodified(client: Auth0) -> None:
    made = client.connections.create(name="sdk-db", strategy="auth0")
    assert made.name == "sdk-db"
    assert made.id is not None
    assert made.id.startswith("con_")
    assert made.strategy == "auth0"


def test_another_strategy_gets_its_enterprise_keys_and_defaults(api: httpx.Client) -> None:
    saml = api.post("/api/v2/connections", json={"name": "setup-saml", "strategy": "samlp"})
    assert saml.status_code == 201, saml.text
    body = saml.json()
    assert body["provisioning_ticket_url"].startswith("https://")
    assert body["show_as_button"] is False
    ad = api.post("/api/v2/connections", json={"name": "setup-ad", "strategy": "ad"}).json()
    assert ad["options"] == {"ips": None, "brute_force_protection": True}
    unknown = api.post("/api/v2/connections", json={"name": "x-y", "strategy": "myspace"})
    assert unknown.status_code == 400
    assert "No enum match" in unknown.json()["message"]


def test_patch_replaces_the_options_and_keeps_what_it_does_not_name(api: httpx.Client) -> None:
    made = api.post(
        "/api/v2/connections",
        json={
            "name": "patched-db",
            "strategy": "auth0",
            "metadata": {"team": "support"},
            "realms": ["example.com"],
        },
    ).json()
    patched = api.patch(
        f"/api/v2/connections/{made['id']}",
        json={"options": {"requires_username": True}, "display_name": "Patched"},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["options"] == {"requires_username": True}
    read = api.get(f"/api/v2/connections/{made['id']}").json()
    assert read["display_name"] == "Patched"
    assert read["metadata"] == {"team": "support"}
    assert read["realms"] == ["example.com"]
    renamed = api.patch(f"/api/v2/connections/{made['id']}", json={"name": "other"})
    assert renamed.status_code == 400
    assert renamed.json()["message"] == (
        "Payload validation error: 'Additional properties not allowed: name'."
    )
    missing = api.patch("/api/v2/connections/con_0000000000000000", json={})
    assert missing.status_code == 404
    assert missing.json()["message"] == "The connection does not exist"


def test_delete_answers_202_then_204_and_takes_the_connections_users(api: httpx.Client) -> None:
    made = api.post("/api/v2/connections", json={"name": "doomed-db", "strategy": "auth0"}).json()
    user = api.post(
        "/api/v2/users",
        json={"connection": "doomed-db", "email": "doomed@example.com", "password": "long enough"},
    )
    assert user.status_code == 201, user.text
    first = api.delete(f"/api/v2/connections/{made['id']}")
    assert first.status_code == 202
    assert first.json()["deleted_at"].endswith("Z")
    assert api.get(f"/api/v2/connections/{made['id']}").status_code == 404
    assert api.get(f"/api/v2/users/{user.json()['user_id']}").status_code == 404
    again = api.delete(f"/api/v2/connections/{made['id']}")
    assert (again.status_code, again.content) == (204, b"")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"requires_username": True, "attributes": {"email": {"identifier": {"active": True}}}},
            "Cannot set both options.attributes and options.requires_username",
        ),
        (
            {"attributes": {"email": {"identifier": {"active": False}}}},
            "attributes must contain one active identifier",
        ),
        (
            {
                "attributes": {
                    "email": {"identifier": {"active": True}, "signup": {"status": "required"}},
                    "phone_number": {"profile_required": True, "signup": {"status": "inactive"}},
                }
            },
            "attribute phone_number must also be required on signup",
        ),
    ],
)
def test_database_attributes_are_checked_as_auth0_does(
    api: httpx.Client, options: dict[str, Any], message: str
) -> None:
    answer = api.post(
        "/api/v2/connections", json={"name": "attrs-db", "strategy": "auth0", "options": options}
    )
    assert answer.status_code == 400
    assert (answer.json()["message"], answer.json()["errorCode"]) == (message, "invalid_body")


def test_a_role_is_created_changed_and_deleted_with_its_assignments(api: httpx.Client) -> None:
    made = api.post("/api/v2/roles", json={"name": "auditor", "description": "Reads the logs"})
    assert made.status_code == 200, made.text
    role = made.json()
    assert set(role) == {"id", "name", "description"}
    assert role["id"].startswith("rol_")
    assert len(role["id"]) == 20
    twice = api.post("/api/v2/roles", json={"name": "auditor"})
    assert twice.status_code == 409
    nameless = api.post("/api/v2/roles", json={"description": "no name"})
    assert nameless.status_code == 400
    assert "Missing required property: name" in nameless.json()["message"]

    changed = api.patch(f"/api/v2/roles/{role['id']}", json={"description": "Audits"})
    assert changed.json() == {**role, "description": "Audits"}
    user_id = api.get("/api/v2/users", params={"per_page": 1}).json()[0]["user_id"]
    assigned = api.post(f"/api/v2/users/{user_id}/roles", json={"roles": [role["id"]]})
    assert assigned.status_code == 204

    deleted = api.delete(f"/api/v2/roles/{role['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    held = api.get(f"/api/v2/users/{user_id}/roles").json()
    assert role["id"] not in [r["id"] for r in held]
    gone = api.get(f"/api/v2/roles/{role['id']}")
    assert gone.status_code == 404
    assert gone.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The role does not exist.",
    }


def test_a_resource_servers_scopes_are_permissions_a_user_may_hold(api: httpx.Client) -> None:
    made = api.post(
        "/api/v2/resource-servers",
        json={
            "name": "Billing API",
            "identifier": "https://billing.example.com/",
            "scopes": [{"value": "read:bills", "description": "Read bills"}],
            "token_encryption": {
                "format": "compact-nested-jwe",
                "encryption_key": {"alg": "RSA-OAEP-256", "pem": "-----BEGIN PUBLIC KEY-----"},
            },
        },
    )
    assert made.status_code == 201, made.text
    server = made.json()
    assert list(server)[:9] == [
        "id",
        "name",
        "identifier",
        "scopes",
        "signing_alg",
        "allow_offline_access",
        "token_lifetime",
        "token_lifetime_for_web",
        "skip_consent_for_verifiable_first_party_clients",
    ]
    assert "pem" not in server["token_encryption"]["encryption_key"]
    by_identifier = api.get("/api/v2/resource-servers/https%3A%2F%2Fbilling.example.com%2F")
    assert by_identifier.json()["id"] == server["id"]
    twice = api.post("/api/v2/resource-servers", json={"identifier": server["identifier"]})
    assert twice.status_code == 409

    user_id = api.get("/api/v2/users", params={"per_page": 1}).json()[0]["user_id"]
    permission = {
        "resource_server_identifier": "https://billing.example.com/",
        "permission_name": "read:bills",
    }
    given = api.post(f"/api/v2/users/{user_id}/permissions", json={"permissions": [permission]})
    assert given.status_code == 201, given.text
    held = api.get(f"/api/v2/users/{user_id}/permissions").json()
    assert {
        **permission,
        "description": "Read bills",
        "resource_server_name": "Billing API",
        "sources": [{"source_id": "", "source_name": "", "source_type": "DIRECT"}],
    } in held

    assert api.delete(f"/api/v2/resource-servers/{server['id']}").status_code == 204
    assert api.get(f"/api/v2/resource-servers/{server['id']}").status_code == 404
    after = api.get(f"/api/v2/users/{user_id}/permissions").json()
    assert permission["permission_name"] not in [p["permission_name"] for p in after]
    assert api.delete(f"/api/v2/resource-servers/{server['id']}").status_code == 204


def test_the_official_sdk_sets_a_tenant_up_unmodified(client: Auth0) -> None:
    connection = client.connections.create(name="sdk-saml", strategy="samlp")
    changed = client.connections.update(connection.id, display_name="SDK SAML")
    assert changed.display_name == "SDK SAML"
    client.connections.delete(connection.id)
    role = client.roles.create(name="sdk-role", description="From the SDK")
    assert client.roles.get(role.id).name == "sdk-role"
    client.roles.delete(role.id)
    made = client.resource_servers.create(name="SDK API", identifier="https://sdk.example.com/")
    assert client.resource_servers.get(made.id).identifier == "https://sdk.example.com/"
    client.resource_servers.delete(made.id)
