"""The export file writer (`sandbox.exporting.write_export`), byte for byte."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from sandbox.exporting import DEFAULT_FIELDS, csv_cell, parse_path, write_export
from sandbox.job_models import ExportJob
from sandbox.jobs_api import job_json
from sandbox.models import TenantUser

pytestmark = pytest.mark.django_db(databases=["sandbox"])

DB = "Username-Password-Authentication"

TRICKY: dict[str, Any] = {
    "user_id": "auth0|5f7c8ec7c33c6c004bbafe82",
    "email": "jo@example.com",
    "email_verified": True,
    "name": 'Jo "The Boss", Smith\nJr.',
    "nickname": "=SUM(A1:A2)",
    "given_name": "+33 call me",
    "family_name": "@cmd|' /C calc'!A0",
    "username": "-dash",
    "picture": "<script>alert(1)</script>",
    "created_at": "2023-01-25T19:00:28.395Z",
    "logins_count": 5,
    "blocked": False,
    "identities": [
        {"connection": DB, "provider": "auth0", "user_id": "5f7c8ec7c33c6c004bbafe82"},
        {"connection": "github", "provider": "github", "user_id": 1234, "isSocial": True},
    ],
    "user_metadata": {
        "score": 1.5,
        "consent": {"given": True, "date": "2023-01-25T19:00:28.395Z"},
        "roles": ["admin", "support"],
    },
    "app_metadata": {"plan": "gold"},
}
PLAIN: dict[str, Any] = {
    "user_id": "google-oauth2|1099",
    "email": "Yamada.Taro@Gmail.com",
    "name": "山田太郎",
    "created_at": "2019-03-02T08:00:00.000Z",
    "identities": [{"connection": "google-oauth2", "provider": "google-oauth2", "user_id": "1099"}],
}


def _add(*profiles: dict[str, Any]) -> None:
    for profile in profiles:
        TenantUser.objects.create(
            user_id=profile["user_id"], email=profile.get("email"), profile=json.dumps(profile)
        )


def _read(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def test_csv_escaping_is_byte_exact(tmp_path: Path) -> None:
    _add(TRICKY, PLAIN)
    fields = [
        {"name": "user_id", "export_as": "Id"},
        {"name": "name"},
        {"name": "nickname"},
        {"name": "given_name"},
        {"name": "family_name"},
        {"name": "username"},
        {"name": "picture", "export_as": 'Pic, "big"'},
        {"name": "created_at"},
        {"name": "logins_count"},
        {"name": "email_verified"},
        {"name": "blocked"},
        {"name": "user_metadata.score"},
        {"name": "user_metadata.consent.date"},
        {"name": "identities[0].connection", "export_as": "Connection"},
        {"name": "identities[1].user_id"},
        {"name": "last_login"},
    ]
    dest = tmp_path / "t.csv.gz"

    rows = write_export(dest, fmt="csv", fields=fields)

    assert rows == 2
    assert _read(dest) == (
        'Id,name,nickname,given_name,family_name,username,"Pic, ""big""",created_at,'
        "logins_count,email_verified,blocked,user_metadata.score,user_metadata.consent.date,"
        "Connection,identities[1].user_id,last_login\n"
        '"\'auth0|5f7c8ec7c33c6c004bbafe82",'
        '"\'Jo ""The Boss"", Smith\nJr.",'
        '"\'=SUM(A1:A2)",'
        '"\'+33 call me",'
        "\"'@cmd|' /C calc'!A0\","
        '"\'-dash",'
        '"\'<script>alert(1)</script>",'
        "2023-01-25T19:00:28.395Z,"
        "5,true,false,1.5,"
        # A date the user typed into metadata is a string like any other.
        '"\'2023-01-25T19:00:28.395Z",'
        '"\'Username-Password-Authentication",'
        "1234,"
        "\n"
        '"\'google-oauth2|1099","\'山田太郎",,,,,,2019-03-02T08:00:00.000Z,,,,,,'
        '"\'google-oauth2",,\n'
    )


def test_gzip_member_is_named_after_the_file(tmp_path: Path) -> None:
    _add(PLAIN)
    dest = tmp_path / "userdesk-sandbox.csv.gz"
    write_export(dest, fmt="csv", fields=[{"name": "email"}])
    header = dest.read_bytes()[:40]
    assert b"userdesk-sandbox.csv\x00" in header
    assert not (tmp_path / "userdesk-sandbox.csv.gz.partial").exists()


