"""Several connections in one export: one Auth0 job per connection, one file with the
connection in each row, each part and the whole verified, a failed part failing the export."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import combine, formats, tasks
from exports.models import CONNECTION_COLUMN, Export, ExportSpec, ExportTemplate, PartStatus, Status
from tests.fixtures.celery import CSV_SPEC, drive, stored_files
from tests.fixtures.sandbox import SandboxServer

DATABASE = {"id": "con_Db1Pw2Xk9LmQ4RtZ", "name": "Username-Password-Authentication"}
GITHUB = {"id": "con_GiTh9Ub4Dd6Ee1Ff", "name": "github"}


@pytest.fixture
def sandbox(use_sandbox: SandboxServer, export_settings: Path, db: None) -> SandboxServer:
    return use_sandbox


def _lines(export: Export) -> list[str]:
    with export.open_file() as source:
        return gzip.decompress(source.read()).decode().splitlines()


def test_two_connections_make_one_csv_file_with_the_connection_in_each_row(
    sandbox: SandboxServer, export_settings: Path, export_admin: User, admin_client_: Client
) -> None:
    export = drive(
        tasks.create_export({**CSV_SPEC, "connections": [DATABASE, GITHUB]}, requested_by=None).pk
    )
    assert export.status == Status.READY, export.failure_reason
    # The oracle: each connection exported on its own, by Auth0's own job.
    alone = {
        item["name"]: drive(
            tasks.create_export(
                {**CSV_SPEC, "connection_id": item["id"], "connection_name": item["name"]},
                requested_by=None,
            ).pk
        )
        for item in (DATABASE, GITHUB)
    }
    lines = _lines(export)
    assert lines[0] == f"Id,email,created_at,Connection,{CONNECTION_COLUMN}"
    rows = lines[1:]
    parts = list(export.parts.all())
    assert [(p.connection_name, p.status) for p in parts] == [
        (DATABASE["name"], PartStatus.VERIFIED),
        (GITHUB["name"], PartStatus.VERIFIED),
    ]
    for part in parts:
        single = alone[part.connection_name]
        assert single.status == Status.READY
        mine = [row for row in rows if row.endswith(f',"\'{part.connection_name}"')]
        # Each row is the single export's row, byte for byte, with its connection added.
        assert sorted(row.rsplit(",", 1)[0] for row in mine) == sorted(_lines(single)[1:])
        assert part.row_count == single.row_count == len(mine) > 0
        assert len(part.sha256) == 64
        assert part.auth0_job_id.startswith("job_")
    assert export.row_count == len(rows) == sum(p.row_count or 0 for p in parts)
    kept = [f for f in stored_files(export_settings) if f.name == Path(export.file.name).name]
    assert hashlib.sha256(kept[0].read_bytes()).hexdigest() == export.sha256
    assert "parts" in export.verification
    assert f"{export.row_count:,} rows = " in export.verification["whole"]
    assert export.auth0_job_id == ""
    assert export.connection_label.startswith("2 connections")

    # Filtered on the connection column: the rows of one part, no parts of its own.
    child = drive(
        tasks.create_export(
            export.spec,
            requested_by=None,
            parent=export,
            filter_conditions=[
                {"column": CONNECTION_COLUMN, "operator": "equals", "value": GITHUB["name"]}
            ],
        ).pk
    )
    assert child.status == Status.READY, child.failure_reason
    assert child.row_count == alone[GITHUB["name"]].row_count
    assert not child.parts.exists()
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{child.pk}/").content.decode()
    assert 'id="export-parts"' not in page


def test_an_exact_ndjson_export_of_two_connections_keeps_the_matches_of_each(
    sandbox: SandboxServer, export_admin: User, admin_client_: Client
) -> None:
    spec = {
        "format": "ndjson",
        "fields": [{"name": "user_id"}, {"name": "email"}, {"name": "email_verified"}],
        "match_query": "email_verified:false",
        "connections": [DATABASE, GITHUB],
    }
    export = drive(tasks.create_export(spec, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    users = [json.loads(line) for line in _lines(export)]
    assert users
    assert all(user["email_verified"] is False for user in users)
    assert {user[CONNECTION_COLUMN] for user in users} <= {DATABASE["name"], GITHUB["name"]}
    parts = list(export.parts.all())
    assert export.scanned_count == sum(p.scanned_count or 0 for p in parts)
    assert export.matched_count == export.row_count == len(users)
    for part in parts:
        assert part.row_count == sum(u[CONNECTION_COLUMN] == part.connection_name for u in users)
        assert (part.scanned_count or 0) >= (part.row_count or 0)
    # The ready page leads with the downloads, the parts after them.
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert page.index('id="export-downloads"') < page.index('id="export-parts"')
    # "About this file" names each part's job and its matches.
    about = b"".join(
        admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/about/")
    ).decode()
    for part in parts:
        assert f"{part.auth0_job_id} ({part.connection_name}: {part.row_count:,} of" in about
    assert "(none)" not in about


def test_a_part_auth0_refuses_fails_the_export_and_nothing_is_kept(
    sandbox: SandboxServer, export_settings: Path
) -> None:
    unknown = {"id": "con_NoSuchConnection1", "name": "gone-connection"}
    export = drive(
        tasks.create_export({**CSV_SPEC, "connections": [DATABASE, unknown]}, requested_by=None).pk
    )
    assert export.status == Status.FAILED
    assert "The part for gone-connection (part 2 of 2) failed: Auth0 refused" in (
        export.failure_reason
    )
    assert "offered whole or not at all" in export.failure_reason
    assert not export.file
    assert stored_files(export_settings) == []
    first, second = export.parts.all()
    assert first.status != PartStatus.VERIFIED
    assert first.auth0_job_id
    assert second.status == PartStatus.FAILED
    assert not second.auth0_job_id


def test_a_part_whose_auth0_job_fails_fails_the_export_with_the_reason(
    sandbox: SandboxServer, export_settings: Path
) -> None:
    sandbox.set_faults(job_fail="Export worker crashed (injected)")
    export = drive(
        tasks.create_export({**CSV_SPEC, "connections": [DATABASE, GITHUB]}, requested_by=None).pk
    )
    assert export.status == Status.FAILED
    assert "Auth0 reported its job as failed: Export worker crashed (injected)" in (
        export.failure_reason
    )
    assert export.parts.filter(status=PartStatus.FAILED).count() == 1
    # Its jobs were made, so they did not "never start".
    assert export.auth0_stage == "failed before it finished (the reason is above)"
    assert stored_files(export_settings) == []


def test_a_part_whose_file_keeps_breaking_fails_the_export_and_is_marked(
    sandbox: SandboxServer, export_settings: Path, settings: Any
) -> None:
    settings.EXPORT_DOWNLOAD_ATTEMPTS = 1
    sandbox.set_faults(download_cut_bytes=200)
    export = drive(
        tasks.create_export(
            {**CSV_SPEC, "limit": 100, "connections": [DATABASE, GITHUB]}, requested_by=None
        ).pk
    )
    assert export.status == Status.FAILED
    assert f"The file for {DATABASE['name']} (part 1 of 2) could not be downloaded" in (
        export.failure_reason
    )
    first, second = export.parts.all()
    assert first.status == PartStatus.FAILED
    assert "could not be downloaded and verified" in first.failure_reason
    assert second.status == PartStatus.COMPLETED
    assert stored_files(export_settings) == []


# --- Joining, without Auth0 ---------------------------------------------------------------


def _gz(data: bytes) -> io.BytesIO:
    return io.BytesIO(gzip.compress(data))


def test_joining_csv_keeps_quoted_newlines_and_crlf_records_whole() -> None:
    first = _gz(b'Id,note\r\n"\'a1","\'two\nlines, here"\r\n"\'a2",\n')
    second = _gz(b'Id,note\n"\'b1","\'x""y"')  # no newline at its end
    target = io.BytesIO()
    made = combine.combine(
        [(first, "db"), (second, "git,hub")],
        target,
        fmt=formats.CSV,
        titles=["Id", "note"],
        column="connection",
    )
    assert made.part_rows == [2, 1]
    text = gzip.decompress(target.getvalue())
    assert text == (
        b"Id,note,connection\n"
        b'"\'a1","\'two\nlines, here","\'db"\n'
        b'"\'a2",,"\'db"\n'
        b'"\'b1","\'x""y","\'git,hub"\n'
    )
    assert made.sha256 == hashlib.sha256(target.getvalue()).hexdigest()
    # The joined file passes the same verification as a download.
    result = formats.CSV.ingest(
        [target.getvalue()], io.BytesIO(), expected_columns=["Id", "note", "connection"]
    )
    assert result.rows == 3


def test_joining_ndjson_adds_the_key_last_and_refuses_what_is_not_an_object() -> None:
    target = io.BytesIO()
    made = combine.combine(
        [(_gz(b'{"a":"}"}\n{}\n'), 'x"y'), (_gz(b'{"a":1}'), "z")],
        target,
        fmt=formats.NDJSON,
        titles=["a"],
        column="connection",
    )
    assert made.part_rows == [2, 1]
    lines = [json.loads(line) for line in gzip.decompress(target.getvalue()).splitlines()]
    assert lines == [
        {"a": "}", "connection": 'x"y'},
        {"connection": 'x"y'},
        {"a": 1, "connection": "z"},
    ]
    with pytest.raises(ValueError, match="not one JSON object"):
        combine.combine(
            [(_gz(b"[1]\n"), "z")], io.BytesIO(), fmt=formats.NDJSON, titles=[], column="c"
        )
    with pytest.raises(ValueError, match="header"):
        combine.combine(
            [(_gz(b"Id,other\n1,2\n"), "z")],
            io.BytesIO(),
            fmt=formats.CSV,
            titles=["Id", "note"],
            column="c",
        )


# --- The builder, templates and schedules -----------------------------------------------


def test_the_builder_takes_several_connections_and_a_template_keeps_them(
    admin_client_: Client, use_sandbox: SandboxServer, export_admin: User
) -> None:
    from tests.fixtures.exports import builder_post

    page = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    assert "Or several connections in one file" in page
    data = builder_post([("email", ""), ("user_id", "Id")])
    data["several_connections"] = [DATABASE["id"], GITHUB["id"]]
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    export = Export.objects.get()
    assert export.connections == [DATABASE, GITHUB]
    assert export.connection_id == ""
    assert export.column_titles == ["email", "Id", CONNECTION_COLUMN]
    assert export.spec.auth0_body(GITHUB["id"])["connection_id"] == GITHUB["id"]
    assert "connections" not in export.spec.auth0_body(GITHUB["id"])

    # The page names the parts; the history too.
    detail = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert 'id="export-parts"' in detail
    assert "2 connections: Username-Password" in detail
    history = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert "parts: not started" in history

    # A template and a re-run keep the connections ticked.
    data["save_template"], data["template_title"] = "1", "Two connections"
    admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    template = ExportTemplate.objects.get()
    assert ExportSpec.from_data(template.spec).connections == [DATABASE, GITHUB]
    for url in (f"?template={template.pk}", f"?rerun={export.pk}"):
        again = admin_client_.get(f"/t/userdesk-sandbox/exports/new/{url}").content.decode()
        ticked = re.findall(r'name="several_connections" value="([^"]+)" id="[^"]+" checked', again)
        assert sorted(ticked) == sorted([DATABASE["id"], GITHUB["id"]])


def test_one_ticked_connection_is_a_plain_export_and_a_connection_title_is_refused(
    admin_client_: Client, use_sandbox: SandboxServer
) -> None:
    from tests.fixtures.exports import builder_post

    data = builder_post([("email", "")])
    data["several_connections"] = GITHUB["id"]
    assert admin_client_.post("/t/userdesk-sandbox/exports/new/", data).status_code == 302
    export = Export.objects.get()
    assert (export.connection_id, export.connections) == (GITHUB["id"], [])

    data = builder_post([("email", CONNECTION_COLUMN)])
    data.update({"connection": DATABASE["id"], "several_connections": GITHUB["id"]})
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    assert "adds its own “connection” column" in response.content.decode()


def test_an_export_of_several_connections_offers_no_import_file_and_says_why() -> None:
    from exports import importformat

    plan = importformat.plan(
        [{"name": "email"}], connection_id="", strategy=None, several=["a", "b"]
    )
    assert plan.blockers[0].startswith("It holds 2 connections (a, b)")


def test_a_schedule_run_of_a_multi_connection_template_keeps_its_connections(
    export_admin: User,
) -> None:
    from datetime import UTC, datetime

    from exports import scheduling
    from exports.schedule_models import ExportSchedule

    schedule = ExportSchedule(
        name="Weekly",
        owner=export_admin,
        scope="created",
        spec=ExportSpec.from_data({**CSV_SPEC, "connections": [DATABASE, GITHUB]}).as_data(),
    )
    since = datetime(2026, 1, 1, tzinfo=UTC)
    spec = scheduling.run_spec(schedule, since, datetime(2026, 1, 8, tzinfo=UTC))
    assert spec.connections == [DATABASE, GITHUB]
    assert spec.is_exact
    assert "created_at" in spec.match_query
    body = spec.auth0_body(DATABASE["id"])
    assert body["connection_id"] == DATABASE["id"]
    assert "created_at" in [field["name"] for field in body["fields"]]


def test_the_history_search_finds_an_export_by_any_of_its_connections(
    admin_client_: Client, export_admin: User
) -> None:
    several = Export.objects.create_queued(
        ExportSpec.from_data({**CSV_SPEC, "name": "Both", "connections": [DATABASE, GITHUB]}),
        requested_by=export_admin,
    )
    Export.objects.create_queued(
        ExportSpec.from_data({**CSV_SPEC, "name": "Other"}), requested_by=export_admin
    )
    for text in ("github", "GitHub", "Username-Password"):
        page = admin_client_.get("/t/userdesk-sandbox/exports/", {"q": text}).content.decode()
        assert f'id="export-row-{several.pk}"' in page, text
        assert "Other" not in page
