"""The export data path on real gzip files: ingest, conversions, derivatives and preview."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exports import exact
from exports.convert import csv_objects, uncompressed
from exports.csvformat import format_header, format_row, unescape_raw_cell
from exports.derive import Condition, validate_conditions
from exports.formats import CSV, NDJSON
from exports.ingest import VerificationError
from exports.preview import infer_kinds

COLUMNS = ["Id", "name", "email_verified", "logins_count", "last_login", "note"]
TRICKY = [
    'Jo"e "the boss"',
    "Smith, Jr.",
    "line one\nline two",
    '=HYPERLINK("http://x")',
    "+1 555 0100",
    "-2+3",
    "@SUM(A1:A2)",
    "<script>alert(1)</script>",
    "名前 🙂 Zoë",
    "",
    "'already quoted'",
    'trailing quote"',
    '"',
    ",\n,",
]

# Values with no comma or newline inside: the fast path, with quotes and formulas still escaped.
PLAIN = [value for value in TRICKY if "," not in value and "\n" not in value]


def user(number: int, tricky: bool = True) -> list[Any]:
    """One row's values in COLUMNS order: strings, a boolean, a number, a raw date, blanks."""
    odd = TRICKY if tricky else PLAIN
    last_login = (
        None
        if number % 5 == 0
        else datetime(2023, 1 + number % 12, 1 + number % 28, number % 24, tzinfo=UTC)
    )
    return [
        f"auth0|{number:06d}",
        odd[number % len(odd)] if number % 3 == 0 else f"User {number}",
        number % 2 == 0,
        number * 7 % 1000,
        last_login,
        None if number % 4 == 0 else odd[(number // 3) % len(odd)],
    ]


def csv_bytes(count: int, tricky: bool = True) -> tuple[bytes, list[bytes], list[list[Any]]]:
    rows = [user(number, tricky) for number in range(count)]
    raw_rows = [format_row(values) for values in rows]
    return format_header(COLUMNS) + b"".join(raw_rows), raw_rows, rows


def gz(data: bytes, path: Path) -> Path:
    path.write_bytes(gzip.compress(data))
    return path


def src(path: Path) -> io.BytesIO:
    """A kept file as the storage hands it out: a readable binary file object."""
    return io.BytesIO(path.read_bytes())


class sink(io.BytesIO):
    """A writable file object that lands in tmp_path/out.gz when closed or written."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.path = folder / "out.gz"

    def write(self, data: Any) -> int:
        with self.path.open("ab") as out:
            out.write(data)
        return len(data)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_row([value]).decode().strip()
    return str(value)


# --- ingest: CSV ---------------------------------------------------------------------------


@pytest.mark.parametrize(("chunk", "tricky"), [(7, True), (4096, False), (1 << 20, True)])
def test_ingest_stores_verifies_and_counts_a_csv_export(
    tmp_path: Path, chunk: int, tricky: bool
) -> None:
    data, _, rows = csv_bytes(30_000, tricky)
    compressed = gzip.compress(data)
    dest = tmp_path / "stored.gz"

    result = CSV.ingest(pieces(compressed, chunk), dest, expected_columns=COLUMNS, limit=30_000)

    assert dest.read_bytes() == compressed
    assert result.sha256 == hashlib.sha256(compressed).hexdigest()
    assert result.rows == len(rows) == len(list(csv.reader(io.StringIO(data.decode())))) - 1
    assert (result.compressed_bytes, result.uncompressed_bytes) == (len(compressed), len(data))
    assert result.header == COLUMNS
    assert "30,000 rows parsed, each with 6 cells" in result.checks["rows"]
    assert result.checks["sha256"] == result.sha256


def test_ingest_writes_to_an_open_file_and_accepts_several_gzip_members(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(100)
    head, tail = data[: len(data) // 2], data[len(data) // 2 :]
    compressed = gzip.compress(head) + gzip.compress(tail) + b"\0" * 8
    sink = io.BytesIO()

    result = CSV.ingest([compressed], sink, expected_columns=COLUMNS)

    assert sink.getvalue() == compressed
    assert (result.rows, result.gzip_members) == (100, 2)


def test_ingest_accepts_a_last_row_without_newline_and_a_header_only_file(
    tmp_path: Path,
) -> None:
    data, _, _ = csv_bytes(10)
    assert CSV.ingest([gzip.compress(data.rstrip(b"\n"))], tmp_path / "a").rows == 10
    header_only = gzip.compress(format_header(COLUMNS))
    assert CSV.ingest([header_only], tmp_path / "b", expected_columns=COLUMNS).rows == 0
    with pytest.raises(VerificationError, match="no rows"):
        CSV.ingest([header_only], tmp_path / "c", require_rows=True)


def broken(kind: str) -> bytes:
    data, _, _ = csv_bytes(5_000)
    compressed = gzip.compress(data)
    if kind == "truncated":
        return compressed[: len(compressed) * 2 // 3]
    if kind == "no trailer":
        return compressed[:-4]
    if kind == "flipped byte":
        middle = len(compressed) // 2
        return compressed[:middle] + bytes([compressed[middle] ^ 0xFF]) + compressed[middle + 1 :]
    if kind == "not gzip":
        return data
    if kind == "trailing garbage":
        return compressed + b"<html>expired</html>"
    if kind == "empty":
        return b""
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated", "ends early"),
        ("no trailer", "ends early"),
        ("flipped byte", "not gzip data, or its compressed bytes are damaged"),
        ("not gzip", "not gzip data, or its compressed bytes are damaged"),
        ("trailing garbage", "after the end of the gzip data"),
        ("empty", "empty"),
    ],
)
def test_ingest_rejects_damaged_downloads(tmp_path: Path, kind: str, reason: str) -> None:
    with pytest.raises(VerificationError, match=reason) as caught:
        CSV.ingest(pieces(broken(kind), 10_000), tmp_path / "x.gz")
    assert caught.value.kind == "transfer"
    # Plain words for staff; zlib's own message is the detail, for the log and the timeline.
    assert "Error -" not in caught.value.reason
    if kind in ("flipped byte", "not gzip"):
        assert caught.value.detail.startswith("Error -")


def test_ingest_rejects_a_header_that_is_not_the_requested_one(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(10)
    with pytest.raises(VerificationError, match="header does not match") as caught:
        CSV.ingest([gzip.compress(data)], tmp_path / "x", expected_columns=COLUMNS[::-1])
    assert caught.value.kind == "content"


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (b'"\'a",true,1,,"\'x"\n', "row 2501 has 5 cells"),
        (b'"\'a","\'b,c",true,1,,"\'x",7\n', "row 2501 has 7 cells"),
        (b'"\'a","\'b\nc",true,1,"\'x"\n', "row 2501 has 5 cells"),
    ],
)
@pytest.mark.parametrize("tricky", [True, False])
def test_ingest_finds_a_row_with_the_wrong_number_of_cells(
    tmp_path: Path, bad_row: bytes, reason: str, tricky: bool
) -> None:
    _, raw_rows, _ = csv_bytes(5_000, tricky=tricky)
    spoiled = format_header(COLUMNS) + b"".join(raw_rows[:2500]) + bad_row
    spoiled += b"".join(raw_rows[2500:])
    with pytest.raises(VerificationError, match=reason):
        CSV.ingest([gzip.compress(spoiled)], tmp_path / "x")


def test_ingest_skips_blank_lines_as_csv_readers_do(tmp_path: Path) -> None:
    _, raw_rows, _ = csv_bytes(5_000, tricky=False)
    spaced = format_header(COLUMNS) + b"".join(raw_rows[:2500]) + b"\n"
    spaced += b"".join(raw_rows[2500:]) + b"\n"
    assert CSV.ingest([gzip.compress(spaced)], tmp_path / "x").rows == 5_000


def test_ingest_rejects_an_unclosed_quote_and_bad_utf8(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(50)
    with pytest.raises(VerificationError, match="inside a quoted value"):
        CSV.ingest([gzip.compress(data + b"\"'open,1,2,3,4,5\n")], tmp_path / "x")
    with pytest.raises(VerificationError, match="not valid UTF-8"):
        CSV.ingest([gzip.compress(data + b'"\'\xff\xfe",true,1,,,\n')], tmp_path / "y")


def test_ingest_stops_at_the_first_row_past_the_limit(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(200)
    assert CSV.ingest([gzip.compress(data)], tmp_path / "a", limit=200).rows == 200
    with pytest.raises(VerificationError, match="limit of 199"):
        CSV.ingest([gzip.compress(data)], tmp_path / "b", limit=199)


def test_ingest_passes_on_transfer_errors_from_the_stream(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(5_000)
    compressed = gzip.compress(data)

    def cut_short() -> Iterator[bytes]:
        yield compressed[:5_000]
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        CSV.ingest(cut_short(), tmp_path / "x")


# --- ingest: NDJSON ------------------------------------------------------------------------


def ndjson_records(count: int) -> list[dict[str, Any]]:
    return [
        {
            "Id": f"auth0|{number}",
            "name": TRICKY[number % len(TRICKY)],
            "logins_count": number,
            "user_metadata": {"plan": "pro", "tags": ["a", number]},
        }
        for number in range(count)
    ]


def ndjson_bytes(records: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_ingest_verifies_ndjson_lines(tmp_path: Path) -> None:
    records = ndjson_records(20_000)
    compressed = gzip.compress(ndjson_bytes(records))
    result = NDJSON.ingest(
        pieces(compressed, 3_000),
        tmp_path / "x",
        expected_columns=["Id", "name", "logins_count", "user_metadata.plan"],
        limit=20_000,
    )
    assert result.rows == 20_000
    assert result.header == ["Id", "name", "logins_count", "user_metadata"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2]", "line 101 is not a JSON object"),
        (b'{"Id": "x",', "line 101 is not a complete JSON object"),
        (b"", "line 101 is empty"),
        (b'{"Id": ' + b"[" * 5000 + b"]" * 5000 + b"}", "line 101 is not a complete JSON object"),
        # Two objects on one line, and one object over two lines: each line starts with {
        # and ends with }, the count of objects even matches the count of lines.
        (b'{"Id": "a"},{"Id": "b"}\n{"Id": {"x": [{"y": 1}\n{"z": 2}]}}', "line 101"),
    ],
)
def test_ingest_rejects_bad_ndjson_lines(tmp_path: Path, line: bytes, reason: str) -> None:
    lines = ndjson_bytes(ndjson_records(200)).split(b"\n")
    lines.insert(100, line)
    with pytest.raises(VerificationError, match=reason) as caught:
        NDJSON.ingest(
            [gzip.compress(b"\n".join(lines))],
            tmp_path / "x",
            expected_columns=["Id", "name", "logins_count", "user_metadata"],
        )
    # The parser's words ("unexpected character: line 1 column 12 (char 11)") are the detail.
    assert "(char " not in caught.value.reason
    if "complete JSON" in reason:
        assert caught.value.detail.startswith("JSON: ")


def test_a_damaged_line_stops_a_filter_in_plain_words() -> None:
    """A line that is not JSON reaching the exact filter or a derivative (their sources were
    verified, so only a damaged file can) is a ValueError the pipeline reports, in words."""
    broken = gzip.compress(b'{"email": "a@example.com"}\n{"email": "b@exa\n')
    plan = exact.plan_job("email:a*", [{"name": "email"}], NDJSON)
    with pytest.raises(ValueError, match="user 2 of Auth0's file is not one JSON object") as one:
        exact.filter_file(io.BytesIO(broken), io.BytesIO(), plan=plan)
    assert "char" not in str(one.value)
    with pytest.raises(ValueError, match="line 2 of the kept file is not a JSON object") as two:
        NDJSON.derive(
            io.BytesIO(broken),
            io.BytesIO(),
            columns=["email"],
            conditions=[Condition("email", "not_empty")],
        )
    assert "char" not in str(two.value)


def test_ingest_checks_the_keys_of_ndjson_lines(tmp_path: Path) -> None:
    lines = ndjson_bytes(ndjson_records(200)).split(b"\n")
    lines.insert(0, b'{"password": "x"}')
    with pytest.raises(VerificationError, match="line 1 has keys that were not requested"):
        NDJSON.ingest(
            [gzip.compress(b"\n".join(lines))],
            tmp_path / "x",
            expected_columns=["Id", "name", "logins_count", "user_metadata"],
        )


def test_ingest_checks_the_keys_of_every_ndjson_line(tmp_path: Path) -> None:
    # Not only the first line of a block: a key nobody asked for anywhere is found.
    lines = ndjson_bytes(ndjson_records(20_000)).split(b"\n")
    lines.insert(15_000, b'{"Id": "auth0|x", "password": "x"}')
    with pytest.raises(
        VerificationError, match="line 15001 has keys that were not requested: password"
    ):
        NDJSON.ingest(
            [gzip.compress(b"\n".join(lines))],
            tmp_path / "x",
            expected_columns=["Id", "name", "logins_count", "user_metadata.plan"],
        )


def test_ingest_reads_utf8_cut_between_gzip_members(tmp_path: Path) -> None:
    records = [{"Id": f"auth0|{n}", "name": "Zoë Søren € 😀" * 3} for n in range(2_000)]
    data = b"".join(json.dumps(record, ensure_ascii=False).encode() + b"\n" for record in records)
    cut = data.index("😀".encode(), len(data) // 2) + 2  # inside the 4-byte character
    # Each member inflates on its own, so the character arrives in two pieces.
    result = NDJSON.ingest(
        [gzip.compress(data[:cut]) + gzip.compress(data[cut:])],
        tmp_path / "x",
        expected_columns=["Id", "name"],
    )
    assert result.rows == 2_000
    assert result.gzip_members == 2
    broken = data[:cut] + b"\xff" + data[cut + 1 :]
    line = data[:cut].count(b"\n") + 1
    with pytest.raises(VerificationError, match=f"line {line} is not valid UTF-8"):
        NDJSON.ingest([gzip.compress(broken)], tmp_path / "y")


# --- conversions -------------------------------------------------------------------------------


def test_uncompressed_gives_back_the_bytes_auth0_wrote(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(3_000)
    assert b"".join(uncompressed(src(gz(data, tmp_path / "x.gz")))) == data


def test_json_array_of_ndjson_is_the_lines_as_one_array(tmp_path: Path) -> None:
    records = ndjson_records(30_000)
    path = gz(ndjson_bytes(records).rstrip(b"\n"), tmp_path / "x.gz")
    assert json.loads(b"".join(NDJSON.json_array(src(path)))) == records
    empty = gz(b"", tmp_path / "empty.gz")
    assert json.loads(b"".join(NDJSON.json_array(src(empty)))) == []


def test_json_array_of_csv_undoes_auth0_escaping_and_types_values(tmp_path: Path) -> None:
    header = ["Id", "user_metadata.plan", "user_metadata.seats", "blocked", "last_login", "note"]
    rows: list[list[Any]] = [
        ["auth0|1", "pro", 5, False, datetime(2024, 2, 3, tzinfo=UTC), '=1+2 "quoted", ok'],
        ["auth0|2", None, None, True, None, "'leading"],
    ]
    data = format_header(header) + b"".join(format_row(row) for row in rows)
    path = gz(data, tmp_path / "x.gz")

    array = json.loads(b"".join(CSV.json_array(src(path))))

    assert array == [
        {
            "Id": "auth0|1",
            "user_metadata": {"plan": "pro", "seats": 5},
            "blocked": False,
            "last_login": "2024-02-03T00:00:00.000Z",
            "note": '=1+2 "quoted", ok',
        },
        {"Id": "auth0|2", "blocked": True, "note": "'leading"},
    ]
    assert list(csv_objects(src(path))) == array


# --- derive --------------------------------------------------------------------------------


def reference_filter(raw_rows: list[bytes], keep: list[bool]) -> bytes:
    return format_header(COLUMNS) + b"".join(
        row for row, wanted in zip(raw_rows, keep, strict=True) if wanted
    )


@pytest.mark.parametrize(
    ("condition", "predicate"),
    [
        (
            Condition("last_login", "after", "2023-06-01"),
            lambda v: v[4] and v[4] >= datetime(2023, 6, 1, tzinfo=UTC),
        ),
        (
            Condition("last_login", "before", "2023-06-01T00:00:00Z"),
            lambda v: v[4] and v[4] < datetime(2023, 6, 1, tzinfo=UTC),
        ),
        (Condition("name", "equals", 'Jo"e "the boss"'), lambda v: v[1] == 'Jo"e "the boss"'),
        (Condition("note", "contains", "BOSS"), lambda v: v[5] and "boss" in v[5]),
        (Condition("note", "contains", '"'), lambda v: v[5] and '"' in v[5]),
        (Condition("logins_count", "greater", "500"), lambda v: v[3] > 500),
        (Condition("logins_count", "less", "10"), lambda v: v[3] < 10),
        (Condition("note", "empty"), lambda v: not v[5]),
        (Condition("note", "not_empty"), lambda v: bool(v[5])),
        (Condition("email_verified", "equals", "true"), lambda v: v[2] is True),
    ],
)
@pytest.mark.parametrize("tricky", [True, False])
def test_derive_keeps_matching_rows_byte_for_byte(
    tmp_path: Path, condition: Condition, predicate: object, tricky: bool
) -> None:
    data, raw_rows, rows = csv_bytes(20_000, tricky)
    source = gz(data, tmp_path / "src.gz")
    keep = [bool(predicate(values)) for values in rows]  # type: ignore[operator]

    result = CSV.derive(src(source), sink(tmp_path), columns=COLUMNS, conditions=[condition])

    written = (tmp_path / "out.gz").read_bytes()
    assert gzip.decompress(written) == reference_filter(raw_rows, keep)
    assert (result.rows, result.scanned) == (sum(keep), len(rows))
    assert 0 < result.rows < len(rows)
    assert result.sha256 == hashlib.sha256(written).hexdigest()


def test_derive_joins_conditions_with_and(tmp_path: Path) -> None:
    data, raw_rows, rows = csv_bytes(5_000)
    source = gz(data, tmp_path / "src.gz")
    conditions = [
        Condition("last_login", "after", "2023-03-01"),
        Condition("name", "contains", "user 1"),
    ]
    keep = [
        bool(v[4] and v[4] >= datetime(2023, 3, 1, tzinfo=UTC) and "user 1" in str(v[1]).lower())
        for v in rows
    ]
    CSV.derive(src(source), sink(tmp_path), columns=COLUMNS, conditions=conditions)
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == reference_filter(raw_rows, keep)


def test_derive_ndjson_keeps_lines_as_they_were(tmp_path: Path) -> None:
    records = ndjson_records(3_000)
    lines = [json.dumps(record, indent=None).encode() for record in records]
    source = gz(b"\n".join(lines) + b"\n", tmp_path / "src.gz")

    result = NDJSON.derive(
        src(source),
        sink(tmp_path),
        columns=["Id", "name", "logins_count", "user_metadata"],
        conditions=[Condition("logins_count", "greater", "2500"), Condition("name", "not_empty")],
    )

    expected = [
        line
        for line, record in zip(lines, records, strict=True)
        if record["logins_count"] > 2500 and record["name"]
    ]
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == b"\n".join(expected) + b"\n"
    assert result.rows == len(expected)


def test_condition_validation_explains_each_problem() -> None:
    kinds = {"name": "text", "logins_count": "number", "last_login": "date"}
    errors = validate_conditions(
        [
            Condition("nope", "equals", "x"),
            Condition("name", "sounds_like", "x"),
            Condition("name", "equals", ""),
            Condition("last_login", "after", "last tuesday"),
            Condition("logins_count", "greater", "many"),
            Condition("name", "before", "2024-01-01"),
            Condition("last_login", "less", "3"),
            Condition("name", "empty", "x"),
        ],
        COLUMNS,
        kinds,
    )
    assert errors == [
        "“nope” is not a column of this export.",
        "“sounds_like” is not a known comparison.",
        "name equals: enter a value.",
        "last_login is on or after last tuesday: “last tuesday” is not a date; "
        "use 2024-01-01 or 2024-01-01T12:00:00Z.",
        "logins_count is greater than many: “many” is not a number.",
        "name is before 2024-01-01: name holds text values, not dates.",
        "last_login is less than 3: last_login holds date values, not numbers.",
        "name is empty: “is empty” takes no value.",
    ]
    assert validate_conditions([], COLUMNS) == ["Add at least one condition."]
    assert (
        validate_conditions([Condition("last_login", "after", "2024-01-01")], COLUMNS, kinds) == []
    )
    with pytest.raises(ValueError, match="not a column"):
        CSV.derive(
            io.BytesIO(), io.BytesIO(), columns=COLUMNS, conditions=[Condition("x", "empty")]
        )


# --- preview -------------------------------------------------------------------------------


def test_preview_shows_the_first_rows_unescaped(tmp_path: Path) -> None:
    data, _, rows = csv_bytes(1_000)
    shown = CSV.preview(src(gz(data, tmp_path / "x.gz")))

    assert shown.header == COLUMNS
    assert shown.more
    assert shown.rows == [[display(value) for value in values] for values in rows[:50]]
    assert shown.rows[0][1] == 'Jo"e "the boss"'
    assert [unescape_raw_cell(b'"\'=1+2"')] == ["=1+2"]
    kinds = infer_kinds(shown)
    assert kinds["logins_count"] == "number"
    assert kinds["last_login"] == "date"
    assert kinds["email_verified"] == "boolean"
    assert kinds["name"] == "text"


def test_preview_of_a_short_file_and_of_ndjson(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(3)
    short = CSV.preview(src(gz(data, tmp_path / "x.gz")))
    assert (len(short.rows), short.more) == (3, False)

    records = ndjson_records(80)
    shown = NDJSON.preview(src(gz(ndjson_bytes(records), tmp_path / "y.gz")), rows=5)
    assert shown.header == ["Id", "name", "logins_count", "user_metadata"]
    assert shown.rows[1] == ["auth0|1", "Smith, Jr.", "1", '{"plan":"pro","tags":["a",1]}']
    assert shown.more


def test_a_value_larger_than_a_block_is_verified_derived_and_previewed(tmp_path: Path) -> None:
    _, raw_rows, rows = csv_bytes(2_000, tricky=False)
    huge = "x, y\n" * 100_000  # 500 KB with commas and newlines: spans several blocks
    big_values: list[Any] = ["auth0|big", huge, True, 999, None, "big"]
    raw_rows.insert(1_000, format_row(big_values))
    rows.insert(1_000, big_values)
    source = gz(format_header(COLUMNS) + b"".join(raw_rows), tmp_path / "src.gz")

    result = CSV.ingest(
        pieces(source.read_bytes(), 50_000), tmp_path / "stored.gz", expected_columns=COLUMNS
    )
    assert result.rows == 2_001

    CSV.derive(
        src(source),
        sink(tmp_path),
        columns=COLUMNS,
        conditions=[Condition("logins_count", "greater", "990")],
    )
    keep = [values[3] > 990 for values in rows]
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == reference_filter(raw_rows, keep)
    assert sum(keep) > 1


def test_the_data_path_starts_no_thread_and_leaves_the_switch_interval_alone(
    tmp_path: Path,
) -> None:
    before = (sys.getswitchinterval(), threading.active_count())
    data, _, _ = csv_bytes(3_000)
    with pytest.raises(VerificationError):
        CSV.ingest([gzip.compress(data)], tmp_path / "x", limit=1)
    source = gz(data, tmp_path / "src.gz")
    stream = uncompressed(src(source))
    assert next(stream)
    assert (sys.getswitchinterval(), threading.active_count()) == before
    CSV.derive(
        src(source), sink(tmp_path), columns=COLUMNS, conditions=[Condition("note", "empty")]
    )
    assert (sys.getswitchinterval(), threading.active_count()) == before


def test_preview_reads_only_what_it_shows(tmp_path: Path) -> None:
    data, _, _ = csv_bytes(200_000, tricky=False)
    kept = io.BytesIO(gzip.compress(data))
    CSV.preview(kept)
    assert 0 < kept.tell() < len(kept.getvalue()) // 4


def test_preview_reads_across_gzip_members_and_stops_at_its_byte_budget(tmp_path: Path) -> None:
    data, raw_rows, rows = csv_bytes(200, tricky=False)
    header = format_header(COLUMNS)
    path = tmp_path / "members.gz"
    path.write_bytes(
        gzip.compress(header + b"".join(raw_rows[:3])) + gzip.compress(b"".join(raw_rows[3:]))
    )
    shown = CSV.preview(src(path))
    assert shown.rows == [[display(value) for value in values] for values in rows[:50]]
    assert shown.more

    budget = len(header) + len(b"".join(raw_rows[:10])) + 5
    small = CSV.preview(src(gz(data, tmp_path / "x.gz")), max_bytes=budget)
    assert small.rows == [[display(value) for value in values] for values in rows[:10]]
    assert small.more
