"""Import-ready JSON: Auth0's bulk-import format from a CSV or NDJSON export.

The defect: the old "import-ready" JSON kept `auth0|` on user_id, kept keys outside Auth0's
import schema, leaked the builder's titles (`Id`, `Connection`) and left NDJSON's dotted keys flat.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import Any

import orjson
import pytest

from exports import importformat
from exports.csvformat import auth0_cell, format_header, format_row
from exports.formats import CSV, NDJSON
from exports.importformat import Part, Rejects, import_files, plan, validation_errors

# The builder's defaults plus metadata leaves, as an export spec lists them.
FIELDS = [
    {"name": "user_id", "export_as": "Id"},
    {"name": "email"},
    {"name": "email_verified"},
    {"name": "name"},
    {"name": "identities[0].connection", "export_as": "Connection"},
    {"name": "identities[0].provider", "export_as": "provider"},
    {"name": "created_at"},
    {"name": "last_login"},
    {"name": "logins_count"},
    {"name": "user_metadata.consent.given"},
    {"name": "user_metadata.plan", "export_as": "Plan"},
    {"name": "app_metadata.tier"},
]
TITLES = [item.get("export_as") or item["name"] for item in FIELDS]
DATABASE_PLAN = plan(
    FIELDS,
    connection_id="con_Db1Pw2Xk9LmQ4RtZ",
    connection_name="Username-Password-Authentication",
    strategy="auth0",
)


def profile(number: int) -> dict[str, Any]:
    return {
        "user_id": f"auth0|{number:024x}",
        "email": f"user{number}@example.com",
        "email_verified": number % 2 == 0,
        "name": f'User "{number}", =1+1',
        "connection": "Username-Password-Authentication",
        "provider": "auth0",
        "created_at": "2024-01-02T03:04:05.678Z",
        "last_login": "2025-01-02T03:04:05.678Z",
        "logins_count": number,
        "given": number % 3 == 0,
        "plan": "pro" if number % 2 else "free",
        "tier": number % 4,
    }


def values(p: dict[str, Any]) -> list[Any]:
    return [
        p["user_id"],
        p["email"],
        p["email_verified"],
        p["name"],
        p["connection"],
        p["provider"],
        p["created_at"],
        p["last_login"],
        p["logins_count"],
        p["given"],
        p["plan"],
        p["tier"],
    ]


def csv_export(profiles: list[dict[str, Any]]) -> io.BytesIO:
    data = format_header(TITLES) + b"".join(format_row(values(p)) for p in profiles)
    return io.BytesIO(gzip.compress(data))


def ndjson_export(profiles: list[dict[str, Any]]) -> io.BytesIO:
    # As Auth0 writes a json export: one object per line, keyed by the titles, dotted and flat.
    lines = [orjson.dumps(dict(zip(TITLES, values(p), strict=True))) for p in profiles]
    return io.BytesIO(gzip.compress(b"\n".join(lines) + b"\n"))


def expected(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": p["user_id"].removeprefix("auth0|"),
        "email": p["email"],
        "email_verified": p["email_verified"],
        "name": p["name"],
        "user_metadata": {"consent": {"given": p["given"]}, "plan": p["plan"]},
        "app_metadata": {"tier": p["tier"]},
    }


def users_of(pieces: list[importformat.Piece]) -> list[dict[str, Any]]:
    return [user for piece in pieces if isinstance(piece, Part) for user in json.loads(piece.data)]


@pytest.mark.parametrize("export", [csv_export, ndjson_export])
def test_csv_and_ndjson_become_the_same_auth0_import_users(export: Any) -> None:
    profiles = [profile(n) for n in range(40)]

    pieces = list(
        import_files(
            (NDJSON if export is ndjson_export else CSV).rows(export(profiles)), plan=DATABASE_PLAN
        )
    )

    users = users_of(pieces)
    assert users == [expected(p) for p in profiles]
    assert not any(isinstance(piece, Rejects) for piece in pieces)
    for user in users:
        assert validation_errors(user) == []
        assert set(user) <= set(importformat.ATTRIBUTES)
        assert not user["user_id"].startswith("auth0|")


def test_the_plan_names_what_is_left_out_and_what_is_renamed() -> None:
    by_title = {column.title: column for column in DATABASE_PLAN.columns}
    assert DATABASE_PLAN.possible
    assert by_title["Id"].target == ("user_id",)
    assert by_title["Id"].renamed
    assert by_title["Plan"].target == ("user_metadata", "plan")
    assert by_title["user_metadata.consent.given"].target == ("user_metadata", "consent", "given")
    for title in ("Connection", "provider", "created_at", "last_login", "logins_count"):
        assert not by_title[title].kept
        assert by_title[title].reason == "not an attribute of Auth0's import schema"


def test_no_import_file_from_all_connections_a_social_connection_or_without_email() -> None:
    everything = plan(FIELDS, connection_id="", strategy=None)
    assert not everything.possible
    assert "all connections" in everything.blockers[0]

    social = plan(
        FIELDS,
        connection_id="con_Go0gLe7Aa3Bb5Cc8",
        connection_name="google-oauth2",
        strategy="google-oauth2",
    )
    assert social.blockers == [
        "google-oauth2 is a google-oauth2 connection: Auth0's user import takes only users of "
        "database connections."
    ]

    unknown = plan(FIELDS, connection_id="con_Db1Pw2Xk9LmQ4RtZ", strategy=None)
    assert not unknown.possible

    no_email = plan(
        [{"name": "user_id"}, {"name": "name"}], connection_id="con_x", strategy="auth0"
    )
    assert no_email.blockers == [
        "It has no email column, and Auth0's import schema requires email."
    ]
    with pytest.raises(ValueError, match="requires email"):
        list(import_files(CSV.rows(csv_export([])), plan=no_email))


def test_whole_metadata_wins_over_its_own_leaves_and_array_items_are_left_out() -> None:
    fields = [
        {"name": "email"},
        {"name": "user_metadata"},
        {"name": "user_metadata.plan"},
        {"name": "app_metadata.roles[0]"},
    ]
    result = plan(fields, connection_id="con_x", strategy="auth0")
    reasons = {column.title: column.reason for column in result.dropped}
    assert reasons == {
        "user_metadata.plan": "already inside user_metadata",
        "app_metadata.roles[0]": "an array item; export app_metadata whole (NDJSON) to keep arrays",
    }
    line = orjson.dumps(
        {
            "email": "a@example.com",
            "user_metadata": {"plan": "pro", "tags": ["x"]},
            "user_metadata.plan": "pro",
            "app_metadata.roles[0]": "admin",
        }
    )
    users = users_of(list(import_files(NDJSON.rows(io.BytesIO(gzip.compress(line))), plan=result)))
    assert users == [{"email": "a@example.com", "user_metadata": {"plan": "pro", "tags": ["x"]}}]


def test_users_auth0_would_refuse_are_named_and_kept_out_of_the_import_files() -> None:
    profiles = [profile(n) for n in range(6)]
    profiles[1]["email"] = "not-an-address"
    profiles[3]["user_id"] = "google-oauth2|1234"
    lines = [orjson.dumps(dict(zip(TITLES, values(p), strict=True))) for p in profiles]
    lines.insert(2, orjson.dumps({"Id": "auth0|abc", "name": "No Email"}))

    pieces = list(
        import_files(NDJSON.rows(io.BytesIO(gzip.compress(b"\n".join(lines)))), plan=DATABASE_PLAN)
    )

    assert [u["email"] for u in users_of(pieces)] == [profiles[n]["email"] for n in (0, 2, 4, 5)]
    rejected = [r for piece in pieces if isinstance(piece, Rejects) for r in json.loads(piece.data)]
    assert [r["errors"] for r in rejected] == [
        ['email: "not-an-address" is not a "email"'],
        ['"email" is a required property'],
        ["user_id: google-oauth2|1234 is not a database user's id (Auth0 imports only those)"],
    ]
    assert rejected[1]["user"] == {"user_id": "abc", "name": "No Email"}


def test_parts_stay_within_500_kb_and_hold_every_user_once() -> None:
    profiles = [profile(n) for n in range(6_000)]

    pieces = list(import_files(CSV.rows(csv_export(profiles)), plan=DATABASE_PLAN))

    assert len(pieces) > 2
    assert all(len(piece.data) <= 500_000 for piece in pieces)
    # Full: the next user would not have fitted.
    assert all(len(piece.data) > 500_000 - 400 for piece in pieces[:-1])
    assert users_of(pieces) == [expected(p) for p in profiles]


def test_the_download_is_one_json_when_it_fits_else_a_zip_with_the_refusals() -> None:
    small = importformat.download(
        CSV.rows(csv_export([profile(1), profile(2)])), plan=DATABASE_PLAN, stem="x-import"
    )
    assert (small.filename, small.content_type) == ("x-import.json", "application/json")
    assert json.loads(b"".join(small.chunks)) == [expected(profile(1)), expected(profile(2))]

    bad = profile(3)
    bad["email"] = "nope"
    mixed = importformat.download(
        CSV.rows(csv_export([profile(1), bad])), plan=DATABASE_PLAN, stem="x-import"
    )
    assert (mixed.filename, mixed.content_type) == ("x-import.zip", "application/zip")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(mixed.chunks)))
    assert archive.namelist() == ["x-import-0001.json", "not-importable-0001.json"]
    assert json.loads(archive.read("x-import-0001.json")) == [expected(profile(1))]
    assert json.loads(archive.read("not-importable-0001.json"))[0]["user"]["email"] == "nope"

    big = importformat.download(
        CSV.rows(csv_export([profile(n) for n in range(5_000)])),
        plan=DATABASE_PLAN,
        stem="x-import",
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(big.chunks)))
    assert archive.testzip() is None
    assert all(info.file_size <= 500_000 for info in archive.infolist())
    assert sum(len(json.loads(archive.read(n))) for n in archive.namelist()) == 5_000

    empty = importformat.download(CSV.rows(csv_export([])), plan=DATABASE_PLAN, stem="x")
    assert b"".join(empty.chunks) == b"[]"


def test_the_schema_is_auth0s_with_its_source_noted() -> None:
    schema = json.loads(importformat.SCHEMA_PATH.read_text())
    assert "docs-v2@092b879e" in schema["$comment"]
    assert schema["required"] == ["email"]
    assert schema["additionalProperties"] is False
    assert validation_errors({"email": "a@example.com", "created_at": "2024-01-01"}) == [
        "Additional properties are not allowed ('created_at' was unexpected)"
    ]
    assert validation_errors({"email": "a@example.com", "user_metadata": "x"}) == [
        'user_metadata: "x" is not of type "object"'
    ]


def test_an_email_needs_a_dotted_domain_as_auth0s_validator_wants() -> None:
    assert validation_errors({"email": "someone@example.com"}) == []
    assert validation_errors({"email": "someone@localhost"}) == [
        'email: "someone@localhost" is not a "email"'
    ]


# A CSV metadata cell holding an array or object comes back as that value (it came back as its
# JSON text, `"roles": "[\"billing\",\"viewer\"]"`, and Auth0 stored the roles as a string).
STRUCTURED_FIELDS = [
    {"name": "email"},
    {"name": "app_metadata.roles"},
    {"name": "user_metadata.address"},
    {"name": "user_metadata.note"},
]
STRUCTURED = {
    "email": "ada@example.com",
    "app_metadata.roles": ["billing", "viewer"],
    "user_metadata.address": {"city": "Zürich", "lines": ["Bahnhofstrasse 1", 'c/o "B"']},
    # Strings that only look like JSON (not as Auth0's writer writes an array) stay strings.
    "user_metadata.note": '["billing", "viewer"]',
}


def structured_csv() -> io.BytesIO:
    # As the sandbox and Userdesk's exact export write arrays and objects in CSV: their compact
    # JSON text, escaped as a string (csvformat.auth0_cell, sandbox.exporting.csv_cell).
    titles = [item["name"] for item in STRUCTURED_FIELDS]
    row = b",".join(auth0_cell(STRUCTURED[title]) for title in titles) + b"\n"
    return io.BytesIO(gzip.compress(format_header(titles) + row))


def test_arrays_and_objects_in_csv_metadata_cells_come_back_as_those_values() -> None:
    result = plan(STRUCTURED_FIELDS, connection_id="con_x", strategy="auth0")

    [user] = users_of(list(import_files(CSV.rows(structured_csv()), plan=result)))
    assert user == {
        "email": "ada@example.com",
        "app_metadata": {"roles": ["billing", "viewer"]},
        "user_metadata": {
            "address": {"city": "Zürich", "lines": ["Bahnhofstrasse 1", 'c/o "B"']},
            "note": '["billing", "viewer"]',
        },
    }
    [row] = json.loads(b"".join(CSV.json_array(structured_csv())))
    assert row["app_metadata"]["roles"] == ["billing", "viewer"]
    assert row["user_metadata"]["address"]["city"] == "Zürich"


def test_the_import_plan_of_a_csv_export_warns_about_arrays_in_metadata_columns() -> None:
    csv_plan = plan(STRUCTURED_FIELDS, connection_id="con_x", strategy="auth0", holds_objects=False)
    ndjson_plan = plan(STRUCTURED_FIELDS, connection_id="con_x", strategy="auth0")

    [warning] = csv_plan.warnings
    assert "app_metadata.roles" in warning
    assert "NDJSON" in warning
    assert ndjson_plan.warnings == []
    no_metadata = plan(
        [{"name": "email"}], connection_id="con_x", strategy="auth0", holds_objects=False
    )
    assert no_metadata.warnings == []
