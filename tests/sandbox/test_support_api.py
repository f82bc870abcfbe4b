"""The sandbox's support-action endpoints over HTTP: routing, shapes, errors, scopes, rate-limit
headers, the log event each write appends, and the effect read back through the API.

The server is this module's own (seeded like the shared one: 300 users, seed 7), since these
tests block, unblock, reset and delete its users.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from sandbox.seed_support import MFA, case
from tests.fixtures.sandbox import SEED, SandboxServer, running_sandbox

NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
NO_USER = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "The user does not exist.",
    "errorCode": "inexistent_user",
}
JSON = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("support-sandbox")) as started:
        yield started


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.reset_faults()
    server.set_faults(rate_limit_plan="off")
    yield server
    server.reset_faults()


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with sandbox.api() as client:
        yield client


def rows(server: SandboxServer, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        return db.execute(sql, params).fetchall()


def profiles(server: SandboxServer, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict]:
    found = rows(
        server, f"SELECT profile FROM sandbox_tenantuser WHERE {where} ORDER BY id", params
    )
    return [json.loads(text) for (text,) in found]


def enc(user_id: str) -> str:
    return quote(user_id, safe="")


def new_user(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {
        "connection": "Username-Password-Authentication",
        "email": f"support-{len(str(extra))}-{id(extra)}@example.com",
        "password": "long enough",
        **extra,
    }
    response = api.post("/api/v2/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def sapi_events(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    response = api.get("/api/v2/logs", params={"q": "type:sapi", "per_page": 100, "sort": "date:1"})
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["details"]["request"]["path"] == path]


def blocked_user(server: SandboxServer) -> dict[str, Any]:
    (user_id,) = rows(
        server,
        "SELECT u.user_id FROM sandbox_userblock b JOIN sandbox_tenantuser u ON u.id = b.user_id "
        "ORDER BY b.id LIMIT 1",
    )[0]
    return profiles(server, "user_id = ?", (user_id,))[0]


def database_user(server: SandboxServer, index: int = 0) -> dict[str, Any]:
    found = profiles(
        server,
        "profile LIKE ? AND email IS NOT NULL",
        ('%"provider":"auth0"%',),
    )
    return found[index]


# --- routing --------------------------------------------------------------------------------


def test_sub_resources_of_a_user_are_routed_to_their_own_views(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = database_user(sandbox)
    logs = api.get(f"/api/v2/users/{enc(user['user_id'])}/logs")
    methods = api.get(f"/api/v2/users/{enc(user['user_id'])}/authentication-methods")
    assert logs.status_code == 200, logs.text
    assert isinstance(logs.json(), list)
    assert methods.status_code == 200, methods.text
    assert isinstance(methods.json(), list)
    unknown = api.get(f"/api/v2/users/{enc(user['user_id'])}/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json() == NOT_FOUND


def test_an_encoded_slash_stays_in_the_user_id(api: httpx.Client) -> None:
    user = new_user(api, user_id="team/alpha/logs", email="slash.user@example.com")
    assert user["user_id"] == "auth0|team/alpha/logs"
    one = api.get(f"/api/v2/users/{enc(user['user_id'])}")
    logs = api.get(f"/api/v2/users/{enc(user['user_id'])}/logs")
    assert one.status_code == 200
    assert one.json()["user_id"] == "auth0|team/alpha/logs"
    assert logs.status_code == 200
    # Created through the API: only the signup event, none of the seeded history.
    assert [e["type"] for e in logs.json()] == ["ss"]
    assert logs.json()[0]["details"]["body"]["password"] == "*****"


def test_delete_user_is_204_then_404_and_idempotent(api: httpx.Client) -> None:
    user = new_user(api, email="to.delete@example.com")
    path = f"/api/v2/users/{enc(user['user_id'])}"
    first = api.delete(path)
    assert first.status_code == 204
    assert first.content == b""
    assert first.headers["Content-Type"] == JSON
    assert "X-RateLimit-Limit" in first.headers
    assert api.get(path).json() == NO_USER
    assert api.delete(path).status_code == 204
    events = sapi_events(api, path)
    assert [e["description"] for e in events] == ["Delete a User", "Delete a User"]
    assert events[0]["user_id"] is None
    assert events[0]["details"]["response"]["statusCode"] == 204


def test_delete_user_needs_delete_users(sandbox: SandboxServer) -> None:
    with sandbox.api(scope="read:users update:users") as narrow:
        refused = narrow.delete("/api/v2/users/auth0%7Cnobody")
    assert refused.status_code == 403
    assert refused.json() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope; expected any of: delete:users,delete:current_user.",
        "errorCode": "insufficient_scope",
    }


def test_get_one_connection(api: httpx.Client) -> None:
    found = api.get("/api/v2/connections/con_Db1Pw2Xk9LmQ4RtZ")
    assert found.status_code == 200
    assert found.json()["name"] == "Username-Password-Authentication"
    assert found.json() == next(
        c for c in api.get("/api/v2/connections").json() if c["id"] == "con_Db1Pw2Xk9LmQ4RtZ"
    )
    missing = api.get("/api/v2/connections/con_0000000000000000")
    assert missing.status_code == 404
    assert missing.json()["message"] == "The connection does not exist"  # recorded: no full stop


def test_users_imports_is_not_taken_for_a_job_id(api: httpx.Client) -> None:
    response = api.get("/api/v2/jobs/users-imports")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    # POST is the import itself (tests/sandbox/test_imports.py), which wants multipart.
    response = api.post("/api/v2/jobs/users-imports")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Payload validation error: 'Invalid multipart payload format'."
    )


# --- PATCH /users/{id} ------------------------------------------------------------------------


def test_patch_block_and_unblock_logs_update_a_user(api: httpx.Client) -> None:
    user = new_user(api, email="block.me@example.com")
    path = f"/api/v2/users/{enc(user['user_id'])}"
    blocked = api.patch(path, json={"blocked": True})
    assert blocked.status_code == 200
    assert blocked.json()["blocked"] is True
    assert api.get(path).json()["blocked"] is True
    assert api.patch(path, json={"blocked": False}).json()["blocked"] is False
    events = sapi_events(api, path)
    assert [e["description"] for e in events] == ["Update a User", "Update a User"]
    assert events[0]["details"]["request"]["body"] == {"blocked": True}
    assert events[0]["details"]["request"]["method"] == "patch"
    assert events[0]["details"]["response"]["statusCode"] == 200


def test_patch_metadata_merges_one_level_null_removes_and_empty_wipes(api: httpx.Client) -> None:
    user = new_user(
        api,
        email="meta.merge@example.com",
        user_metadata={"theme": "dark", "prefs": {"a": 1, "b": 2}},
        app_metadata={"plan": "gold"},
    )
    path = f"/api/v2/users/{enc(user['user_id'])}"
    merged = api.patch(
        path, json={"user_metadata": {"prefs": {"a": 3}, "theme": None, "new": [1]}}
    ).json()
    assert merged["user_metadata"] == {"prefs": {"a": 3}, "new": [1]}
    assert merged["app_metadata"] == {"plan": "gold"}
    wiped = api.patch(path, json={"app_metadata": {}}).json()
    assert "app_metadata" not in wiped


def test_patch_app_metadata_scope_reaches_app_metadata_only(sandbox: SandboxServer) -> None:
    with sandbox.api() as full:
        user = new_user(full, email="scoped.patch@example.com")
    path = f"/api/v2/users/{enc(user['user_id'])}"
    with sandbox.api(scope="update:users_app_metadata read:users") as narrow:
        allowed = narrow.patch(path, json={"app_metadata": {"tier": 2}})
        refused = narrow.patch(
            path, json={"app_metadata": {"tier": 3}, "name": "X", "blocked": True}
        )
    assert allowed.status_code == 200
    assert allowed.json()["app_metadata"] == {"tier": 2}
    assert refused.status_code == 403
    assert refused.json() == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "You cannot update the following fields: blocked, name",
        "errorCode": "insufficient_scope",
    }


def test_patch_refuses_what_a_social_user_cannot_change(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    social = profiles(sandbox, "profile LIKE ?", ('%"provider":"google-oauth2"%',))[0]
    path = f"/api/v2/users/{enc(social['user_id'])}"
    names = api.patch(path, json={"given_name": "X", "picture": "https://x.example/p.png"})
    assert names.status_code == 400
    assert names.json()["errorCode"] == "operation_not_supported"
    assert names.json()["message"].startswith(
        "The following user attributes cannot be updated: given_name, picture. "
        "The connection (google-oauth2) must either be a database connection"
    )
    email = api.patch(path, json={"email": "new@example.com"})
    assert email.status_code == 400
    assert email.json()["message"] == "Cannot update email for non-database user."
    # Metadata and blocks have no connection restriction.
    assert api.patch(path, json={"user_metadata": {"k": 1}, "blocked": False}).status_code == 200


def test_patch_refuses_fields_together_and_foreign_connections(api: httpx.Client) -> None:
    user = new_user(api, email="combo@example.com")
    path = f"/api/v2/users/{enc(user['user_id'])}"
    both = api.patch(path, json={"password": "another long one", "email": "x@example.com"})
    assert both.status_code == 400
    assert both.json()["message"] == "Cannot update password and email simultaneously."
    foreign = api.patch(path, json={"connection": "github", "email_verified": True})
    assert foreign.status_code == 400
    assert foreign.json()["message"] == "Connection is not supported for this operation."
    unknown = api.patch(path, json={"connection": "nope", "email_verified": True})
    assert unknown.json()["message"] == "Connection does not exist."


def test_patch_password_records_the_reset_and_lifts_the_admin_block(api: httpx.Client) -> None:
    user = new_user(api, email="pw.reset@example.com", blocked=True)
    path = f"/api/v2/users/{enc(user['user_id'])}"
    changed = api.patch(
        path,
        json={"password": "a new long password", "connection": "Username-Password-Authentication"},
    ).json()
    assert "last_password_reset" in changed
    assert changed["blocked"] is False
    (event,) = sapi_events(api, path)
    assert event["details"]["request"]["body"]["password"] == "*****"


# --- user blocks ------------------------------------------------------------------------------


def test_user_blocks_by_id_list_then_clear(sandbox: SandboxServer, api: httpx.Client) -> None:
    user = blocked_user(sandbox)
    path = f"/api/v2/user-blocks/{enc(user['user_id'])}"
    listed = api.get(path)
    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == JSON
    blocked_for = listed.json()["blocked_for"]
    assert blocked_for
    assert all(set(b) == {"identifier", "ip", "connection"} for b in blocked_for)
    assert {b["identifier"] for b in blocked_for} == {user["email"]}
    # The user's log shows why: failed passwords from that address, then the block.
    log_types = [e["type"] for e in api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()]
    assert "limit_wc" in log_types
    assert "fp" in log_types

    cleared = api.delete(path)
    assert cleared.status_code == 204
    assert cleared.content == b""
    assert api.get(path).json() == {"blocked_for": []}
    newest = api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()[0]
    assert newest["type"] == "ublkdu"
    assert newest["user_id"] == user["user_id"]
    assert [
        e["description"] for e in sapi_events(api, f"/api/v2/user-blocks/{enc(user['user_id'])}")
    ] == ["Unblock a User"]
    # An admin block is a different thing: clearing brute-force blocks leaves it alone.
    assert api.get(f"/api/v2/users/{enc(user['user_id'])}").json().get("blocked") is user.get(
        "blocked"
    )


def test_user_blocks_by_identifier(sandbox: SandboxServer, api: httpx.Client) -> None:
    server = sandbox
    (identifier,) = rows(
        server, "SELECT identifier FROM sandbox_userblock ORDER BY id DESC LIMIT 1"
    )[0]
    listed = api.get("/api/v2/user-blocks", params={"identifier": identifier.upper()})
    assert listed.status_code == 200
    assert listed.json()["blocked_for"]
    assert api.delete("/api/v2/user-blocks", params={"identifier": identifier}).status_code == 204
    assert api.get("/api/v2/user-blocks", params={"identifier": identifier}).json() == {
        "blocked_for": []
    }
    missing = api.get("/api/v2/user-blocks")
    assert missing.status_code == 400
    assert missing.json()["errorCode"] == "invalid_query_string"
    assert "identifier" in missing.json()["message"]


def test_user_blocks_errors_and_scopes(sandbox: SandboxServer, api: httpx.Client) -> None:
    assert api.get("/api/v2/user-blocks/auth0%7Cnobody").json() == NO_USER
    assert api.delete("/api/v2/user-blocks/auth0%7Cnobody").status_code == 404
    with sandbox.api(scope="read:users") as reader:
        refused = reader.delete("/api/v2/user-blocks/auth0%7Cnobody")
    assert refused.status_code == 403
    assert refused.json()["message"] == "Insufficient scope; expected any of: update:users."
    assert refused.json()["errorCode"] == "insufficient_scope"


def test_user_blocks_share_the_other_bucket(sandbox: SandboxServer) -> None:
    sandbox.reset_faults()
    with sandbox.api() as client:
        response = client.get("/api/v2/user-blocks", params={"identifier": "x@example.com"})
    assert response.headers["X-RateLimit-Limit"] == "10"
    assert int(response.headers["X-RateLimit-Remaining"]) <= 9


# --- logs -------------------------------------------------------------------------------------


def test_user_logs_paging_sort_totals_and_retention(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = blocked_user(sandbox)
    path = f"/api/v2/users/{enc(user['user_id'])}/logs"
    everything = api.get(path, params={"per_page": 100}).json()
    assert len(everything) >= 11
    dates = [e["date"] for e in everything]
    assert dates == sorted(dates, reverse=True)  # newest first by default
    keys = {"date", "type", "description", "client_name", "ip", "user_agent", "details", "log_id"}
    assert keys <= set(everything[0])
    assert all(len(e["log_id"]) == 56 and e["log_id"].isdigit() for e in everything)

    wrapped = api.get(path, params={"page": 1, "per_page": 3, "include_totals": "true"}).json()
    assert list(wrapped) == ["start", "limit", "length", "logs", "total"]
    assert (wrapped["start"], wrapped["limit"], wrapped["length"]) == (3, 3, 3)
    assert [e["log_id"] for e in wrapped["logs"]] == [e["log_id"] for e in everything[3:6]]
    oldest = api.get(path, params={"sort": "date:1", "per_page": 1}).json()
    assert oldest[0]["log_id"] == everything[-1]["log_id"]

    assert api.get(path, params={"sort": "nope:1"}).status_code == 400
    assert api.get(path, params={"per_page": 101}).status_code == 400
    window = api.get(path, params={"page": 10, "per_page": 100})
    assert window.status_code == 400
    assert window.json()["errorCode"] == "invalid_paging"

    # A tenant on a one-day plan keeps one day of logs.
    sandbox.set_faults(tenant_plan="free")
    recent = api.get(path, params={"per_page": 100}).json()
    assert len(recent) < len(everything)
    assert all(e["date"] >= everything[0]["date"][:4] for e in recent)


def test_user_logs_of_an_unknown_user_are_empty_and_need_read_logs(sandbox: SandboxServer) -> None:
    with sandbox.api() as client:
        assert client.get("/api/v2/users/auth0%7Cnobody/logs").json() == []
    with sandbox.api(scope="read:users") as reader:
        refused = reader.get("/api/v2/users/auth0%7Cnobody/logs")
    assert refused.status_code == 403
    assert refused.json()["message"] == (
        "Insufficient scope; expected any of: read:logs, read:logs_users."
    )


def test_log_search_by_type_and_user(sandbox: SandboxServer, api: httpx.Client) -> None:
    user = blocked_user(sandbox)
    found = api.get(
        "/api/v2/logs", params={"q": f'type:limit_wc AND user_id:"{user["user_id"]}"'}
    ).json()
    assert found
    assert {e["type"] for e in found} == {"limit_wc"}
    bad = api.get("/api/v2/logs", params={"q": "user_email:x"})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        'The search query string has an error: unknown field "user_email"'
    )


# --- verification email job -------------------------------------------------------------------


def test_verification_email_job_completes_and_logs_svr(api: httpx.Client) -> None:
    user = new_user(api, email="verify.me@example.com")
    created = api.post("/api/v2/jobs/verification-email", json={"user_id": user["user_id"]})
    assert created.status_code == 201, created.text
    job = created.json()
    assert list(job) == ["type", "status", "created_at", "id"]
    assert (job["type"], job["status"]) == ("verification_email", "pending")
    final = wait_for_job(api, job["id"])
    assert final == {**job, "status": "completed"}
    log_types = [e["type"] for e in api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()]
    assert log_types == ["svr", "ss"]


def wait_for_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    for _ in range(400):
        body = api.get(f"/api/v2/jobs/{job_id}").json()
        if body["status"] in ("completed", "failed"):
            return dict(body)
        # The job runner has no event to await from outside; poll its answer as clients do.
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never finished")


def test_verification_email_fails_while_the_template_is_disabled(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = new_user(api, email="template.off@example.com")
    sandbox.set_faults(email_template_disabled=True)
    job = api.post("/api/v2/jobs/verification-email", json={"user_id": user["user_id"]}).json()
    assert wait_for_job(api, job["id"])["status"] == "failed"
    log_types = [e["type"] for e in api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()]
    assert log_types == ["fv", "svr", "ss"]


def test_verification_email_refusals(sandbox: SandboxServer, api: httpx.Client) -> None:
    no_email = profiles(sandbox, "email IS NULL")[0]
    social = profiles(sandbox, "profile LIKE ?", ('%"provider":"google-oauth2"%',))[0]
    cases = {
        "User does not have an email address.": {
            "user_id": no_email["user_id"],
            "identity": {
                "user_id": str(no_email["identities"][0]["user_id"]),
                "provider": no_email["identities"][0]["provider"],
            },
        },
        "Connection must be a database connection.": {"user_id": social["user_id"]},
        "The user exists, but does not contain the given identity.": {
            "user_id": social["user_id"],
            "identity": {"user_id": "1", "provider": "github"},
        },
        "Payload validation error: 'Additional properties not allowed: nope'.": {
            "user_id": social["user_id"],
            "nope": 1,
        },
    }
    for message, body in cases.items():
        refused = api.post("/api/v2/jobs/verification-email", json=body)
        assert refused.status_code == 400, message
        assert refused.json()["message"] == message
    with_identity = api.post(
        "/api/v2/jobs/verification-email",
        json={
            "user_id": social["user_id"],
            "identity": {
                "user_id": social["identities"][0]["user_id"],
                "provider": "google-oauth2",
            },
        },
    )
    assert with_identity.status_code == 201
    with sandbox.api(scope="read:users") as reader:
        forbidden = reader.post("/api/v2/jobs/verification-email", json={"user_id": "x"})
    assert forbidden.json()["message"] == "Insufficient scope; expected any of: update:users."


# --- password-change tickets ------------------------------------------------------------------


def test_password_change_ticket_opens_a_sandbox_page(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = new_user(api, email="ticket.user@example.com")
    created = api.post(
        "/api/v2/tickets/password-change",
        json={"user_id": user["user_id"], "ttl_sec": 3600, "mark_email_as_verified": True},
    )
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert list(created.json()) == ["ticket"]
    parts = urlsplit(ticket)
    assert parts.path == "/u/reset-password"
    assert ticket.endswith("#")
    page = httpx.get(ticket.rstrip("#"))
    assert page.status_code == 200
    assert "ticket.user@example.com" in page.text
    done = httpx.post(ticket.rstrip("#"), data={"password": "brand new secret"})
    assert done.status_code == 200
    again = httpx.get(ticket.rstrip("#"))
    assert again.status_code == 400  # single use
    changed = api.get(f"/api/v2/users/{enc(user['user_id'])}").json()
    assert changed["email_verified"] is True
    assert "last_password_reset" in changed
    assert [e["type"] for e in api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()] == [
        "scp",
        "ss",
    ]


def test_password_change_ticket_refusals(sandbox: SandboxServer, api: httpx.Client) -> None:
    social = profiles(sandbox, "profile LIKE ?", ('%"provider":"github"%',))[0]
    refused = api.post("/api/v2/tickets/password-change", json={"user_id": social["user_id"]})
    assert refused.status_code == 400
    assert (
        refused.json()["message"] == "The user's main connection does not support this operation."
    )
    both = api.post(
        "/api/v2/tickets/password-change",
        json={"user_id": social["user_id"], "connection_id": "con_Db1Pw2Xk9LmQ4RtZ"},
    )
    assert both.json()["message"] == "You cannot send user_id when specifying a connection_id."
    no_connection = api.post("/api/v2/tickets/password-change", json={"email": "a@example.com"})
    assert no_connection.json()["message"] == (
        "Payload validation error: 'Missing required property: connection_id'."
    )
    assert (
        api.post("/api/v2/tickets/password-change", json={"user_id": "auth0|x"}).status_code == 404
    )
    with sandbox.api(scope="read:users update:users") as narrow:
        forbidden = narrow.post("/api/v2/tickets/password-change", json={"user_id": "auth0|x"})
    assert (
        forbidden.json()["message"] == "Insufficient scope; expected any of: create:user_tickets."
    )


def test_the_reset_email_endpoint_answers_like_the_authentication_api(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = new_user(api, email="reset.me@example.com", username="resetme")
    body = {"email": "reset.me@example.com", "connection": "Username-Password-Authentication"}
    sent = httpx.post(f"{sandbox.base_url}/dbconnections/change_password", json=body)  # no token
    assert sent.status_code == 200
    assert sent.text == "We've just sent you an email to reset your password."
    assert sent.headers["content-type"] == "text/html; charset=utf-8"
    logs = api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()
    assert logs[0]["type"] == "scpr"
    # The same answer for an address nobody has; no log.
    unknown = {**body, "email": "nobody@example.com"}
    assert httpx.post(f"{sandbox.base_url}/dbconnections/change_password", json=unknown).text == (
        sent.text
    )
    social = httpx.post(
        f"{sandbox.base_url}/dbconnections/change_password",
        json={"email": "a@example.com", "connection": "github"},
    )
    assert social.status_code == 400
    assert social.json()["error"] == "invalid_request"
    missing = httpx.post(f"{sandbox.base_url}/dbconnections/change_password", json={})
    assert missing.status_code == 400
    # On every plan (here the sandbox's paid one): burst 10 per IP and address, then 1 a minute.
    sandbox.set_faults(rate_limit_plan="paid")
    answers = [
        httpx.post(f"{sandbox.base_url}/dbconnections/change_password", json=unknown)
        for _ in range(11)
    ]
    assert [answer.status_code for answer in answers] == [200] * 10 + [429]
    assert answers[10].json()["error"] == "too_many_requests"
    assert int(answers[10].headers["Retry-After"]) >= 1


# --- MFA --------------------------------------------------------------------------------------


def mfa_user(server: SandboxServer) -> dict[str, Any]:
    (user_id,) = rows(
        server,
        "SELECT u.user_id FROM sandbox_authenticationmethod m "
        "JOIN sandbox_tenantuser u ON u.id = m.user_id GROUP BY u.id HAVING count(*) >= 3 "
        "ORDER BY u.id LIMIT 1",
    )[0]
    assert case(SEED, user_id) in MFA
    return profiles(server, "user_id = ?", (user_id,))[0]


def test_authentication_methods_list_masked_and_wrapped(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = mfa_user(sandbox)
    path = f"/api/v2/users/{enc(user['user_id'])}/authentication-methods"
    methods = api.get(path).json()
    types = {m["type"] for m in methods}
    assert {"totp", "recovery-code"} <= types
    assert all(m["confirmed"] is True and m["id"].startswith(f"{m['type']}|dev_") for m in methods)
    for method in methods:
        if "phone_number" in method:
            assert method["phone_number"].startswith("XXXX")
        if "email" in method:
            assert "****" in method["email"] or "*" in method["email"]
    wrapped = api.get(path, params={"include_totals": "true", "per_page": 2}).json()
    assert list(wrapped) == ["authenticators", "start", "limit", "total"]
    assert wrapped["total"] == len(methods)
    assert len(wrapped["authenticators"]) == 2
    empty_user = new_user(api, email="no.mfa@example.com")
    empty = api.get(
        f"/api/v2/users/{enc(empty_user['user_id'])}/authentication-methods",
        params={"include_totals": "true"},
    ).json()
    assert empty == {"authenticators": [], "start": 0, "limit": 50}
    assert api.get("/api/v2/users/auth0%7Cnobody/authentication-methods").json() == NO_USER


def test_delete_one_method_then_all(sandbox: SandboxServer, api: httpx.Client) -> None:
    user = mfa_user(sandbox)
    path = f"/api/v2/users/{enc(user['user_id'])}/authentication-methods"
    methods = api.get(path).json()
    totp = next(m for m in methods if m["type"] == "totp")
    one = api.delete(f"{path}/{quote(totp['id'], safe='')}")
    assert one.status_code == 204
    assert totp["id"] not in [m["id"] for m in api.get(path).json()]
    again = api.delete(f"{path}/{quote(totp['id'], safe='')}")
    assert again.status_code == 404
    assert again.json()["message"] == "The authentication method could not be found."
    with sandbox.api(scope="read:authentication_methods") as reader:
        forbidden = reader.delete(path)
    assert forbidden.status_code == 403
    assert api.delete(path).status_code == 204
    assert api.get(path).json() == []
    newest = api.get(f"/api/v2/users/{enc(user['user_id'])}/logs").json()
    assert {e["type"] for e in newest[: len(methods)]} == {"gd_unenroll"}
    assert [e["description"] for e in sapi_events(api, path)] == [
        "Delete All Authentication Methods for the Given User"
    ]


def test_invalidate_remember_browser(sandbox: SandboxServer, api: httpx.Client) -> None:
    user = database_user(sandbox, 3)
    path = f"/api/v2/users/{enc(user['user_id'])}/multifactor/actions/invalidate-remember-browser"
    done = api.post(path)
    assert done.status_code == 204
    assert done.content == b""
    assert [e["description"] for e in sapi_events(api, path)] == [
        "Invalidate All Remembered Browsers for Multi-factor Authentication (MFA)"
    ]
    assert api.get(path).status_code == 405


# --- sessions and refresh tokens --------------------------------------------------------------


def device_user(server: SandboxServer) -> dict[str, Any]:
    (user_id,) = rows(
        server,
        "SELECT u.user_id FROM sandbox_refreshtoken t "
        "JOIN sandbox_tenantuser u ON u.id = t.user_id ORDER BY t.id LIMIT 1",
    )[0]
    return profiles(server, "user_id = ?", (user_id,))[0]


def test_sessions_and_refresh_tokens_listed_then_revoked(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = device_user(sandbox)
    base = f"/api/v2/users/{enc(user['user_id'])}"
    sessions = api.get(f"{base}/sessions").json()
    assert list(sessions) == ["sessions"] or list(sessions) == ["sessions", "next"]
    assert sessions["sessions"][0]["user_id"] == user["user_id"]
    assert {"device", "clients", "authentication", "expires_at"} <= set(sessions["sessions"][0])
    tokens = api.get(f"{base}/refresh-tokens", params={"include_totals": "true"}).json()
    assert tokens["total"] == len(tokens["tokens"]) >= 1
    assert tokens["tokens"][0]["session_id"]

    gone = api.delete(f"{base}/sessions")
    assert gone.status_code == 202
    assert gone.json() == {}
    assert api.get(f"{base}/sessions").json() == {"sessions": []}
    revoked = api.delete(f"{base}/refresh-tokens")
    assert revoked.status_code == 202
    assert api.get(f"{base}/refresh-tokens", params={"include_totals": "true"}).json() == {
        "tokens": [],
        "total": 0,
    }
    log_types = {e["type"] for e in api.get(f"{base}/logs").json()}
    assert {"slo", "srrt"} <= log_types
    assert api.get("/api/v2/users/auth0%7Cnobody/sessions").status_code == 404


def test_sessions_need_an_enterprise_tenant(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.set_faults(tenant_plan="professional")
    refused = api.get("/api/v2/users/auth0%7Cnobody/sessions")
    assert refused.status_code == 403
    assert refused.json()["errorCode"] == "feature_not_enabled"
    assert api.delete("/api/v2/users/auth0%7Cnobody/refresh-tokens").status_code == 403


def test_revoke_access_and_one_session(sandbox: SandboxServer, api: httpx.Client) -> None:
    with sqlite3.connect(f"file:{sandbox.db_path}?mode=ro", uri=True) as db:
        owners = db.execute(
            "SELECT u.user_id FROM sandbox_usersession s JOIN sandbox_tenantuser u "
            "ON u.id = s.user_id GROUP BY u.id ORDER BY u.id DESC LIMIT 2"
        ).fetchall()
    (first,), (second,) = owners
    base = f"/api/v2/users/{enc(first)}"
    sessions = api.get(f"{base}/sessions").json()["sessions"]
    one = api.get(f"/api/v2/sessions/{sessions[0]['id']}")
    assert one.status_code == 200
    assert one.json() == sessions[0]
    assert api.post(f"/api/v2/sessions/{sessions[0]['id']}/revoke").status_code == 202
    missing = api.get(f"/api/v2/sessions/{sessions[0]['id']}")
    assert missing.status_code == 404
    assert missing.json()["message"] == "The session does not exist."

    with sandbox.api(scope="delete:sessions") as half:
        refused = half.post(f"/api/v2/users/{enc(second)}/revoke-access", json={})
    assert refused.status_code == 403
    assert refused.json()["message"] == "Insufficient scope; expected: delete:sessions"
    revoked = api.post(
        f"/api/v2/users/{enc(second)}/revoke-access", json={"preserve_refresh_tokens": True}
    )
    assert revoked.status_code == 202
    assert revoked.json() == {}
    assert api.get(f"/api/v2/users/{enc(second)}/sessions").json() == {"sessions": []}
    bad = api.post(f"/api/v2/users/{enc(second)}/revoke-access", json={"everything": True})
    assert bad.status_code == 400


def test_bodies_json_cannot_hold_are_refused_not_crashed_on(api: httpx.Client) -> None:
    for raw in (b'{"user_id": NaN}', b'{"user_id": "\\ud800"}', b"[1]", b"{nope"):
        response = api.post(
            "/api/v2/jobs/verification-email",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert response.json()["errorCode"] == "invalid_body"
    huge = api.post(
        "/api/v2/tickets/password-change", json={"user_id": "auth0|x", "ttl_sec": 10**30}
    )
    assert huge.status_code == 400
    # A number no JSON parser can hold is a malformed body, as everywhere else in the API.
    endless = api.post(
        "/api/v2/tickets/password-change",
        content=b'{"user_id": "auth0|x", "ttl_sec": 1e400}',
        headers={"Content-Type": "application/json"},
    )
    assert endless.status_code == 400
    assert endless.json()["message"] == "Invalid request payload JSON format"


def test_a_deleted_user_leaves_search(api: httpx.Client) -> None:
    user = new_user(api, email="search.gone@example.com")
    query = {"q": f'user_id:"{user["user_id"]}"', "search_engine": "v3"}
    api.delete(f"/api/v2/users/{enc(user['user_id'])}")
    assert api.get("/api/v2/users", params=query).json() == []


def test_the_seeded_history_stays_recent_on_an_old_tenant(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    user = profiles(sandbox, "user_id = ?", (blocked_user(sandbox)["user_id"],))[0]
    path = f"/api/v2/users/{enc(user['user_id'])}/logs"
    today = api.get(path, params={"per_page": 100}).json()
    sandbox.shift_clock(45 * 86400)  # the tenant was seeded 45 days ago
    with sandbox.api() as later_api:  # a token from the shifted clock
        later = later_api.get(path, params={"per_page": 100}).json()

    # The support case's events move forward with the days; the sign-ins (with the failed
    # passwords before some) are the profile's, the last one its last_login, so they keep their
    # dates and age out as Auth0's do.
    def seeded(events: list[dict[str, Any]], types: tuple[str, ...]) -> list[dict[str, Any]]:
        return [e for e in events if e["client_name"] == "Userdesk Demo App" and e["type"] in types]

    moving = ("f", "limit_wc", "gd_auth_succeed", "gd_auth_failed", "svr", "fv", "scpr", "scp")
    moving_today, moving_later = seeded(today, moving), seeded(later, moving)
    assert moving_today
    assert [e["type"] for e in moving_later] == [e["type"] for e in moving_today]
    assert moving_later[0]["date"][:10] > moving_today[0]["date"][:10]
    assert {e["date"] for e in seeded(later, ("s",))} <= {e["date"] for e in seeded(today, ("s",))}
