"""Filtered derivatives: keep the rows of a stored export that satisfy every condition.

Interface::

    Condition(column, operator, value="")           # a frozen dataclass
    OPERATORS: dict[operator, label]                 # for a form's <select>
    validate_conditions(conditions, columns, kinds=None) -> list[str]
    describe(condition) -> str                       # "last_login is on or after 2024-01-01"
    derive(source, target, *, row_filter, columns, conditions, compresslevel=3)
        -> DeriveResult(rows, scanned, compressed_bytes, uncompressed_bytes, sha256, header,
                        seconds)
    csv_rows_kept, ndjson_rows_kept       # the row filters, one per format (a RowFilter)

Call ``derive`` through the export's format (exports.formats: ``fmt.derive(source, target,
columns=..., conditions=...)``), which picks the row filter.

``validate_conditions`` returns human messages (empty list = valid) for a form to show: an unknown
column or operator, a missing or malformed value (``before``/``after`` need a date such as
``2024-01-01`` or ``2024-01-01T12:00:00Z``; ``greater``/``less`` a number), and, when ``kinds``
(``{column: kind}`` from :func:`exports.preview.infer_kinds`) is given, a date or number operator
on a column whose sampled values are not dates or numbers.

Conditions are joined with AND and compare the *unescaped* value (Auth0's leading ``'`` dropped
and ``""`` read as ``"``; for NDJSON the value under the top-level key, with ``true``/``false``
and numbers as written):

- ``equals``: exactly equal (case-sensitive); ``contains``: substring, ignoring case;
- ``before``: an instant strictly earlier than the date; ``after``: on or after it (a date
  without a time means midnight UTC), so ``after 2024-01-01`` is the docs' Miller example
  ``$last_login >= "2024-01-01T00:00:00Z"``;
- ``greater`` / ``less``: numerically, strictly;
- ``empty`` / ``not_empty``: the value is (not) empty or missing.

A value that cannot be read as a date or number never matches a date or number condition.

``source`` is a readable binary file object of a stored ``.gz`` (local or S3), ``target`` a
writable one; the result is written there as gzip (:mod:`exports.streams`); kept rows are
copied **byte for byte** from the source (CSV: the header row and Auth0's escaping intact;
NDJSON: the lines as they were).
Raises ``ValueError`` when the conditions are invalid or the file's header is not ``columns``.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import compress
from typing import Any, BinaryIO, Literal

import orjson

from exports import streams
from exports.csvformat import (
    NOT_STRUCTURE,
    record_boundary,
    record_end,
    unescape_cell,
    unescape_raw_cell,
)
from exports.ndjsonkeys import value_at

Operator = Literal["equals", "contains", "before", "after", "greater", "less", "empty", "not_empty"]

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "contains": "contains",
    "before": "is before",
    "after": "is on or after",
    "greater": "is greater than",
    "less": "is less than",
    "empty": "is empty",
    "not_empty": "is not empty",
}
_VALUELESS = {"empty", "not_empty"}
_DATE_OPERATORS = {"before", "after"}
_NUMBER_OPERATORS = {"greater", "less"}
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z"
)
_EMPTY_CELLS = frozenset({b"", b'""', b'"\'"', b"\r", b'""\r', b'"\'"\r'})
_BLOCK = 32 * 1024
_AUTH0_DATE = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str
    value: str = ""


@dataclass(frozen=True)
class DeriveResult:
    rows: int
    scanned: int
    compressed_bytes: int
    uncompressed_bytes: int
    sha256: str
    header: list[str]
    seconds: float


def describe(condition: Condition) -> str:
    label = OPERATORS.get(condition.operator, condition.operator)
    if condition.operator in _VALUELESS:
        return f"{condition.column} {label}"
    return f"{condition.column} {label} {condition.value}"


def parse_instant(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as an aware UTC datetime (naive means UTC), else None."""
    text = text.strip()
    if not _DATE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if number != number else number  # NaN never compares


def validate_conditions(
    conditions: Sequence[Condition],
    columns: Sequence[str],
    kinds: Mapping[str, str] | None = None,
) -> list[str]:
    errors: list[str] = []
    if not conditions:
        errors.append("Add at least one condition.")
    for condition in conditions:
        where = describe(condition)
        if condition.column not in columns:
            errors.append(f"“{condition.column}” is not a column of this export.")
            continue
        if condition.operator not in OPERATORS:
            errors.append(f"“{condition.operator}” is not a known comparison.")
            continue
        kind = (kinds or {}).get(condition.column)
        if condition.operator in _VALUELESS:
            if condition.value.strip():
                errors.append(f"{where}: “{OPERATORS[condition.operator]}” takes no value.")
            continue
        if condition.value == "":
            errors.append(f"{condition.column} {OPERATORS[condition.operator]}: enter a value.")
        elif condition.operator in _DATE_OPERATORS:
            if parse_instant(condition.value) is None:
                errors.append(
                    f"{where}: “{condition.value}” is not a date; "
                    "use 2024-01-01 or 2024-01-01T12:00:00Z."
                )
            elif kind is not None and kind not in ("date", "empty"):
                errors.append(f"{where}: {condition.column} holds {kind} values, not dates.")
        elif condition.operator in _NUMBER_OPERATORS:
            if _number(condition.value) is None:
                errors.append(f"{where}: “{condition.value}” is not a number.")
            elif kind is not None and kind not in ("number", "empty"):
                errors.append(f"{where}: {condition.column} holds {kind} values, not numbers.")
    return errors


