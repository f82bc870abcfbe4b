"""Conformance with a client nobody here wrote: the official auth0-python SDK (6.8.0).

Its `ManagementClient(domain=...)` always builds `https://{domain}/api/v2`, so the SDK reaches a
plain-http server only through
`auth0.management.Auth0(base_url=...)` and `GetToken(..., protocol="http")`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import (
    BadRequestError,
    CreateExportUsersFields,
    NotFoundError,
    TooManyRequestsError,
)

from tests.fixtures.python_sdk import sdk_client as _client
from tests.fixtures.python_sdk import sdk_host as _host
from tests.fixtures.sandbox import SEEDED_CONNECTIONS, SandboxServer, make_sandbox_server


def _profiles(server: SandboxServer, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            f"SELECT profile FROM sandbox_tenantuser WHERE {where} ORDER BY id", params
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset_faults()
    yield sandbox_server
    sandbox_server.reset_faults()


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """More users than the 1,000-result search window."""
    server = make_sandbox_server(tmp_path_factory.mktemp("big-sandbox"), users=1100, seed=11)
    try:
        yield server
    finally:
        server.stop()


def test_token_from_get_token(sandbox: SandboxServer) -> None:
    token = GetToken(
        _host(sandbox), sandbox.client_id, client_secret=sandbox.client_secret, protocol="http"
    ).client_credentials(audience=sandbox.audience)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 86400


def test_pager_walks_a_search_to_its_end(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    expected = [
        p["user_id"]
        for p in _profiles(
            sandbox,
            "EXISTS (SELECT 1 FROM json_each(profile, '$.identities') "
            "WHERE json_extract(value, '$.connection') = 'google-oauth2')",
        )
    ]
    assert len(expected) > 50  # more than one page

    pager = client.users.list(q='identities.connection:"google-oauth2"', search_engine="v3")
    found = [user.user_id for user in pager]

    assert found == expected
    # Every page of 50, then the empty page that tells the pager it is done.
    assert sandbox.requests_seen()["users_read"] == -(-len(expected) // 50) + 1


def test_pager_stops_at_the_1000_result_window(big_sandbox: SandboxServer) -> None:
    client = _client(big_sandbox)
    pager = client.users.list(q="_exists_:user_id", search_engine="v3", per_page=100)
    seen: list[str] = []

    with pytest.raises(BadRequestError) as refused:
        seen.extend(str(user.user_id) for user in pager)

    assert len(seen) == 1000
    assert seen == [p["user_id"] for p in _profiles(big_sandbox)][:1000]
    assert refused.value.body["errorCode"] == "invalid_paging"
    assert refused.value.body["message"].startswith(
        "You can only page through the first 1000 records."
    )


def test_total_is_capped_at_1000(big_sandbox: SandboxServer) -> None:
    page = _client(big_sandbox).users.list(q="_exists_:user_id", search_engine="v3", per_page=1)
    assert page.response.total == 1000


def test_lookup_by_email_and_read_a_user(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    someone = next(p for p in _profiles(sandbox) if p.get("email") and "|" in p["user_id"])

    by_email = client.users.list_users_by_email(email=someone["email"])
    wrong_case = client.users.list_users_by_email(email=someone["email"].swapcase())
    user = client.users.get(id=someone["user_id"])

    assert someone["user_id"] in [u.user_id for u in by_email]
    assert all(u.email == someone["email"] for u in by_email)
    assert someone["user_id"] not in [u.user_id for u in wrong_case]
    assert user.user_id == someone["user_id"]
    assert user.email == someone["email"]
    assert user.identities is not None
    assert user.identities[0].connection == someone["identities"][0]["connection"]


def test_list_connections(sandbox: SandboxServer) -> None:
    names = [connection.name for connection in _client(sandbox).connections.list()]
    assert names == SEEDED_CONNECTIONS


def test_export_job_polled_and_downloaded(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    connection = next(c for c in client.connections.list() if c.name == "google-oauth2")
    created = client.jobs.users_exports.create(
        connection_id=connection.id,
        format="csv",
        fields=[
            CreateExportUsersFields(name="user_id"),
            CreateExportUsersFields(name="email", export_as="Email"),
            CreateExportUsersFields(name="identities[0].connection", export_as="Connection"),
        ],
    )
    assert created.status == "pending"
    assert created.connection == "google-oauth2"
    assert created.id is not None

    deadline = time.monotonic() + 30
    job = client.jobs.get(id=created.id)
    while job.status != "completed" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.jobs.get(id=created.id)
    assert job.status == "completed"
    assert job.location is not None

    download = httpx.get(job.location)
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(gzip.decompress(download.content).decode("utf-8"))))
    expected = _profiles(
        sandbox,
        "EXISTS (SELECT 1 FROM json_each(profile, '$.identities') "
        "WHERE json_extract(value, '$.connection') = 'google-oauth2')",
    )
    assert rows[0] == ["user_id", "Email", "Connection"]
    assert [row[0] for row in rows[1:]] == ["'" + p["user_id"] for p in expected]
    assert client.jobs.errors.get(id=created.id) is None


def test_sdk_gives_up_after_honouring_a_429_storm(sandbox: SandboxServer) -> None:
    client = _client(sandbox)
    sandbox.set_faults(rate_limit_share=1)
    someone = _profiles(sandbox)[0]

    with pytest.raises(TooManyRequestsError) as refused:
        client.users.get(id=someone["user_id"])

    # One call and the SDK's two retries, each after the Retry-After the server sent.
    assert sandbox.requests_seen() == {"users_read": 3}
    assert refused.value.status_code == 429
    assert refused.value.headers is not None
    assert refused.value.headers["retry-after"] == "1"
    assert "x-ratelimit-reset" in refused.value.headers


# --- the support-action endpoints, through the SDK ---------------------------------------------


@pytest.fixture(scope="module")
def actions_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A tenant of its own (seeded like the shared one): these tests change its users."""
    server = make_sandbox_server(tmp_path_factory.mktemp("sdk-actions"))
    server.set_faults(rate_limit_plan="off")
    try:
        yield server
    finally:
        server.stop()


