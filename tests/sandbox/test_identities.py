"""The sandbox's account linking, as Auth0 answers it: link, unlink, their refusals, their
effects on both users and their logs; and the official SDK on both endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, BadRequestError, ConflictError

from tests.fixtures.sandbox import SandboxServer

DB = "Username-Password-Authentication"


def _path(user_id: str) -> str:
    return f"/api/v2/users/{quote(user_id, safe='')}"


def _sdk(server: SandboxServer) -> Auth0:
    """The official auth0-python client on the sandbox (plain HTTP needs `base_url`)."""
    token = GetToken(
        urlsplit(server.base_url).netloc,
        server.client_id,
        client_secret=server.client_secret,
        protocol="http",
    ).client_credentials(audience=server.audience)
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token["access_token"])


@pytest.fixture
def pair(sandbox_server: SandboxServer) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Two database users of this test's own (the same person twice); every user they become
    is deleted afterwards, so the shared tenant keeps its seeded users."""
    sandbox_server.reset_faults()
    address = f"pair-{uuid.uuid4().hex[:10]}@example.com"
    made = []
    with sandbox_server.api() as api:
        for name, metadata in (("Primary Pat", {"plan": "gold"}), ("Second Sam", {"x": 1})):
            response = api.post(
                "/api/v2/users",
                json={
                    "connection": DB,
                    "email": f"{name.split()[0].lower()}-{address}",
                    "password": "correct horse battery staple",
                    "name": name,
                    "email_verified": True,
                    "user_metadata": metadata,
                },
            )
            assert response.status_code == 201, response.text
            made.append(response.json())
    yield made[0], made[1]
    with sandbox_server.api() as api:
        for user in made:
            api.delete(_path(user["user_id"]))


