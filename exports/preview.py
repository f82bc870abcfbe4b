"""The first rows of a stored export, for reading on the export's detail page.

Interface::

    csv_preview(source, rows, max_bytes, columns) -> Preview(header, rows, more)
    ndjson_preview(source, rows, max_bytes, columns) -> Preview(header, rows, more)
    infer_kinds(preview) -> dict[column, "date" | "number" | "boolean" | "text" | "empty"]

Call them through the export's format (exports.formats: ``fmt.preview(source, columns=...)``).
``Preview.header`` is the list of column titles; ``Preview.rows`` a list of rows, each a list of
display strings aligned with the header: Auth0's CSV escaping undone (no leading ``'``, ``""``
read as ``"``); for NDJSON the header is every key met in those rows in first-seen order, strings
shown as they are, ``true``/``false``/numbers as written, objects and arrays as compact JSON, a
missing key as ``""``. The strings are **not** HTML-escaped: let the template autoescape them.
``Preview.more`` says whether the file goes on past the rows shown.

``source`` is a readable binary file object of the stored ``.gz`` (local or S3). Bounded work:
only the compressed bytes needed are read, at most ``max_bytes`` of the file are inflated,
whatever its size, and parsing stops after ``rows`` rows. ``infer_kinds`` labels each column
from the sampled values, for :func:`exports.derive.validate_conditions`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from exports import streams
from exports.csvformat import record_boundary, unescape_cell
from exports.derive import json_text, parse_instant
from exports.ndjsonkeys import steps, value_at


@dataclass(frozen=True)
class Preview:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    more: bool = False


def csv_preview(
    source: BinaryIO, wanted: int, max_bytes: int, columns: Sequence[str] | None
) -> Preview:
    """The header is the file's own (``columns`` are for NDJSON, whose lines name keys)."""
    # Twice the newlines needed leaves room for values that hold a newline.
    data, more = streams.head(source, max_bytes=max_bytes, newlines=2 * (wanted + 1))
    cut = record_boundary(data) if more else len(data)
    text = data[:cut].decode("utf-8-sig", errors="replace")
    records = csv.reader(io.StringIO(text, newline=""), strict=False)
    header_cells = next(records, None)
    if header_cells is None:
        return Preview(header=[], more=more)
    header = [unescape_cell(cell) for cell in header_cells]
    shown: list[list[str]] = []
    for cells in records:
        if not cells:
            continue
        if len(shown) == wanted:
            more = True
            break
        shown.append([unescape_cell(cell) for cell in cells])
    return Preview(header=header, rows=shown, more=more)


def ndjson_preview(
    source: BinaryIO, wanted: int, max_bytes: int, columns: Sequence[str] | None
) -> Preview:
    data, more = streams.head(source, max_bytes=max_bytes, newlines=wanted)
    lines = data.split(b"\n")
    if more:
        lines.pop()
    records: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        if len(records) == wanted:
            more = True
            break
        value = orjson.loads(line)
        records.append(value if isinstance(value, dict) else {"value": value})
    # The export's columns first (a dotted one read literal or nested: ndjsonkeys), then any
    # other key met, in first-seen order; a key that only holds nested columns adds none.
    header: list[str] = list(columns or ())
    seen: set[str] = set(header) | {str(steps(title)[0]) for title in header if steps(title)}
    for record in records:
        for key in record:
            if key not in seen:
                seen.add(key)
                header.append(key)
    shown = [[json_text(value_at(record, key)) for key in header] for record in records]
    return Preview(header=header, rows=shown, more=more)


def infer_kinds(sample: Preview) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for index, title in enumerate(sample.header):
        values = [row[index] for row in sample.rows if index < len(row) and row[index] != ""]
        if not values:
            kinds[title] = "empty"
        elif all(value in ("true", "false") for value in values):
            kinds[title] = "boolean"
        elif all(_is_number(value) for value in values):
            kinds[title] = "number"
        elif all(parse_instant(value) is not None for value in values):
            kinds[title] = "date"
        else:
            kinds[title] = "text"
    return kinds


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
