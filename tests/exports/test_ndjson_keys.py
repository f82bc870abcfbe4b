"""A dotted field without export_as in a NDJSON export: Auth0 may key it literally
(``{"user_metadata.plan": ...}``, what the sandbox writes) or nest it
(``{"user_metadata": {"plan": ...}}``); Auth0's documentation does not say which. Every reader
of a NDJSON line (ingest's key check, the preview, derive conditions, the exact export's
NDJSON-to-CSV columns and its NDJSON output, the import conversion) reads both alike."""

from __future__ import annotations

import gzip
import io
from typing import Any

import orjson
import pytest

from exports import derive, exact, importformat, ndjsonkeys, preview
from exports.formats import CSV, NDJSON
from exports.ingest import VerificationError

FIELDS = [
    {"name": "user_id", "export_as": "Id"},
    {"name": "email"},
    {"name": "user_metadata.plan"},
    {"name": "app_metadata.billing.tier"},
    {"name": "identities[0].connection"},
]
TITLES = [
    "Id",
    "email",
    "user_metadata.plan",
    "app_metadata.billing.tier",
    "identities[0].connection",
]
USERS = [
    ("auth0|1", "ann@example.com", "pro", "gold", "Username-Password-Authentication"),
    ("auth0|2", "bob@example.com", "free", None, "Username-Password-Authentication"),
    ("auth0|3", "cy@example.com", "pro", "silver", "Username-Password-Authentication"),
]


def literal(user: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(TITLES, user, strict=True))
    return {key: value for key, value in record.items() if value is not None}


def nested(user: tuple[Any, ...]) -> dict[str, Any]:
    uid, email, plan, tier, connection = user
    record: dict[str, Any] = {"Id": uid, "email": email, "user_metadata": {"plan": plan}}
    if tier is not None:
        record["app_metadata"] = {"billing": {"tier": tier}}
    record["identities"] = [{"connection": connection}]
    return record


SHAPES = {"literal": literal, "nested": nested}


def ndjson_gz(shape: str) -> bytes:
    lines = [orjson.dumps(SHAPES[shape](user)) for user in USERS]
    return gzip.compress(b"\n".join(lines) + b"\n")


@pytest.fixture(params=sorted(SHAPES))
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_value_at_reads_a_literal_key_and_a_nested_path_alike() -> None:
    assert ndjsonkeys.steps("identities[0].connection") == ("identities", 0, "connection")
    for make in SHAPES.values():
        record = make(USERS[0])
        assert ndjsonkeys.value_at(record, "user_metadata.plan") == "pro"
        assert ndjsonkeys.value_at(record, "app_metadata.billing.tier") == "gold"
        assert ndjsonkeys.value_at(record, "identities[0].connection") == USERS[0][4]
        assert ndjsonkeys.value_at(record, "user_metadata.missing") is None
        assert ndjsonkeys.value_at(record, "identities[3].connection") is None
    assert ndjsonkeys.value_at({"user_metadata": "not an object"}, "user_metadata.plan") is None


def test_pick_keeps_each_column_in_the_shape_the_line_had_it() -> None:
    whole = nested(USERS[0]) | {"user_metadata": {"plan": "pro", "secret": "x"}}
    assert ndjsonkeys.pick(whole, ["email", "user_metadata.plan"]) == {
        "email": "ann@example.com",
        "user_metadata": {"plan": "pro"},
    }
    assert ndjsonkeys.pick(literal(USERS[0]), ["email", "user_metadata.plan"]) == {
        "email": "ann@example.com",
        "user_metadata.plan": "pro",
    }


def test_ingest_accepts_both_shapes_and_still_refuses_unrequested_keys(shape: str) -> None:
    result = NDJSON.ingest([ndjson_gz(shape)], io.BytesIO(), expected_columns=TITLES)
    assert result.rows == len(USERS)
    stray = gzip.compress(orjson.dumps(SHAPES[shape](USERS[0]) | {"nickname": "x"}) + b"\n")
    with pytest.raises(VerificationError, match="not requested: nickname"):
        NDJSON.ingest([stray], io.BytesIO(), expected_columns=TITLES)