def test_ndjson_keys_values_and_missing_fields(tmp_path: Path) -> None:
    _add(TRICKY, PLAIN)
    fields = [
        {"name": "email", "export_as": "Email"},
        {"name": "user_metadata"},
        {"name": "app_metadata.plan"},
        {"name": "identities[1].connection", "export_as": "second"},
        {"name": "logins_count"},
    ]
    dest = tmp_path / "t.json.gz"

    assert write_export(dest, fmt="json", fields=fields) == 2

    lines = _read(dest).splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "Email": "jo@example.com",
            "user_metadata": TRICKY["user_metadata"],
            "app_metadata.plan": "gold",
            "second": "github",
            "logins_count": 5,
        },
        {"Email": "Yamada.Taro@Gmail.com"},
    ]
    assert "山田" not in lines[1]  # no name field asked
    assert _read(dest).endswith("\n")


def test_ndjson_keeps_unicode_unescaped(tmp_path: Path) -> None:
    _add(PLAIN)
    dest = tmp_path / "t.json.gz"
    write_export(dest, fmt="json", fields=[{"name": "name"}])
    assert _read(dest) == '{"name":"山田太郎"}\n'


def test_limit_and_connection_filter(tmp_path: Path) -> None:
    _add(TRICKY, PLAIN)
    extra = dict(PLAIN, user_id="google-oauth2|2000", email="b@Gmail.com")
    _add(extra)
    dest = tmp_path / "t.csv.gz"

    assert write_export(dest, fmt="csv", fields=[{"name": "user_id"}], limit=2) == 2
    # github is only the second identity of TRICKY: identities anywhere count.
    only_id = [{"name": "user_id"}]
    assert write_export(dest, fmt="csv", fields=only_id, connection_name="github") == 1
    assert "auth0|5f7c8ec7c33c6c004bbafe82" in _read(dest)
    assert (
        write_export(
            dest, fmt="csv", fields=[{"name": "user_id"}], connection_name="google-oauth2", limit=1
        )
        == 1
    )
    assert _read(dest).splitlines()[1] == '"\'google-oauth2|1099"'


def test_default_fields_when_none_are_named(tmp_path: Path) -> None:
    _add(PLAIN)
    dest = tmp_path / "t.csv.gz"
    write_export(dest, fmt="csv")
    header, row = _read(dest).splitlines()
    assert header.split(",") == list(DEFAULT_FIELDS)
    assert row.split(",")[DEFAULT_FIELDS.index("email")] == '"\'Yamada.Taro@Gmail.com"'


def test_progress_is_reported_with_the_final_count(tmp_path: Path) -> None:
    _add(TRICKY, PLAIN)
    seen: list[int] = []
    write_export(tmp_path / "t.csv.gz", fmt="csv", fields=[{"name": "email"}], progress=seen.append)
    assert seen[-1] == 2


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("plain", '"\'plain"'),
        ("", '"\'"'),
        ('"', '"\'"""'),
        (0, "0"),
        (-3, "-3"),
        (2.25, "2.25"),
        (True, "true"),
        (None, ""),
        (["a", "b"], '"\'[""a"",""b""]"'),
    ],
)
def test_csv_cell(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_parse_path() -> None:
    assert parse_path("identities[0].connection") == ("identities", 0, "connection")
    assert parse_path("user_metadata.a.b") == ("user_metadata", "a", "b")
    assert parse_path("x[1][2]") == ("x", 1, 2)


def test_processing_job_reports_progress_and_time_left() -> None:
    now = timezone.now()
    job = ExportJob.objects.create(
        id="job_AAAAAAAAAAAAAAAA",
        status=ExportJob.PROCESSING,
        format="csv",
        created_at=now,
        run_after=now,
        started_at=now - dt.timedelta(seconds=10),
        rows_total=1000,
        rows_done=250,
    )
    body = job_json(job)
    assert body["status"] == "processing"
    assert body["percentage_done"] == 25
    assert 29 <= body["time_left_seconds"] <= 31
    assert "location" not in body
