"""Where a fuzzer and recorded exchanges found the sandbox answering unlike Auth0.

Every test talks to the sandbox server over HTTP, the way an SDK does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxServer

JSON = "application/json; charset=utf-8"
DATABASE = "Username-Password-Authentication"
_serial = itertools.count()


@pytest.fixture
def api(sandbox_server: SandboxServer) -> Iterator[httpx.Client]:
    sandbox_server.reset_faults()
    sandbox_server.set_faults(rate_limit_plan="off")
    with sandbox_server.api() as client:
        yield client
    sandbox_server.reset_faults()


def _email() -> str:
    return f"fidelity{next(_serial)}-{id(_serial)}@example.com"


def _new_user(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {"connection": DATABASE, "email": _email(), "password": "long enough", **extra}
    response = api.post("/api/v2/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _raw(api: httpx.Client, method: str, path: str, text: str) -> httpx.Response:
    return api.request(
        method, path, content=text.encode(), headers={"Content-Type": "application/json"}
    )


def _assert_bad_body(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == JSON
    assert response.json()["statusCode"] == 400


# --- server errors from bad input -----------------------------------------------------------


def test_export_limit_beyond_any_integer_is_a_400(api: httpx.Client) -> None:
    response = _raw(api, "POST", "/api/v2/jobs/users-exports", '{"limit": 9223372036854775808}')
    _assert_bad_body(response)
    assert response.json()["errorCode"] == "invalid_body"
    assert "on property limit" in response.json()["message"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_lone_surrogate_in_a_body_is_a_400(api: httpx.Client, method: str) -> None:
    if method == "POST":
        text = f'{{"connection":"{DATABASE}","email":"{_email()}","password":"long enough",'
        text += '"nickname":"\\ud800"}'
        response = _raw(api, "POST", "/api/v2/users", text)
    else:
        user = _new_user(api)
        response = _raw(api, "PATCH", f"/api/v2/users/{user['user_id']}", '{"nickname":"\\ud800"}')
    _assert_bad_body(response)


@pytest.mark.parametrize(
    "metadata", ['{"x": 1e400}', '{"y": NaN}', '{"z": Infinity}', '{"w": -Infinity}']
)
def test_non_finite_numbers_are_refused_and_never_stored(api: httpx.Client, metadata: str) -> None:
    user = _new_user(api)
    path = f"/api/v2/users/{user['user_id']}"
    response = _raw(api, "PATCH", path, f'{{"app_metadata": {metadata}}}')
    _assert_bad_body(response)
    # The user still reads back as strict JSON.
    again = api.get(path)
    assert again.status_code == 200
    assert "app_metadata" not in again.json()


def test_non_finite_numbers_in_an_export_body_are_refused(api: httpx.Client) -> None:
    _assert_bad_body(_raw(api, "POST", "/api/v2/jobs/users-exports", '{"limit": NaN}'))


# --- shapes and headers ---------------------------------------------------------------------


def test_connections_carry_enabled_clients(
    api: httpx.Client, sandbox_server: SandboxServer
) -> None:
    connections = api.get("/api/v2/connections").json()
    assert connections
    for connection in connections:
        assert connection["enabled_clients"] == [sandbox_server.client_id]


def test_fields_id_on_connections_keeps_is_domain_connection(api: httpx.Client) -> None:
    # Recorded: GET /connections?fields=id&include_fields=true -> {"id", "is_domain_connection"}.
    body = api.get(
        "/api/v2/connections",
        params={"fields": "id", "include_fields": "true", "include_totals": "true"},
    ).json()
    assert [set(connection) for connection in body["connections"]] == [
        {"id", "is_domain_connection"}
    ] * len(body["connections"])


def test_every_json_answer_says_utf8(api: httpx.Client, sandbox_server: SandboxServer) -> None:
    job = api.post("/api/v2/jobs/users-exports", json={"format": "json", "limit": 1})
    answers = [
        api.get("/api/v2/connections"),
        api.get("/api/v2/connections", params={"per_page": 0}),
        job,
        api.get(f"/api/v2/jobs/{job.json()['id']}"),
        api.get("/api/v2/jobs/job_0000000000000000"),
        api.get("/api/v2/users/auth0%7Cnobody"),
        httpx.get(f"{sandbox_server.base_url}/api/v2/nothing-here"),
        httpx.delete(f"{sandbox_server.base_url}/api/v2/connections"),
    ]
    for response in answers:
        assert response.headers["Content-Type"] == JSON, (response.url, response.status_code)


def test_no_errors_answer_is_an_empty_json_204(api: httpx.Client) -> None:
    job = api.post("/api/v2/jobs/users-exports", json={"format": "json", "limit": 1}).json()
    response = api.get(f"/api/v2/jobs/{job['id']}/errors")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["Content-Type"] == JSON


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v2/connections"),
        ("PUT", "/api/v2/users"),
        ("PUT", "/api/v2/jobs/users-exports"),
        ("GET", "/api/v2/nothing-here"),
        ("GET", "/api/v2/jobs"),
    ],
)
def test_405_and_unrouted_404_carry_rate_limit_headers(
    sandbox_server: SandboxServer, method: str, path: str
) -> None:
    sandbox_server.reset_faults()
    with sandbox_server.api() as api:
        response = api.request(method, path)
    assert response.status_code in (404, 405)
    assert int(response.headers["X-RateLimit-Limit"]) > 0
    assert int(response.headers["X-RateLimit-Remaining"]) >= 0
    assert int(response.headers["X-RateLimit-Reset"]) > 0


def test_default_avatar_uses_two_initials_like_auth0(api: httpx.Client) -> None:
    # Recorded: POST /users {"email":"chuck@example.com",...} -> .../avatars%2Fch.png.
    user = _new_user(api)
    assert user["picture"].endswith("cdn.auth0.com%2Favatars%2Ffi.png")
    named = _new_user(api, name="Jane Q. Doe")
    assert named["picture"].endswith("cdn.auth0.com%2Favatars%2Fjq.png")


# --- validation as the definition says --------------------------------------------------------


def test_form_urlencoded_create_and_update(api: httpx.Client) -> None:
    email = _email()
    created = api.post(
        "/api/v2/users",
        data={
            "connection": DATABASE,
            "email": email,
            "password": "long enough",
            "given_name": "Form",
            "email_verified": "true",
        },
    )
    assert created.status_code == 201, created.text
    assert (created.json()["email"], created.json()["email_verified"]) == (email, True)
    updated = api.patch(
        f"/api/v2/users/{created.json()['user_id']}", data={"nickname": "formed", "blocked": "true"}
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["nickname"], updated.json()["blocked"]) == ("formed", True)
    wrong = api.patch(f"/api/v2/users/{created.json()['user_id']}", data={"blocked": "maybe"})
    assert wrong.status_code == 400
    assert "Expected type boolean but found type string" in wrong.json()["message"]


def test_name_and_nickname_limits_are_the_definitions(api: httpx.Client) -> None:
    user = _new_user(api)
    path = f"/api/v2/users/{user['user_id']}"
    assert api.patch(path, json={"name": "n" * 300}).status_code == 200
    assert api.patch(path, json={"nickname": "k" * 300}).status_code == 200
    too_long = api.patch(path, json={"nickname": "k" * 301})
    assert too_long.status_code == 400
    assert too_long.json()["message"] == (
        "Payload validation error: 'String is too long (301 chars), maximum 300' "
        "on property nickname."
    )
    assert api.patch(path, json={"name": "n" * 301}).status_code == 400
    assert api.patch(path, json={"given_name": "g" * 151}).status_code == 400


@pytest.mark.parametrize(
    "fields", ["provisioning_ticket_url", "clients", "authentication", "connected_accounts"]
)
def test_connection_fields_the_definition_allows(api: httpx.Client, fields: str) -> None:
    response = api.get("/api/v2/connections", params={"fields": f"name,{fields}"})
    assert response.status_code == 200, response.text


def test_connection_fields_outside_the_definition_are_refused(api: httpx.Client) -> None:
    response = api.get("/api/v2/connections", params={"fields": "name,nope"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"
    assert "on property fields" in response.json()["message"]


def test_fields_nope_on_a_user_is_a_400(api: httpx.Client) -> None:
    user = _new_user(api)
    response = api.get(f"/api/v2/users/{user['user_id']}", params={"fields": "nope"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"
    assert response.json()["message"].startswith(
        "Query validation error: 'String does not match pattern ^((phone_number)|"
    )
    by_email = api.get("/api/v2/users-by-email", params={"email": user["email"], "fields": "nope"})
    assert by_email.status_code == 400
    fine = api.get(f"/api/v2/users/{user['user_id']}", params={"fields": "user_id,email"})
    assert fine.json() == {"user_id": user["user_id"], "email": user["email"]}


@pytest.mark.parametrize("name", ["include_totals", "include_fields"])
def test_booleans_on_connections_are_checked_like_on_users(api: httpx.Client, name: str) -> None:
    users = api.get("/api/v2/users", params={name: "abc"})
    connections = api.get("/api/v2/connections", params={name: "abc"})
    assert users.status_code == connections.status_code == 400
    assert (
        "'Expected type boolean but found type string' on property " + name
        in (connections.json()["message"])
    )


def test_username_needs_a_connection_that_requires_one(
    api: httpx.Client, sandbox_server: SandboxServer
) -> None:
    sandbox_server.manage(
        "shell",
        "-c",
        "from sandbox.models import Connection; Connection.objects.update_or_create("
        "id='con_NoUsern4mes00001', defaults={'name': 'no-usernames', 'strategy': 'auth0', "
        "'options': {'requires_username': False}, 'position': 99})",
    )
    try:
        refused = api.post(
            "/api/v2/users",
            json={
                "connection": "no-usernames",
                "email": _email(),
                "password": "long enough",
                "username": "jdoe",
            },
        )
        assert refused.status_code == 400
        assert refused.json()["message"] == (
            "Cannot set username for connection without requires_username."
        )
        created = api.post(
            "/api/v2/users",
            json={"connection": "no-usernames", "email": _email(), "password": "long enough"},
        )
        assert created.status_code == 201
        patched = api.patch(f"/api/v2/users/{created.json()['user_id']}", json={"username": "jdoe"})
        assert patched.status_code == 400
        assert patched.json()["message"] == refused.json()["message"]
    finally:
        sandbox_server.manage(
            "shell",
            "-c",
            "from sandbox.models import Connection, TenantUser; "
            "TenantUser.objects.filter(profile__contains='\"no-usernames\"').delete(); "
            "Connection.objects.filter(name='no-usernames').delete()",
        )
    # The seeded database connection requires usernames, as the recorded tenant's did.
    assert _new_user(api, username="jdoe42")["username"] == "jdoe42"


@pytest.mark.parametrize(
    "metadata",
    [{"a.b": 1}, {"$set": 1}, {"ok": {"nested.key": 1}}, {"ok": [{"$x": 1}]}],
)
@pytest.mark.parametrize("root", ["app_metadata", "user_metadata"])
def test_metadata_keys_with_dot_or_dollar_are_refused(
    api: httpx.Client, root: str, metadata: dict[str, Any]
) -> None:
    user = _new_user(api)
    response = api.patch(f"/api/v2/users/{user['user_id']}", json={root: metadata})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert f"on property {root}" in response.json()["message"]
    created = api.post(
        "/api/v2/users",
        json={"connection": DATABASE, "email": _email(), "password": "long enough", root: metadata},
    )
    assert created.status_code == 400


def test_taking_another_users_address_is_a_400_as_the_definition_allows(api: httpx.Client) -> None:
    first, second = _new_user(api), _new_user(api)
    response = api.patch(f"/api/v2/users/{second['user_id']}", json={"email": first["email"]})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The specified new email already exists",
        "errorCode": "auth0_idp_error",
    }


def test_an_id_with_a_line_break_is_still_a_user_id(api: httpx.Client) -> None:
    # Found by the fuzzer: the route stopped at %0A and answered the unrouted 404.
    read = api.get("/api/v2/users/auth0%7Ca%0Ab")
    assert read.status_code == 404
    assert read.json()["errorCode"] == "inexistent_user"
    assert api.delete("/api/v2/users/auth0%7Ca%0Ab").status_code == 204