def test_link_moves_the_secondary_under_the_primary(
    sandbox_server: SandboxServer, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    primary, secondary = pair
    local = secondary["identities"][0]["user_id"]
    with sandbox_server.api() as api:
        linked = api.post(
            f"{_path(primary['user_id'])}/identities",
            json={"provider": "auth0", "user_id": secondary["user_id"]},
        )
        assert linked.status_code == 201, linked.text
        assert linked.headers["content-type"] == "application/json; charset=utf-8"
        identities = linked.json()
        assert [i["user_id"] for i in identities] == [primary["identities"][0]["user_id"], local]
        assert identities[1]["profileData"]["email"] == secondary["email"]
        assert identities[1]["profileData"]["name"] == "Second Sam"
        assert "user_metadata" not in identities[1]["profileData"]
        assert identities[0]["profileData"]["email"] == primary["email"]  # as recorded

        gone = api.get(_path(secondary["user_id"]))
        assert gone.status_code == 404
        assert gone.json()["errorCode"] == "inexistent_user"
        stored = api.get(_path(primary["user_id"])).json()
        assert stored["user_metadata"] == {"plan": "gold"}  # the primary's, unchanged
        assert "profileData" not in stored["identities"][0]
        assert stored["identities"][1]["profileData"]["name"] == "Second Sam"

        again = api.post(
            f"{_path(primary['user_id'])}/identities", json={"provider": "auth0", "user_id": local}
        )
        assert again.status_code == 409
        assert again.json()["message"] == "Specified identity already exists."

        logs = api.get("/api/v2/logs", params={"q": "type:sapi"}).json()
        described = [e["description"] for e in logs]
        assert "Link a User Account" in described

        unlinked = api.delete(f"{_path(primary['user_id'])}/identities/auth0/{local}")
        assert unlinked.status_code == 200, unlinked.text
        assert [i["user_id"] for i in unlinked.json()] == [primary["identities"][0]["user_id"]]
        back = api.get(_path(secondary["user_id"]))
        assert back.status_code == 200
        restored = back.json()
        assert restored["email"] == secondary["email"]
        assert restored["name"] == "Second Sam"
        assert "user_metadata" not in restored  # "The secondary account will have no metadata."
        assert restored["identities"] == [
            {"connection": DB, "user_id": local, "provider": "auth0", "isSocial": False}
        ]


def test_link_and_unlink_refusals(
    sandbox_server: SandboxServer, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    primary, secondary = pair
    url = f"{_path(primary['user_id'])}/identities"
    own = primary["identities"][0]["user_id"]
    cases = [
        ({"provider": "auth0", "user_id": primary["user_id"]}, 400, "Main identity and the new"),
        ({"provider": "auth0", "user_id": "nobody"}, 400, "Provided secondary account not found."),
        ({"provider": "auth0"}, 400, "Missing required property: user_id"),
        ({"provider": "auth0", "user_id": "x", "extra": 1}, 400, "Additional properties"),
        ({"link_with": "eyJ.x.y"}, 400, "Invalid token (link_with)."),
        (
            {
                "provider": "auth0",
                "user_id": secondary["user_id"],
                "connection_id": "con_Go0gLe7Aa3Bb5Cc8",
            },
            400,
            "The provider/connection is not configured.",
        ),
    ]
    with sandbox_server.api() as api:
        for body, status, text in cases:
            response = api.post(url, json=body)
            assert response.status_code == status, (body, response.text)
            assert text in response.json()["message"], (body, response.text)
        main = api.delete(f"{url}/auth0/{own}")
        assert main.status_code == 400
        assert main.json()["message"] == "Main identity cannot be removed."
        nobody = api.post(
            f"{_path('auth0|nobody-here')}/identities", json={"provider": "auth0", "user_id": "y"}
        )
        assert nobody.status_code == 404
    with sandbox_server.api(scope="read:users") as api:
        forbidden = api.post(url, json={"provider": "auth0", "user_id": secondary["user_id"]})
    assert forbidden.status_code == 403
    assert forbidden.json()["message"] == (
        "Insufficient scope; expected: update:users, update:current_user_identities."
    )


def test_the_official_sdk_links_and_unlinks(
    sandbox_server: SandboxServer, pair: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    primary, secondary = pair
    client = _sdk(sandbox_server)
    local = secondary["identities"][0]["user_id"]
    linked = client.users.identities.link(
        primary["user_id"],
        provider="auth0",
        user_id=secondary["user_id"],
        connection_id="con_Db1Pw2Xk9LmQ4RtZ",
    )
    assert [i.user_id for i in linked] == [primary["identities"][0]["user_id"], local]
    with pytest.raises(ConflictError):
        client.users.identities.link(
            primary["user_id"], provider="auth0", user_id=local, request_options={"max_retries": 0}
        )
    remaining = client.users.identities.delete(primary["user_id"], "auth0", local)
    assert len(remaining) == 1
    with pytest.raises(BadRequestError):
        client.users.identities.delete(
            primary["user_id"], "auth0", primary["identities"][0]["user_id"]
        )


def test_passwordless_users_are_created_with_the_official_sdk(
    sandbox_server: SandboxServer,
) -> None:
    client = _sdk(sandbox_server)
    number = f"+1555{uuid.uuid4().int % 10_000_000:07d}"
    sms = client.users.create(connection="sms", phone_number=number, phone_verified=True)
    address = f"Code-{uuid.uuid4().hex[:8]}@Example.com"
    email = client.users.create(connection="email", email=address)
    try:
        assert sms.user_id.startswith("sms|")
        assert sms.phone_number == number
        assert sms.identities[0].provider == "sms"
        assert email.email == address.lower()
        assert email.email_verified is False
        with pytest.raises(ConflictError):
            client.users.create(
                connection="sms", phone_number=number, request_options={"max_retries": 0}
            )
        with pytest.raises(BadRequestError):
            client.users.create(connection="email", email=f"x{address}", password="abcdefgh1!")
    finally:
        with sandbox_server.api() as api:
            for user in (sms, email):
                api.delete(_path(str(user.user_id)))