def test_the_preview_shows_the_export_columns_in_either_shape(shape: str) -> None:
    shown = NDJSON.preview(io.BytesIO(ndjson_gz(shape)), columns=TITLES)
    assert shown.header == TITLES
    assert shown.rows[1] == ["auth0|2", "bob@example.com", "free", "", USERS[1][4]]
    kinds = preview.infer_kinds(shown)
    assert kinds["user_metadata.plan"] == "text"


def test_derive_conditions_read_a_dotted_column_in_either_shape(shape: str) -> None:
    out = io.BytesIO()
    made = NDJSON.derive(
        io.BytesIO(ndjson_gz(shape)),
        out,
        columns=TITLES,
        conditions=[
            derive.Condition("user_metadata.plan", "equals", "pro"),
            derive.Condition("app_metadata.billing.tier", "not_empty"),
        ],
    )
    assert made.rows == 2
    kept = [orjson.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    assert [row["Id"] for row in kept] == ["auth0|1", "auth0|3"]


def test_an_exact_export_from_ndjson_writes_the_dotted_columns_to_csv(shape: str) -> None:
    plan = exact.plan_job("user_metadata.plan:pro", FIELDS, CSV)
    assert plan.source_format.name == "ndjson"  # a metadata query reads the root object
    job_titles = plan.job_titles
    lines = []
    for user in USERS:
        record = SHAPES[shape](user)
        if shape == "literal":
            record["user_metadata"] = {"plan": user[2]}
        lines.append(orjson.dumps(record))
    out = io.BytesIO()
    result = exact.filter_file(io.BytesIO(gzip.compress(b"\n".join(lines))), out, plan=plan)
    assert (result.scanned, result.matched) == (3, 2)
    assert "user_metadata" in job_titles
    assert gzip.decompress(out.getvalue()).decode().splitlines() == [
        ",".join(TITLES),
        '"\'auth0|1","\'ann@example.com","\'pro","\'gold","\'Username-Password-Authentication"',
        '"\'auth0|3","\'cy@example.com","\'pro","\'silver","\'Username-Password-Authentication"',
    ]


def test_an_exact_ndjson_export_keeps_only_the_chosen_leaves_in_either_shape(shape: str) -> None:
    fields = [{"name": "email"}, {"name": "user_metadata.plan"}]
    plan = exact.plan_job("user_metadata.tier:gold", fields, NDJSON)
    lines = []
    for user in USERS:
        record = {key: value for key, value in SHAPES[shape](user).items() if key != "Id"}
        record.pop("app_metadata", None)
        record.pop("identities", None)
        record.pop("app_metadata.billing.tier", None)
        record.pop("identities[0].connection", None)
        tier = "gold" if user[0] == "auth0|2" else "none"
        if shape == "literal":
            record["user_metadata"] = {"plan": user[2], "tier": tier}
        else:
            record["user_metadata"]["tier"] = tier
        lines.append(orjson.dumps(record))
    out = io.BytesIO()
    exact.filter_file(io.BytesIO(gzip.compress(b"\n".join(lines))), out, plan=plan)
    kept = [orjson.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    expected: dict[str, Any] = (
        {"user_metadata.plan": "free"}
        if shape == "literal"
        else {"user_metadata": {"plan": "free"}}
    )
    assert kept == [{"email": "bob@example.com", **expected}]
    NDJSON.ingest([out.getvalue()], io.BytesIO(), expected_columns=["email", "user_metadata.plan"])


def test_the_import_file_nests_the_metadata_from_either_shape(shape: str) -> None:
    plan = importformat.plan(FIELDS, connection_id="con_1", connection_name="db", strategy="auth0")
    pieces = list(importformat.import_files(NDJSON.rows(io.BytesIO(ndjson_gz(shape))), plan=plan))
    users = orjson.loads(pieces[0].data)
    assert users[0] == {
        "user_id": "1",
        "email": "ann@example.com",
        "user_metadata": {"plan": "pro"},
        "app_metadata": {"billing": {"tier": "gold"}},
    }
    assert users[1]["user_metadata"] == {"plan": "free"}
    assert "app_metadata" not in users[1]