# --- tests on values --------------------------------------------------------------------------

ValueTest = Callable[[str], bool]


def _value_test(condition: Condition) -> ValueTest:
    operator, wanted = condition.operator, condition.value
    if operator == "equals":
        return lambda value: value == wanted
    if operator == "contains":
        needle = wanted.casefold()
        return lambda value: needle in value.casefold()
    if operator == "empty":
        return lambda value: value == ""
    if operator == "not_empty":
        return lambda value: value != ""
    if operator in _DATE_OPERATORS:
        bound = parse_instant(wanted)
        assert bound is not None

        def date_test(value: str) -> bool:
            moment = parse_instant(value) if value else None
            if moment is None:
                return False
            return moment < bound if operator == "before" else moment >= bound

        return date_test
    limit = _number(wanted)
    assert limit is not None

    def number_test(value: str) -> bool:
        number = _number(value) if value else None
        if number is None:
            return False
        return number > limit if operator == "greater" else number < limit

    return number_test


ColumnTest = Callable[[list[bytes]], list[bool]]


def _column_test(condition: Condition) -> ColumnTest:
    """The condition over a column of raw CSV cells, with byte-level shortcuts for common cases."""
    value_test = _value_test(condition)
    operator, wanted = condition.operator, condition.value

    def slow(raw: bytes) -> bool:
        return value_test(unescape_raw_cell(raw.rstrip(b"\r")))

    if operator in ("equals", "empty", "not_empty"):
        text = "" if operator != "equals" else wanted
        escaped = text.replace('"', '""').encode()
        forms = {b"\"'" + escaped + b'"', b'"' + escaped + b'"'}
        if not any(char in text for char in ',"\r\n') and not text.startswith("'"):
            forms.add(text.encode())
        frozen = frozenset(forms | {form + b"\r" for form in forms})
        if operator == "not_empty":
            return lambda cells: [cell not in frozen for cell in cells]
        return lambda cells: [cell in frozen for cell in cells]
    if operator in _DATE_OPERATORS:
        bound = parse_instant(wanted)
        assert bound is not None
        canonical = (
            bound.strftime("%Y-%m-%dT%H:%M:%S.").encode()
            + f"{bound.microsecond // 1000:03d}Z".encode()
        )
        if bound.microsecond % 1000 == 0:
            # Auth0 writes dates raw as 2024-01-25T19:00:28.395Z: those compare as bytes.
            if operator == "after":
                return lambda cells: [
                    cell >= canonical
                    if len(cell) == 24 and cell[23] == 90 and cell[10] == 84 and cell[0] != 34
                    else slow(cell)
                    for cell in cells
                ]
            return lambda cells: [
                cell < canonical
                if len(cell) == 24 and cell[23] == 90 and cell[10] == 84 and cell[0] != 34
                else slow(cell)
                for cell in cells
            ]
    return lambda cells: list(map(slow, cells))


def json_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


# --- the derivation ---------------------------------------------------------------------------


# Writes the kept records of inflated pieces to the writer: (kept, scanned, header).
RowFilter = Callable[
    [Iterable[bytes], streams.GzipWriter, Sequence[str], Sequence[Condition]],
    tuple[int, int, list[str]],
]


def derive(
    source: BinaryIO,
    target: BinaryIO,
    *,
    row_filter: RowFilter,
    columns: Sequence[str],
    conditions: Sequence[Condition],
    compresslevel: int = 3,
) -> DeriveResult:
    errors = validate_conditions(conditions, columns)
    if errors:
        raise ValueError(" ".join(errors))
    started = time.perf_counter()
    writer = streams.GzipWriter(target, compresslevel)
    pieces = streams.inflate(streams.chunks(source))
    kept, scanned, header = row_filter(pieces, writer, columns, conditions)
    digest = writer.close()
    return DeriveResult(
        rows=kept,
        scanned=scanned,
        compressed_bytes=writer.compressed,
        uncompressed_bytes=writer.uncompressed,
        sha256=digest,
        header=header,
        seconds=time.perf_counter() - started,
    )


