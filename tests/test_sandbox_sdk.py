"""Conformance with a client nobody here wrote: the official auth0-python SDK (6.8.0).

Per auth0-api.md §6.4 the SDK reaches a plain-http server only through
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
from urllib.parse import urlsplit

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, BadRequestError, CreateExportUsersFields, TooManyRequestsError

from tests.fixtures.sandbox import SandboxServer, make_sandbox_server


def _host(server: SandboxServer) -> str:
    return urlsplit(server.base_url).netloc


def _client(server: SandboxServer) -> Auth0:
    token = GetToken(
        _host(server), server.client_id, client_secret=server.client_secret, protocol="http"
    ).client_credentials(audience=server.audience)
    return Auth0(base_url=f"{server.base_url}/api/v2", token=token["access_token"])


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
    assert names == ["Username-Password-Authentication", "google-oauth2", "github", "acme-saml"]


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
