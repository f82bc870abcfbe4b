"""Auth0's CSV export format: OWASP escaping of strings, raw dates, numbers and booleans.

Auth0 writes the CSV of a users export with one header row (the ``export_as`` titles) and escapes
every *string* value against CSV injection: each ``"`` is doubled, a ``'`` is prefixed and the
result is wrapped in ``"``. ISO-8601 dates, numbers and booleans are written raw; a missing value
is an empty cell. So ``Jo"e`` is stored as ``"'Jo""e"`` and ``2023-01-25T19:00:28.395Z`` as is.

Interface (all pure functions, no Django):

- ``escape_value(value) -> bytes``: one cell as Auth0 writes it (``None`` -> empty cell,
  ``bool`` -> ``true``/``false``, ``int``/``float`` -> the number, ``datetime`` -> ISO-8601 UTC
  with milliseconds, ``str`` -> OWASP-escaped).
- ``auth0_cell(value, *, date=False) -> bytes``: a JSON value of an NDJSON record as Auth0
  writes it in CSV (``date``: a field of ``AUTH0_DATE_FIELDS``, whose strings go raw; arrays
  and objects as their compact JSON text, escaped as a string).
- ``format_row(values) -> bytes``: a whole record, cells joined by ``,``, ending in ``\\n``.
- ``format_header(titles) -> bytes``: the header row (titles quoted only when they need it).
- ``unescape_cell(cell: str) -> str``: the display value of a cell already parsed by ``csv``
  (drops Auth0's leading ``'``; ``csv`` has already undone the ``""`` doubling).
- ``unescape_raw_cell(raw: bytes) -> str``: the value of one *raw* cell, as the bytes appear
  between two delimiters in the file (undoes the wrapping quotes, ``""`` and the ``'``).
- ``typed_value(cell: str) -> object``: a parsed cell as a JSON value for import-ready JSON:
  an escaped string -> ``str`` without the ``'``, unless it is exactly what ``auth0_cell``
  (and the sandbox's writer) write for an array or object: that array or object; a raw
  ``true``/``false`` -> ``bool``; a raw number -> ``int``/``float``; anything else raw (dates)
  -> ``str``; an empty cell -> ``None`` (the caller omits the key).
- ``read_records(text_lines)``: ``csv.reader`` with the dialect Auth0's files need.
- ``record_boundary(buf) -> int``: offset just after the last newline of ``buf`` outside quotes.
- ``record_end(buf, start) -> int``: the newline ending the record that starts at ``start``
  (-1 when the record goes on past ``buf``).
- ``NOT_STRUCTURE``: ``bytes.translate`` delete table keeping only ``,`` ``"`` and newline; with
  ``""`` pairs then removed, a block of simple records becomes ``,,…\\n`` per row.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

# The dates Auth0 generates itself: written raw in CSV, exempt from the string escaping.
AUTH0_DATE_FIELDS = frozenset(
    {"created_at", "updated_at", "last_login", "last_password_reset", "multifactor_last_modified"}
)
NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b',"\n')
# Values longer than csv's default 128 KB field limit are valid in an export.
csv.field_size_limit(max(csv.field_size_limit(), 256 * 1024 * 1024))
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")


def escape_value(value: object) -> bytes:
    if value is None:
        return b""
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    if isinstance(value, int | float):
        return repr(value).encode()
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.").encode() + (
            f"{moment.microsecond // 1000:03d}Z".encode()
        )
    text = str(value).replace('"', '""')
    return b"\"'" + text.encode() + b'"'


def auth0_cell(value: object, *, date: bool = False) -> bytes:
    if type(value) is str:
        if date:
            return value.encode()
        return b"\"'" + value.replace('"', '""').encode() + b'"'
    if isinstance(value, list | dict):
        return b"\"'" + _json_text(value).replace('"', '""').encode() + b'"'
    return escape_value(value)


def format_row(values: Iterable[object]) -> bytes:
    return b",".join(escape_value(value) for value in values) + b"\n"


def format_header(titles: Iterable[str]) -> bytes:
    cells = []
    for title in titles:
        if any(char in title for char in ',"\r\n'):
            cells.append(b'"' + title.replace('"', '""').encode() + b'"')
        else:
            cells.append(title.encode())
    return b",".join(cells) + b"\n"


def unescape_cell(cell: str) -> str:
    return cell[1:] if cell.startswith("'") else cell


def unescape_raw_cell(raw: bytes) -> str:
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        raw = raw[1:-1].replace(b'""', b'"')
        if raw.startswith(b"'"):
            raw = raw[1:]
    return raw.decode("utf-8", errors="replace")


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def structured(text: str) -> object:
    """The array or object whose compact JSON text ``text`` is, exactly; else ``text``."""
    if not text.startswith(("[", "{")):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, list | dict) and _json_text(value) == text else text


def typed_value(cell: str) -> object:
    if cell == "":
        return None
    if cell.startswith("'"):
        return structured(cell[1:])
    if cell == "true":
        return True
    if cell == "false":
        return False
    if _INTEGER.match(cell):
        return int(cell)
    if _NUMBER.match(cell):
        return float(cell)
    return cell


def read_records(text_lines: Iterable[str]) -> Iterator[list[str]]:
    return csv.reader(text_lines, strict=False)


def record_boundary(buf: bytes) -> int:
    """Offset just after the last newline of ``buf`` that lies outside quotes (0 if none)."""
    cut = buf.rfind(b"\n") + 1
    if cut == 0:
        return 0
    quotes = buf.count(b'"', 0, cut)
    while quotes & 1:
        previous = buf.rfind(b"\n", 0, cut - 1) + 1
        if previous == 0:
            return 0
        quotes -= buf.count(b'"', previous, cut)
        cut = previous
    return cut


def record_end(buf: bytes, start: int) -> int:
    """Index of the newline ending the record that starts at ``start``; -1 if it is cut off."""
    end = buf.find(b"\n", start)
    if end < 0:
        return -1
    quotes = buf.count(b'"', start, end)
    while quotes & 1:
        following = buf.find(b"\n", end + 1)
        if following < 0:
            return -1
        quotes += buf.count(b'"', end, following)
        end = following
    return end
