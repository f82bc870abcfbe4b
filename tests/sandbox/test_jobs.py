"""Export jobs on the running sandbox: validation, lifecycle, the file, the signed link, expiry."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.fixtures.sandbox import SandboxServer

DB_CONNECTION = "Username-Password-Authentication"


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset_faults()
    sandbox_server.set_faults(rate_limit_plan="off")
    yield sandbox_server
    sandbox_server.reset_faults()


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with sandbox.api() as client:
        yield client


def _connection_id(api: httpx.Client, name: str) -> str:
    found = api.get("/api/v2/connections", params={"name": name}).json()
    return str(found[0]["id"])


def _wait_for(api: httpx.Client, job_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job = api.get(f"/api/v2/jobs/{job_id}").json()
        assert "status" in job, job
        if job["status"] in statuses or time.monotonic() > deadline:
            assert job["status"] in statuses, job
            return dict(job)
        time.sleep(0.05)


def _export(api: httpx.Client, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v2/jobs/users-exports", json=body)
    assert response.status_code == 200, response.text
    return _wait_for(api, response.json()["id"], "completed", "failed")


def _users(sandbox: SandboxServer, where: str = "1", params: tuple[Any, ...] = ()) -> list[dict]:
    with sqlite3.connect(f"file:{sandbox.db_path}?mode=ro", uri=True) as db:
        rows = db.execute(
            f"SELECT profile FROM sandbox_tenantuser WHERE {where} ORDER BY id", params
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


# --- validation ---------------------------------------------------------------------------------

LONG = "x" * 101


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"format": "csv", "extra": 1}, "'Additional properties not allowed: extra'."),
        (
            {"format": "xml"},
            "'No enum match for: xml' on property format (The format of the file. "
            'Valid values are: "json" and "csv".).',
        ),
        (
            {"connection_id": "con_short"},
            "'String does not match pattern ^con_[A-Za-z0-9]{16}$: con_short' on property "
            "connection_id (connection_id of the connection from which users will be exported.).",
        ),
        ({"limit": 0}, "'Value 0 is less than minimum 1' on property limit."),
        ({"limit": "5"}, "'Expected type integer but found type string' on property limit."),
        (
            {"fields": {"name": "email"}},
            "'Expected type array but found type object' on property fields.",
        ),
        (
            {"fields": [{"export_as": "E"}]},
            "'Missing required property: name' on property fields[0].",
        ),
        (
            {"fields": [{"name": "email", "title": "E"}]},
            "'Additional properties not allowed: title' on property fields[0].",
        ),
        (
            {"fields": [{"name": LONG}]},
            "'String is too long (101 chars), maximum 100' on property fields[0].name.",
        ),
        (
            {"fields": [{"name": "email", "export_as": LONG}]},
            "'String is too long (101 chars), maximum 100' on property fields[0].export_as.",
        ),
        (
            {"format": "csv", "fields": [{"name": f"user_metadata.f{i}"} for i in range(31)]},
            "CSV exports are limited to 30 fields, got 31; use the json format for more.",
        ),
        (
            {"format": "csv", "fields": [{"name": "email"}, {"name": "app_metadata"}]},
            "app_metadata cannot be exported whole in CSV; list its fields (like "
            "app_metadata.plan) or use the json format.",
        ),
        (
            {"format": "csv", "fields": [{"name": "user_metadata.consent"}]},
            "user_metadata.consent is an object and cannot be exported whole in CSV; list its "
            "leaf fields (like user_metadata.consent.<field>) or use the json format.",
        ),
        (
            {"format": "csv", "fields": [{"name": "identities"}]},
            "identities cannot be exported whole in CSV; list its fields (like "
            "identities[0].connection) or use the json format.",
        ),
    ],
)
def test_create_validation(api: httpx.Client, body: dict[str, Any], message: str) -> None:
    response = api.post("/api/v2/jobs/users-exports", json=body)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Payload validation error: {message}",
        "errorCode": "invalid_body",
    }


def test_json_allows_what_csv_refuses(api: httpx.Client) -> None:
    fields = [{"name": "user_metadata.consent"}, {"name": "app_metadata"}]
    fields += [{"name": f"user_metadata.f{i}"} for i in range(31)]
    response = api.post("/api/v2/jobs/users-exports", json={"format": "json", "fields": fields})
    assert response.status_code == 200


def test_unknown_connection(api: httpx.Client) -> None:
    response = api.post(
        "/api/v2/jobs/users-exports", json={"connection_id": "con_AAAAAAAAAAAAAAAA"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "The connection does not exist."


def test_create_answers_the_pending_job(api: httpx.Client) -> None:
    connection_id = _connection_id(api, DB_CONNECTION)
    body = {
        "connection_id": connection_id,
        "format": "json",
        "limit": 5,
        "fields": [{"name": "email"}, {"name": "identities[0].connection", "export_as": "c"}],
    }
    response = api.post("/api/v2/jobs/users-exports", json=body)

    assert response.status_code == 200
    job = response.json()
    assert job["type"] == "users_export"
    assert job["status"] == "pending"
    assert job["connection"] == DB_CONNECTION
    assert {k: job[k] for k in body} == body
    assert job["id"].startswith("job_")
    assert len(job["id"]) == 20
    assert job["created_at"].endswith("Z")


def test_create_from_a_form_body(api: httpx.Client) -> None:
    form = {
        "format": "csv",
        "limit": "3",
        "fields[0][name]": "email",
        "fields[1][name]": "name",
        "fields[1][export_as]": "Full name",
    }
    response = api.post(
        "/api/v2/jobs/users-exports",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["limit"] == 3
    assert job["fields"] == [{"name": "email"}, {"name": "name", "export_as": "Full name"}]


def test_jobs_need_read_users(sandbox: SandboxServer) -> None:
    with sandbox.api(scope="read:connections") as api:
        response = api.post("/api/v2/jobs/users-exports", json={})
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope, expected any of: read:users"


# --- lifecycle ----------------------------------------------------------------------------------


def test_unknown_and_malformed_job_ids(api: httpx.Client) -> None:
    missing = api.get("/api/v2/jobs/job_AAAAAAAAAAAAAAAA")
    assert missing.status_code == 404
    assert missing.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "Job not found.",
        "errorCode": "inexistent_job",
    }
    malformed = api.get("/api/v2/jobs/nope")
    assert malformed.status_code == 400
    assert malformed.json()["errorCode"] == "invalid_uri"
    assert api.get("/api/v2/jobs/nope/errors").status_code == 400


def test_pending_job_waits_for_its_time(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.set_faults(job_pending_seconds=3600)
    job = api.post("/api/v2/jobs/users-exports", json={"format": "csv", "limit": 2}).json()
    # A pending job stays pending while the runner keeps polling (it wakes four times a second).
    for _ in range(3):
        assert api.get(f"/api/v2/jobs/{job['id']}").json()["status"] == "pending"
        assert api.get(f"/api/v2/jobs/{job['id']}/errors").status_code == 204

    sandbox.shift_clock(3600)
    done = _wait_for(api, job["id"], "completed")

    assert "location" in done
    assert "status_details" not in done


def test_processing_job_reports_progress(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.set_faults(job_rows_per_second=50)
    job_id = api.post("/api/v2/jobs/users-exports", json={"format": "json"}).json()["id"]

    job = _wait_for(api, job_id, "processing")
    deadline = time.monotonic() + 30
    while job["status"] == "processing" and job["percentage_done"] == 0:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = api.get(f"/api/v2/jobs/{job_id}").json()

    assert job["status"] == "processing", job
    assert 0 < job["percentage_done"] < 100
    assert job["time_left_seconds"] > 0
    assert "location" not in job
    sandbox.set_faults(job_rows_per_second=0)
    assert "location" in _wait_for(api, job_id, "completed")


def test_failing_job(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.set_faults(job_fail="The export ran out of disk space.")
    created = api.post("/api/v2/jobs/users-exports", json={"format": "json"}).json()
    sandbox.set_faults(job_fail="")

    job = _wait_for(api, created["id"], "failed")
    errors = api.get(f"/api/v2/jobs/{created['id']}/errors")

    assert job["status_details"] == "The export ran out of disk space."
    assert "location" not in job
    assert errors.status_code == 200
    assert errors.json() == {
        "status": "failed",
        "type": "users_export",
        "created_at": created["created_at"],
        "id": created["id"],
        "status_details": "The export ran out of disk space.",
    }


def test_completed_job_has_no_errors(api: httpx.Client) -> None:
    job = _export(api, format="csv", limit=1)
    assert job["status"] == "completed"
    response = api.get(f"/api/v2/jobs/{job['id']}/errors")
    assert response.status_code == 204
    assert response.content == b""


def test_restart_resumes_queued_jobs(sandbox: SandboxServer) -> None:
    sandbox.set_faults(job_pending_seconds=600)
    with sandbox.api() as api:
        job_id = api.post("/api/v2/jobs/users-exports", json={"limit": 3}).json()["id"]
    sandbox.restart()
    sandbox.shift_clock(600)
    with sandbox.api() as api:
        assert _wait_for(api, job_id, "completed")["limit"] == 3


# --- the file -----------------------------------------------------------------------------------


def _download(location: str) -> bytes:
    response = httpx.get(location)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/gzip"
    return gzip.decompress(response.content)


def test_csv_file_matches_the_users(sandbox: SandboxServer, api: httpx.Client) -> None:
    fields = [
        {"name": "user_id", "export_as": "Id"},
        {"name": "email"},
        {"name": "identities[0].connection", "export_as": "Connection"},
        {"name": "created_at"},
        {"name": "logins_count"},
    ]
    job = _export(api, format="csv", limit=40, fields=fields)

    assert urlsplit(job["location"]).path == f"/exports/{job['id']}/{sandbox.tenant}.csv.gz"
    text = _download(job["location"]).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Id", "email", "Connection", "created_at", "logins_count"]
    users = _users(sandbox)[:40]
    assert len(rows) == 41
    for row, user in zip(rows[1:], users, strict=True):
        assert row[0] == "'" + user["user_id"]
        assert row[1] == ("'" + user["email"] if "email" in user else "")
        assert row[2] == "'" + user["identities"][0]["connection"]
        assert row[3] == user["created_at"]
        assert row[4] == str(user.get("logins_count", ""))


def test_json_file_for_one_connection(sandbox: SandboxServer, api: httpx.Client) -> None:
    connection_id = _connection_id(api, "github")
    job = _export(
        api,
        format="json",
        connection_id=connection_id,
        fields=[{"name": "user_id"}, {"name": "app_metadata"}],
    )

    assert urlsplit(job["location"]).path.endswith(f"/{sandbox.tenant}.json.gz")
    lines = _download(job["location"]).decode("utf-8").splitlines()
    expected = _users(
        sandbox,
        "EXISTS (SELECT 1 FROM json_each(profile, '$.identities') "
        "WHERE json_extract(value, '$.connection') = ?)",
        ("github",),
    )
    assert expected
    got = [json.loads(line) for line in lines]
    assert [g["user_id"] for g in got] == [u["user_id"] for u in expected]
    assert [g.get("app_metadata") for g in got] == [u.get("app_metadata") for u in expected]


# --- the signed link ----------------------------------------------------------------------------


def test_link_is_reissued_on_every_read(sandbox: SandboxServer, api: httpx.Client) -> None:
    job = _export(api, format="csv", limit=1)
    sandbox.shift_clock(30)
    again = api.get(f"/api/v2/jobs/{job['id']}").json()

    old = parse_qs(urlsplit(job["location"]).query)
    new = parse_qs(urlsplit(again["location"]).query)
    assert int(new["Expires"][0]) >= int(old["Expires"][0]) + 30
    assert new["Signature"] != old["Signature"]
    assert urlsplit(again["location"]).netloc == urlsplit(sandbox.base_url).netloc


def test_expired_link_is_refused_and_a_fresh_one_works(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    job = _export(api, format="csv", limit=1)
    sandbox.shift_clock(61)

    expired = httpx.get(job["location"])
    assert expired.status_code == 403
    assert expired.headers["Content-Type"].startswith("text/xml")
    assert "<Code>AccessDenied</Code>" in expired.text

    fresh = api.get(f"/api/v2/jobs/{job['id']}").json()["location"]
    assert httpx.get(fresh).status_code == 200


@pytest.mark.parametrize("part", ["Signature", "Expires", "path"])
def test_altered_link_is_refused(api: httpx.Client, part: str) -> None:
    location = _export(api, format="csv", limit=1)["location"]
    url = urlsplit(location)
    query = parse_qs(url.query)
    path = url.path
    if part == "Signature":
        signature = query["Signature"][0]
        # Another first character, whatever the signature happens to start with.
        query["Signature"] = [("B" if signature[0] == "A" else "A") + signature[1:]]
    elif part == "Expires":
        query["Expires"] = [str(int(query["Expires"][0]) + 3600)]
    else:
        path = path.replace(".csv.gz", ".json.gz")
    altered = f"{url.scheme}://{url.netloc}{path}?{urlencode(query, doseq=True)}"

    response = httpx.get(altered)
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_link_lifetime_switch(sandbox: SandboxServer, api: httpx.Client) -> None:
    sandbox.set_faults(link_seconds=5)
    location = _export(api, format="csv", limit=1)["location"]
    expires = int(parse_qs(urlsplit(location).query)["Expires"][0])
    assert expires - time.time() <= 6
    sandbox.shift_clock(6)
    assert httpx.get(location).status_code == 403


def test_link_lapses_switch_makes_the_next_downloads_lapse(
    sandbox: SandboxServer, api: httpx.Client
) -> None:
    """The `link_lapses` fault makes a link lapse even for a client that downloads at once."""
    sandbox.set_faults(link_lapses=2)
    location = _export(api, format="csv", limit=1)["location"]
    first, second, third = (httpx.get(location) for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [403, 403, 200]
    assert "the link has expired" in first.text
    assert sandbox.faults()["link_lapses"] == 0


def test_download_cut_short(sandbox: SandboxServer, api: httpx.Client) -> None:
    location = _export(api, format="json")["location"]
    full = httpx.get(location).content
    assert len(full) > 200

    sandbox.set_faults(download_cut_bytes=100)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(location)


def test_job_and_file_are_deleted_after_24_hours(sandbox: SandboxServer, api: httpx.Client) -> None:
    job = _export(api, format="csv", limit=1)
    folder = sandbox.var_dir / "sandbox-exports" / job["id"]
    assert folder.is_dir()
    sandbox.shift_clock(24 * 3600 - 60)
    assert api.get(f"/api/v2/jobs/{job['id']}").status_code == 200

    sandbox.shift_clock(24 * 3600)

    # The old token expired along with the job: a day has passed for the sandbox too.
    with sandbox.api() as fresh:
        assert fresh.get(f"/api/v2/jobs/{job['id']}").status_code == 404
        assert fresh.get(f"/api/v2/jobs/{job['id']}/errors").status_code == 404
    assert not folder.exists()
