"""The sandbox answers as Auth0 answered in its recordings (/work/shared/go-auth0-recordings and
the facts sheets): the connection object of 2026, Auth0's own texts, metadata kept as sent, and a
log history that changes to a user never rewrite."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import quote

import httpx

from sandbox.seed import generate_users
from tests.sandbox import test_fidelity

api = test_fidelity.api  # the fixture: an all-scopes client on the shared sandbox


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
    created = test_fidelity._new_user(api, user_metadata={}, app_metadata={})
    assert created["user_metadata"] == {}
    assert "app_metadata" not in created
    path = f"/api/v2/users/{quote(created['user_id'], safe='')}"
    filled = api.patch(path, json={"user_metadata": {"city": "Lyon"}, "app_metadata": {"a": 1}})
    assert filled.json()["user_metadata"] == {"city": "Lyon"}
    emptied = api.patch(path, json={"user_metadata": {}, "app_metadata": {}}).json()
    assert emptied["user_metadata"] == {}
    assert "app_metadata" not in emptied
    assert api.get(path).json()["user_metadata"] == {}


def _logs(api: httpx.Client, user_id: str) -> list[dict[str, Any]]:
    path = f"/api/v2/users/{quote(user_id, safe='')}/logs"
    return list(api.get(path, params={"per_page": 100}).json())


def _blocked_user_with_history(api: httpx.Client) -> tuple[str, list[dict[str, Any]]]:
    found = api.get(
        "/api/v2/users", params={"q": "blocked:true", "search_engine": "v3", "per_page": 50}
    ).json()
    for user in reversed(found):  # the first ones are other tests' examples
        logs = _logs(api, user["user_id"])
        if any(e.get("description") == "user is blocked" for e in logs):
            return user["user_id"], logs
    raise AssertionError("the seed has no blocked user with its sign-in refusals")


def test_unblocking_a_user_leaves_its_history_alone(api: httpx.Client) -> None:
    """Auth0's logs are history: lifting the block does not take back the refused sign-ins."""
    user_id, before = _blocked_user_with_history(api)
    path = f"/api/v2/users/{quote(user_id, safe='')}"
    assert api.patch(path, json={"blocked": False}).status_code == 200
    after = _logs(api, user_id)
    seen = [(e["date"], e["type"], e.get("description")) for e in after]
    # Every earlier event is still there, once; the update adds only its own sapi, if any.
    for event in before:
        assert seen.count((event["date"], event["type"], event.get("description"))) == 1
    assert len({e["log_id"] for e in after}) == len(after)


def test_deleting_a_user_leaves_its_history_alone(api: httpx.Client) -> None:
    user_id, before = _blocked_user_with_history(api)
    assert api.delete(f"/api/v2/users/{quote(user_id, safe='')}").status_code == 204
    kept = api.get("/api/v2/logs", params={"q": f'user_id:"{user_id}"', "per_page": 100}).json()
    described = {(e["date"], e["type"]) for e in kept}
    assert {(e["date"], e["type"]) for e in before} <= described


# --- the seeded tenant: dates of the seeding day, profiles that agree with their logs ---------


def test_seeded_dates_follow_the_day_of_seeding() -> None:
    day = 86_400_000
    today = int(time.time() * 1000)
    on = {n: list(generate_users(200, 5, seeded_ms=today + n * day)) for n in (0, 10)}
    for now, later in zip(on[0], on[10], strict=True):
        moved = _epoch(later["created_at"]) - _epoch(now["created_at"])
        assert moved == 10 * day
    # The demo tenant (5,000 users, seed 1): "Signed up in the last 7 days" finds some, and no
    # date lies ahead of the seeding.
    demo = list(generate_users(5000, 1, seeded_ms=today))
    week_ago = today - 7 * day
    assert (
        sum(_epoch(p["created_at"]) > week_ago for p in demo) >= 1
    )  # some, whatever the hour of seeding
    for profile in demo:
        for key in ("created_at", "updated_at", "last_login"):
            assert key not in profile or _epoch(profile[key]) <= today


def _epoch(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_profiles_agree_with_the_sign_ins_their_logs_show(api: httpx.Client) -> None:
    users = api.get("/api/v2/users", params={"per_page": 100, "page": 1}).json()
    with_history = 0
    for user in users:
        sign_ins = [e for e in _logs(api, user["user_id"]) if e["type"] == "s"]
        if not sign_ins:
            continue
        with_history += 1
        assert max(e["date"] for e in sign_ins) == user["last_login"], user["user_id"]
        assert len(sign_ins) <= user["logins_count"], user["user_id"]
        last = max(sign_ins, key=lambda e: e["date"])
        assert last["ip"] == user["last_ip"], user["user_id"]
    assert with_history >= 5
