"""The sandbox's bulk user import, `POST /api/v2/jobs/users-imports`, against a real server
(https://auth0.com/docs/manage-users/user-migration/bulk-user-imports), with our client and with
the official SDK.

A dedicated small sandbox: imports add users, and the pending-job tests hold jobs back, which
the session sandbox's other tests must not see. Two more connections are added to it: a second
database connection to import into, and a custom database without import mode.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0, BadRequestError

import management_api
from management_api.errors import PermanentError
from tests.fixtures.celery import wait_for
from tests.fixtures.import_connections import (
    CUSTOM_ID,
    EXISTS,
    SOCIAL_ID,
    TARGET,
    TARGET_ID,
    start,
)
from tests.fixtures.sandbox import SandboxServer, point_dashboard_at


@pytest.fixture(scope="module")
def imports_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = start(tmp_path_factory.mktemp("imports-sandbox"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(imports_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    imports_sandbox.reset_faults()
    imports_sandbox.set_faults(rate_limit_plan="off")
    yield imports_sandbox
    imports_sandbox.reset_faults()


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with sandbox.api() as client:
        yield client


@pytest.fixture
def ours(sandbox: SandboxServer, settings: Any) -> SandboxServer:
    """The dashboard's Management API client pointed at this sandbox."""
    point_dashboard_at(settings, sandbox)
    return sandbox


def post_import(
    api: httpx.Client, users: Any, connection_id: str = TARGET_ID, **parts: str
) -> httpx.Response:
    content = users if isinstance(users, bytes) else json.dumps(users).encode()
    return api.post(
        "/api/v2/jobs/users-imports",
        data={"connection_id": connection_id, **parts},
        files={"users": ("users.json", content, "application/json")},
    )


