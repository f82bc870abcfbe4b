"""The first rows of a stored export, for reading on the export's detail page.

Interface::

    preview(path, *, fmt, rows=50, max_bytes=8_000_000) -> Preview(header, rows, more)
    infer_kinds(preview) -> dict[column, "date" | "number" | "boolean" | "text" | "empty"]

``Preview.header`` is the list of column titles; ``Preview.rows`` a list of rows, each a list of
display strings aligned with the header: Auth0's CSV escaping undone (no leading ``'``, ``""``
read as ``"``); for NDJSON the header is every key met in those rows in first-seen order, strings
shown as they are, ``true``/``false``/numbers as written, objects and arrays as compact JSON, a
missing key as ``""``. The strings are **not** HTML-escaped: let the template autoescape them.
``Preview.more`` says whether the file goes on past the rows shown.

Bounded work: at most ``max_bytes`` of the file are inflated, whatever its size, and parsing stops
after ``rows`` rows. ``infer_kinds`` labels each column from the sampled values, for
:func:`exports.derive.validate_conditions`.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from exports.csvformat import record_boundary, unescape_cell
from exports.derive import json_text, parse_instant

Format = Literal["csv", "ndjson"]

_READ = 64 * 1024


@dataclass(frozen=True)
class Preview:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    more: bool = False


def _head(path: str | os.PathLike[str], max_bytes: int, enough: Any) -> tuple[bytes, bool]:
    """Inflate from the start until ``enough(data)`` or ``max_bytes``; say whether more follows."""
    inflater: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = b""
    with open(path, "rb") as source:
        while len(data) < max_bytes:
            block = inflater.unconsumed_tail or source.read(_READ)
            if not block:
                return data, False
            data += inflater.decompress(block, max_bytes - len(data))
            if inflater.eof and not inflater.unused_data.strip(b"\0") and not source.read(1):
                return data, False
            if enough(data):
                return data, True
    return data, True


def preview(
    path: str | os.PathLike[str], *, fmt: str, rows: int = 50, max_bytes: int = 8_000_000
) -> Preview:
    if fmt == "csv":
        return _csv_preview(path, rows, max_bytes)
    return _ndjson_preview(path, rows, max_bytes)


def _csv_preview(path: str | os.PathLike[str], wanted: int, max_bytes: int) -> Preview:
    def enough(data: bytes) -> bool:
        # Twice the newlines needed leaves room for values that hold a newline.
        return data.count(b"\n") > 2 * (wanted + 1)

    data, more = _head(path, max_bytes, enough)
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


def _ndjson_preview(path: str | os.PathLike[str], wanted: int, max_bytes: int) -> Preview:
    def enough(data: bytes) -> bool:
        return data.count(b"\n") > wanted

    data, more = _head(path, max_bytes, enough)
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
    header: list[str] = []
    seen: set[str] = set()
    for record in records:
        for key in record:
            if key not in seen:
                seen.add(key)
                header.append(key)
    shown = [[json_text(record.get(key)) for key in header] for record in records]
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