def csv_rows_kept(
    pieces: Iterable[bytes],
    writer: streams.GzipWriter,
    columns: Sequence[str],
    conditions: Sequence[Condition],
) -> tuple[int, int, list[str]]:
    header: list[str] | None = None
    filter_: _CsvFilter | None = None
    carry = b""
    for piece in pieces:
        buf = carry + piece if carry else piece
        if header is None:
            if record_boundary(buf) == 0:
                carry = buf
                continue
            end = record_end(buf, 0)
            raw_header = buf[: end + 1]
            cells = next(csv.reader(io.StringIO(raw_header.decode("utf-8-sig"), newline="")))
            header = [unescape_cell(cell) for cell in cells]
            if header != list(columns):
                raise ValueError(
                    "the file's header does not match the export's columns: "
                    f"{', '.join(header)} vs {', '.join(columns)}"
                )
            writer.write(raw_header)
            filter_ = _CsvFilter(header, conditions)
            buf = buf[end + 1 :]
        assert filter_ is not None
        cut = record_boundary(buf)
        carry = buf[cut:]
        at = 0
        while at < cut:
            # Small blocks keep a rare awkward record from sending a whole piece down the slow path.
            stop = min(cut, at + _BLOCK)
            if stop < cut:
                boundary = record_boundary(buf[at:stop])
                stop = at + boundary if boundary else cut
            writer.write(filter_.block(buf[at:stop]))
            at = stop
    if filter_ is None:
        if carry.strip():
            raise ValueError("the file's header row is incomplete")
        raise ValueError("the file is empty: no header row")
    if carry:
        kept = filter_.block(carry + b"\n")
        writer.write(kept)
    return filter_.kept, filter_.scanned, header or []


class _CsvFilter:
    def __init__(self, header: list[str], conditions: Sequence[Condition]) -> None:
        self.width = len(header)
        self.row_shape = b"," * (self.width - 1) + b"\n"
        positions = {title: index for index, title in enumerate(header)}
        self.column_tests = [(positions[c.column], _column_test(c)) for c in conditions]
        self.value_tests = [(positions[c.column], _value_test(c)) for c in conditions]
        self.kept = 0
        self.scanned = 0

    def block(self, region: bytes) -> bytes:
        shape = region.translate(None, NOT_STRUCTURE).replace(b'""', b"")
        rows, odd = divmod(len(shape), len(self.row_shape))
        if not odd and shape == self.row_shape * rows:
            lines = region.split(b"\n")
            lines.pop()
            self.scanned += rows
            kept = self._simple(lines, region)
        else:
            kept = self._records(region)
        self.kept += len(kept)
        return b"\n".join(kept) + b"\n" if kept else b""

    def _simple(self, lines: list[bytes], region: bytes) -> list[bytes]:
        """Filter records with no comma or newline inside quotes, a column at a time."""
        width = self.width
        flat: list[bytes] | None = None
        verdicts: list[list[bool]] = []
        for index, test in self.column_tests:
            if width == 1:
                column = lines
            elif 0 < index < width - 1:
                # Splitting the whole block on commas lays the cells out row after row.
                flat = region.split(b",") if flat is None else flat
                column = flat[index :: width - 1]
            elif index == 0:
                column = [line.split(b",", 1)[0] for line in lines]
            else:
                column = [line.rsplit(b",", 1)[1] for line in lines]
            verdicts.append(test(column))
        keep = verdicts[0] if len(verdicts) == 1 else list(map(all, zip(*verdicts, strict=True)))
        return list(compress(lines, keep))

    def _records(self, region: bytes) -> list[bytes]:
        """A block with awkward records: parse those alone, filter runs of simple ones together."""
        kept: list[bytes] = []
        simple_shape = self.row_shape[:-1]
        run: list[bytes] = []
        at = 0
        while at < len(region):
            stop = record_end(region, at)
            record = region[at:stop]
            at = stop + 1
            if record.translate(None, NOT_STRUCTURE).replace(b'""', b"") == simple_shape:
                run.append(record)
                continue
            if run:
                kept.extend(self._simple(run, b"\n".join(run)))
                self.scanned += len(run)
                run = []
            if not record.strip(b"\r"):
                continue
            self.scanned += 1
            cells = next(csv.reader(io.StringIO(record.decode() + "\n", newline="")), [])
            values = [unescape_cell(cell) for cell in cells]
            if len(values) == self.width and all(
                test(values[index]) for index, test in self.value_tests
            ):
                kept.append(record)
        if run:
            kept.extend(self._simple(run, b"\n".join(run)))
            self.scanned += len(run)
        return kept


def ndjson_rows_kept(
    pieces: Iterable[bytes],
    writer: streams.GzipWriter,
    columns: Sequence[str],
    conditions: Sequence[Condition],
) -> tuple[int, int, list[str]]:
    """Lines name their keys, so ``columns`` are not checked against a header."""
    tests = [(c.column, _value_test(c)) for c in conditions]
    kept_total = scanned = 0
    header: list[str] = []
    loads = orjson.loads
    for block in streams.records(pieces, quoted=False):
        kept = []
        for line in block.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(
                    f"line {scanned + 1} of the kept file is not a JSON object, so it cannot "
                    "be filtered (the kept file is damaged; run the export again)"
                ) from exc
            scanned += 1
            if not header:
                header = list(record)
            if all(test(json_text(value_at(record, column))) for column, test in tests):
                kept.append(line)
        if kept:
            kept_total += len(kept)
            writer.write(b"\n".join(kept) + b"\n")
    return kept_total, scanned, header