def _first_user_with(server: SandboxServer, table: str) -> str:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        (user_id,) = db.execute(
            f"SELECT u.user_id FROM {table} t JOIN sandbox_tenantuser u ON u.id = t.user_id "
            "ORDER BY t.rowid LIMIT 1"
        ).fetchone()
    return str(user_id)


def test_sdk_updates_blocks_and_deletes_a_user(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user = client.users.create(
        connection="Username-Password-Authentication",
        email="sdk.actions@example.com",
        password="long enough",
        user_metadata={"color": "blue", "size": 3},
    )
    assert user.user_id is not None
    updated = client.users.update(
        user.user_id, blocked=True, user_metadata={"color": None, "shape": "round"}
    )
    assert updated.blocked is True
    assert updated.user_metadata == {"size": 3, "shape": "round"}
    # An explicit None is sent as null: it unsets the attribute.
    unset = client.users.update(user.user_id, nickname=None)
    assert unset.nickname is None

    client.users.delete(user.user_id)
    client.users.delete(user.user_id)  # idempotent
    with pytest.raises(NotFoundError):
        client.users.get(user.user_id)


def test_sdk_lists_and_clears_brute_force_blocks(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user_id = _first_user_with(actions_sandbox, "sandbox_userblock")
    blocks = client.user_blocks.list(user_id, consider_brute_force_enablement=True)
    assert blocks.blocked_for
    identifier = blocks.blocked_for[0].identifier
    assert client.user_blocks.list_by_identifier(identifier=identifier).blocked_for
    client.user_blocks.delete_by_identifier(identifier=identifier)
    client.user_blocks.delete(user_id)
    assert client.user_blocks.list(user_id).blocked_for == []


def test_sdk_reads_user_logs_and_searches_logs(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user_id = _first_user_with(actions_sandbox, "sandbox_userblock")
    pager = client.users.logs.list(user_id, per_page=5, sort="date:-1")
    first_page = list(pager.items or [])
    assert len(first_page) == 5
    everything = [event.log_id for event in pager]
    assert everything[:5] == [event.log_id for event in first_page]
    assert len(everything) == len(set(everything)) > 5
    found = client.logs.list(
        per_page=10,
        request_options={"additional_query_parameters": {"q": f'user_id:"{user_id}"'}},
    )
    assert {event.user_id for event in found.items or []} == {user_id}


def test_sdk_verification_email_job_and_password_ticket(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user = client.users.create(
        connection="Username-Password-Authentication",
        email="sdk.verify@example.com",
        password="long enough",
    )
    assert user.user_id is not None
    job = client.jobs.verification_email.create(user_id=user.user_id)
    assert (job.type, job.status) == ("verification_email", "pending")
    assert job.id is not None
    status = job.status
    for _ in range(400):
        status = client.jobs.get(job.id).status
        if status in ("completed", "failed"):
            break
        time.sleep(0.05)  # the SDK polls; so does this test
    assert status == "completed"

    ticket = client.tickets.change_password(
        user_id=user.user_id, ttl_sec=600, include_email_in_redirect=False
    )
    assert ticket.ticket.startswith(f"{actions_sandbox.base_url}/u/reset-password?ticket=")
    with pytest.raises(BadRequestError) as refused:
        client.tickets.change_password(email="x@example.com")
    assert "connection_id" in refused.value.body["message"]


def test_sdk_mfa_methods_and_remembered_browsers(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user_id = _first_user_with(actions_sandbox, "sandbox_authenticationmethod")
    methods = list(client.users.authentication_methods.list(user_id))
    assert methods
    one = client.users.authentication_methods.get(user_id, methods[0].id)
    assert one.id == methods[0].id
    client.users.authentication_methods.delete(user_id, methods[0].id)
    client.users.multifactor.invalidate_remember_browser(user_id)
    client.users.authentication_methods.delete_all(user_id)
    assert list(client.users.authentication_methods.list(user_id)) == []


def test_sdk_sessions_and_refresh_tokens(actions_sandbox: SandboxServer) -> None:
    client = _client(actions_sandbox)
    user_id = _first_user_with(actions_sandbox, "sandbox_refreshtoken")
    sessions = list(client.users.sessions.list(user_id))
    tokens = list(client.users.refresh_token.list(user_id))
    assert sessions
    assert tokens
    assert {token.session_id for token in tokens} <= {session.id for session in sessions}
    first = sessions[0].id
    assert first is not None
    assert client.sessions.get(first).user_id == user_id
    client.sessions.revoke(first)
    client.users.revoke_access(user_id, preserve_refresh_tokens=True)
    client.users.sessions.delete(user_id)
    client.users.refresh_token.delete(user_id)
    assert list(client.users.sessions.list(user_id)) == []
    assert list(client.users.refresh_token.list(user_id)) == []


def test_sdk_reads_one_connection(actions_sandbox: SandboxServer) -> None:
    connection = _client(actions_sandbox).connections.get("con_Db1Pw2Xk9LmQ4RtZ")
    assert connection.name == "Username-Password-Authentication"