def finished(api: httpx.Client, job_id: str) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        job = api.get(f"/api/v2/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "failed") else None

    return dict(wait_for(settled))


def stored(server: SandboxServer, email: str) -> dict[str, Any] | None:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        for (text,) in db.execute(
            "SELECT profile FROM sandbox_tenantuser WHERE email = ?", [email]
        ):
            profile = json.loads(text)
            if profile["identities"][0]["connection"] == TARGET:
                return dict(profile)
    return None


def test_an_import_is_a_202_job_that_completes_and_its_users_are_searchable(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    users = [
        {
            "email": "Imported.One@Example.com",
            "email_verified": True,
            "user_id": "imported0001",
            "given_name": "Imp",
            "user_metadata": {"consent": {"given": True}, "plan": "pro"},
            "app_metadata": {"roles": ["admin"]},
        },
        {"email": "imported.two@example.com"},
    ]
    response = post_import(api, users, external_id="batch-7")
    assert response.status_code == 202
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    job = response.json()
    assert list(job) == [
        "type",
        "status",
        "connection_id",
        "external_id",
        "connection",
        "created_at",
        "id",
    ]
    assert (job["type"], job["status"], job["connection"]) == ("users_import", "pending", TARGET)

    done = finished(api, job["id"])
    assert done["status"] == "completed"
    assert done["summary"] == {"failed": 0, "updated": 0, "inserted": 2, "total": 2}
    assert done["external_id"] == "batch-7"
    errors = api.get(f"/api/v2/jobs/{job['id']}/errors")
    assert errors.status_code == 204

    one = stored(sandbox, "imported.one@example.com")
    assert one is not None
    assert one["user_id"] == "auth0|imported0001"
    assert one["identities"] == [
        {"connection": TARGET, "user_id": "imported0001", "provider": "auth0", "isSocial": False}
    ]
    assert one["user_metadata"] == {"consent": {"given": True}, "plan": "pro"}
    assert one["email_verified"] is True
    two = stored(sandbox, "imported.two@example.com")
    assert two is not None
    assert (two["name"], two["nickname"], two["email_verified"]) == (
        "imported.two@example.com",
        "imported.two",
        False,
    )
    assert two["user_id"].startswith("auth0|")
    assert len(two["user_id"]) == 6 + 24

    def found() -> list[dict[str, Any]]:
        return list(
            api.get(
                "/api/v2/users",
                params={"q": 'user_metadata.plan:"pro" AND identities.connection:"import-target"'},
            ).json()
        )

    assert [user["email"] for user in wait_for(found)] == ["imported.one@example.com"]


def test_per_user_errors_come_in_auth0s_shape_and_do_not_fail_the_job(
    api: httpx.Client,
) -> None:
    first = post_import(api, [{"email": "exists.already@example.com"}]).json()
    assert finished(api, first["id"])["summary"]["inserted"] == 1

    users = [
        {"email": "exists.already@example.com", "email_verified": True},
        {"email": "fresh.one@example.com", "created_at": "2024-01-01T00:00:00.000Z"},
        {"email": "not-an-address"},
        {"email": "dup.in.file@example.com"},
        {"email": "dup.in.file@example.com"},
        {"name": "No Email"},
        {"email": "hashed@example.com", "password_hash": "x", "custom_password_hash": {}},
    ]
    job = post_import(api, users).json()
    done = finished(api, job["id"])
    assert done["status"] == "completed"
    assert done["summary"] == {"failed": 6, "updated": 0, "inserted": 1, "total": 7}

    response = api.get(f"/api/v2/jobs/{job['id']}/errors")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    errors = response.json()
    assert errors[0] == {
        "user": {"email": "exists.already@example.com", "email_verified": True},
        "errors": [{"code": "DUPLICATED_USER", "message": EXISTS}],
    }
    assert errors[1]["errors"] == [
        {
            "code": "OBJECT_ADDITIONAL_PROPERTIES",
            "message": "Additional properties not allowed: created_at",
        }
    ]
    assert errors[2]["errors"] == [
        {
            "code": "FORMAT",
            "message": "Error in email property - Object didn't pass validation for format "
            "email: not-an-address",
            "path": "email",
        }
    ]
    assert errors[3] == {
        "user": {"email": "dup.in.file@example.com"},
        "errors": [
            {"code": "DUPLICATED_USER", "message": "A user with this email was already provided."}
        ],
    }
    assert errors[4]["errors"] == [
        {"code": "OBJECT_REQUIRED", "message": "Missing required property: email"}
    ]
    # Hashes are never echoed back.
    assert errors[5]["user"]["password_hash"] == "*****"
    assert {e["code"] for e in errors[5]["errors"]} == {"OBJECT_REQUIRED"}


def test_upsert_replaces_metadata_of_users_matched_by_email(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    email = "upsert.me@example.com"
    job = post_import(api, [{"email": email, "user_metadata": {"a": 1, "b": 2}}]).json()
    finished(api, job["id"])
    again = [{"email": email, "name": "Upserted", "user_metadata": {"c": 3}, "blocked": True}]
    job = post_import(api, again, upsert="true").json()
    assert finished(api, job["id"])["summary"] == {
        "failed": 0,
        "updated": 1,
        "inserted": 0,
        "total": 1,
    }
    profile = stored(sandbox, email)
    assert profile is not None
    assert profile["user_metadata"] == {"c": 3}
    assert profile["name"] == "Upserted"
    # blocked is not upsertable.
    assert "blocked" not in profile


def test_a_file_that_is_not_a_json_array_fails_the_job(api: httpx.Client) -> None:
    job = post_import(api, b'{"email": "x@example.com"}').json()
    done = finished(api, job["id"])
    assert done["status"] == "failed"
    assert "summary" not in done
    assert done["status_details"]
    assert api.get(f"/api/v2/jobs/{job['id']}/errors").status_code == 204


def test_requests_auth0_refuses(api: httpx.Client, sandbox: SandboxServer) -> None:
    def refused(response: httpx.Response) -> tuple[int, str, str | None]:
        body = response.json()
        return response.status_code, body["message"], body.get("errorCode")

    big = b"[" + b",".join([b'{"email":"big@example.com"}'] * 20_000) + b"]"
    assert len(big) > 512_000
    assert refused(post_import(api, big)) == (
        413,
        "Payload content length greater than maximum allowed: 512000.",
        None,
    )
    # Sent chunked (no Content-Length): the file itself is measured.
    boundary = "chunkedboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="connection_id"\r\n\r\n'
            f'{TARGET_ID}\r\n--{boundary}\r\nContent-Disposition: form-data; name="users"; '
            f'filename="users.json"\r\nContent-Type: application/json\r\n\r\n'
        ).encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    chunked = api.post(
        "/api/v2/jobs/users-imports",
        content=iter([body[:1000], body[1000:]]),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in chunked.request.headers
    assert refused(chunked)[:2] == (
        413,
        "Payload content length greater than maximum allowed: 512000.",
    )
    assert refused(api.post("/api/v2/jobs/users-imports", json=[])) == (
        400,
        "Payload validation error: 'Invalid multipart payload format'.",
        None,
    )
    no_file = api.post(
        "/api/v2/jobs/users-imports",
        data={"connection_id": TARGET_ID},
        files={"other": ("x", b"1")},
    )
    assert refused(no_file)[1] == "Must provide 'users' file as multipart part."
    assert refused(post_import(api, b""))[1] == "Users file must not be empty."
    no_connection = api.post(
        "/api/v2/jobs/users-imports", files={"users": ("u.json", b"[]", "application/json")}
    )
    assert refused(no_connection)[1] == "Must provide 'connection_id' as multipart part."
    assert refused(post_import(api, [], connection_id='"con_ImportTarget0001"')) == (
        400,
        "Payload validation error: 'String does not match pattern ^con_[A-Za-z0-9]{16}$' "
        "on property connection_id.",
        "invalid_body",
    )
    assert refused(post_import(api, [], connection_id="con_0000000000000000")) == (
        400,
        "The connection does not exist.",
        None,
    )
    assert refused(post_import(api, [], connection_id=SOCIAL_ID)) == (
        400,
        "Connection must be a database connection.",
        "operation_not_supported",
    )
    assert refused(post_import(api, [], connection_id=CUSTOM_ID))[1] == (
        "Custom Database Connections without import mode are not allowed."
    )
    with sandbox.api(scope="read:users") as reader:
        assert refused(post_import(reader, [])) == (
            403,
            "Insufficient scope; expected any of: create:users.",
            "insufficient_scope",
        )


def test_a_third_import_while_two_are_pending_is_a_429(
    api: httpx.Client, sandbox: SandboxServer
) -> None:
    sandbox.set_faults(job_pending_seconds=600)
    held = [post_import(api, b"not json").json()["id"] for _ in range(2)]
    third = post_import(api, [{"email": "third@example.com"}])
    assert third.status_code == 429
    assert third.json()["message"] == (
        "There are 2 active import users jobs, please wait until some of them are finished "
        "and try again"
    )
    # Let the held jobs run (they fail: their files are not JSON) so no later test waits.
    sandbox.shift_clock(601)
    assert [finished(api, job_id)["status"] for job_id in held] == ["failed", "failed"]


def test_our_client_imports_and_reads_the_errors(ours: SandboxServer) -> None:
    users = [{"email": "client.one@example.com"}, {"email": "client.one@example.com"}]
    job = management_api.create_users_import(
        json.dumps(users).encode(), connection_id=TARGET_ID, external_id="ours"
    )
    assert (job["type"], job["status"], job["external_id"]) == ("users_import", "pending", "ours")

    def settled() -> dict[str, Any] | None:
        found = management_api.get_job(job["id"])
        return found if found and found["status"] == "completed" else None

    assert wait_for(settled)["summary"] == {"failed": 1, "updated": 0, "inserted": 1, "total": 2}
    errors = management_api.get_job_errors(job["id"])
    assert [e["errors"][0]["code"] for e in errors] == ["DUPLICATED_USER"]

    with pytest.raises(PermanentError) as refused:
        management_api.create_users_import(b"[]", connection_id=SOCIAL_ID)
    assert refused.value.status == 400
    assert refused.value.error_code == "operation_not_supported"


def test_the_official_python_sdk_imports_into_the_sandbox(sandbox: SandboxServer) -> None:
    host = sandbox.base_url.removeprefix("http://")
    token = GetToken(
        host, sandbox.client_id, client_secret=sandbox.client_secret, protocol="http"
    ).client_credentials(audience=sandbox.audience)
    client = Auth0(base_url=f"{sandbox.base_url}/api/v2", token=token["access_token"])
    users = [{"email": "sdk.one@example.com", "user_metadata": {"via": "sdk"}}]

    created = client.jobs.users_imports.create(
        users=json.dumps(users).encode(), connection_id=TARGET_ID, upsert=False
    )
    assert created.type == "users_import"
    assert created.connection_id == TARGET_ID

    def settled() -> Any:
        job = client.jobs.get(created.id)
        return job if job.status == "completed" else None

    job = wait_for(settled)
    assert job.summary is not None
    assert (job.summary.inserted, job.summary.failed) == (1, 0)
    assert client.jobs.errors.get(created.id) is None  # the 204

    again = client.jobs.users_imports.create(
        users=json.dumps(users).encode(), connection_id=TARGET_ID
    )
    wait_for(lambda: client.jobs.get(again.id).status == "completed")
    errors = client.jobs.errors.get(again.id)
    assert isinstance(errors, list)
    assert errors[0].errors is not None
    assert errors[0].errors[0].code == "DUPLICATED_USER"

    with pytest.raises(BadRequestError):
        client.jobs.users_imports.create(users=b"[]", connection_id=SOCIAL_ID)
