"""The sandbox answers as Auth0 answered in its recordings (/work/shared/go-auth0-recordings and
the facts sheets): the connection object of 2026, Auth0's own texts, metadata kept as sent, and a
log history that changes to a user never rewrite."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests import test_sandbox_fidelity

api = test_sandbox_fidelity.api  # the fixture: an all-scopes client on the shared sandbox


def _connections(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return list(api.get("/api/v2/connections", params=params).json())


def test_every_connection_says_authentication_and_connected_accounts(api: httpx.Client) -> None:
    # Recorded on every connection object since late 2025 (TestConnectionManager_*, 2026):
    # "authentication":{"active":true},"connected_accounts":{"active":false}.
    connections = _connections(api)
    assert connections
    for connection in connections:
        assert connection["authentication"] == {"active": True}
        assert connection["connected_accounts"] == {"active": False}
    one = api.get(f"/api/v2/connections/{connections[0]['id']}").json()
    assert one["authentication"] == {"active": True}
    assert one["connected_accounts"] == {"active": False}


def test_picking_fields_keeps_the_id(api: httpx.Client) -> None:
    picked = _connections(api, fields="strategy,name")
    assert picked
    assert all(set(c) == {"id", "strategy", "name", "is_domain_connection"} for c in picked)
    assert all(c["id"].startswith("con_") for c in picked)


def test_the_saml_connection_has_its_button_and_provisioning_ticket(api: httpx.Client) -> None:
    (saml,) = _connections(api, strategy="samlp")
    assert saml["show_as_button"] is False
    assert saml["provisioning_ticket_url"].startswith("https://")
    assert "/p/samlp/" in saml["provisioning_ticket_url"]
    # Recorded key order: ... name, provisioning_ticket_url, is_domain_connection, show_as_button
    keys = list(saml)
    assert keys.index("provisioning_ticket_url") == keys.index("name") + 1
    assert keys.index("show_as_button") == keys.index("is_domain_connection") + 1
    (database,) = _connections(api, strategy="auth0")
    assert "show_as_button" not in database
    assert "provisioning_ticket_url" not in database


def test_an_unknown_connection_is_auth0s_404_text(api: httpx.Client) -> None:
    response = api.get("/api/v2/connections/con_0000000000000000")
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "The connection does not exist",
        "errorCode": "inexistent_connection",
    }


def test_an_empty_user_metadata_is_kept_on_create_and_update(api: httpx.Client) -> None:
    # Recorded (terraform TestAccUser.yaml): {"user_metadata":{},"app_metadata":{}} answers
    # "user_metadata":{} and no app_metadata key at all.
    created = test_sandbox_fidelity._new_user(api, user_metadata={}, app_metadata={})
    assert created["user_metadata"] == {}
    assert "app_metadata" not in created
    path = f"/api/v2/users/{quote(created['user_id'], safe='')}"
    filled = api.patch(path, json={"user_metadata": {"city": "Lyon"}, "app_metadata": {"a": 1}})
    assert filled.json()["user_metadata"] == {"city": "Lyon"}
    emptied = api.patch(path, json={"user_metadata": {}, "app_metadata": {}}).json()
    assert emptied["user_metadata"] == {}
    assert "app_metadata" not in emptied
    assert api.get(path).json()["user_metadata"] == {}
