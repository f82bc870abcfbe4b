"""Streaming download variants of a stored export: plain bytes, a JSON array, a streamed zip.

Every function takes a readable binary file object holding a stored ``.gz`` (as written by
:func:`exports.ingest.ingest`, so already verified: ``storages["exports"].open(name)``, local or
S3) and returns an iterator of ``bytes`` chunks for a ``StreamingHttpResponse``. Memory stays
bounded (a few MB) whatever the file's size; nothing is written to disk.

Interface::

    uncompressed(source) -> Iterator[bytes]
        The CSV or NDJSON bytes exactly as Auth0 wrote them, gunzipped.

    ndjson_json_array(source), csv_json_array(source) -> Iterator[bytes]
        The rows as one JSON array, keys as exported (the column titles). Not Auth0's import
        format: exports.importformat makes that.
        NDJSON: the lines are spliced into ``[line,line,...]`` byte for byte, no re-encoding
        (the file must have passed ingest: no blank lines).
        CSV: each row becomes an object keyed by the header titles (see ``csv_objects``).

    ndjson_rows(source), csv_rows(source) -> Iterator[dict[str, object]]
        Each row as a JSON object (CSV: ``csv_objects`` without the nesting of dotted titles).

    ndjson_line_writer(fields, *, whole), csv_line_writer(fields, *, whole)
        -> Callable[[bytes], bytes]
        A writer of one record of the format from an NDJSON line of Auth0's (without its
        newline), holding the ``fields`` ((name, title) pairs, in order) chosen: NDJSON keeps
        those keys (the line as it is when it holds just them: ``whole``); CSV writes each
        value as Auth0 would (exports.csvformat). ``no_header`` and ``format_header`` start
        a file.

Call them through the export's format (exports.formats: ``fmt.json_array(source)``,
``fmt.rows(source)``, ``fmt.line_writer(fields, whole=...)``, ``fmt.header(titles)``).

    zip_entries(entries) -> Iterator[bytes]
        A zip of ``(name, data)`` entries, streamed one entry at a time.

    csv_titles_and_cells(source) -> Iterator[tuple[list[str], list[str]]]
        A CSV export's header titles (Auth0's ``'`` dropped) beside each record's raw cells.

    csv_objects(source) -> Iterator[dict[str, object]]
        How a CSV export's rows become JSON objects: Auth0's escaping is undone (the leading ``'``
        dropped, ``""`` read as ``"``); raw ``true``/``false`` become booleans, raw numbers
        numbers, dates stay strings, empty cells are left out; a string cell holding exactly the
        compact JSON text of an array or object is that array or object
        (``csvformat.typed_value``). A dotted title such as
        ``user_metadata.plan`` nests (``{"user_metadata": {"plan": ...}}``) unless it clashes with
        another title; titles with ``[`` (``identities[0].connection``) stay flat.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import orjson

from exports import ndjsonkeys, streams
from exports.csvformat import AUTH0_DATE_FIELDS, auth0_cell, read_records, typed_value


def uncompressed(source: BinaryIO) -> Iterator[bytes]:
    return streams.inflate(streams.chunks(source), piece=streams.READ)


def ndjson_json_array(source: BinaryIO) -> Iterator[bytes]:
    # Every newline becomes a comma, wherever the pieces happen to split; only the newline that
    # ends the file must go, so each piece is held back until the next one arrives.
    yield b"["
    pending = b""
    for piece in uncompressed(source):
        if pending:
            yield pending
        pending = piece.replace(b"\n", b",")
    yield pending.rstrip(b",")
    yield b"]"


def csv_json_array(source: BinaryIO) -> Iterator[bytes]:
    yield b"["
    batch: list[bytes] = []
    first = True
    dumps = orjson.dumps
    for record in csv_objects(source):
        batch.append(dumps(record))
        if len(batch) == 2000:
            yield (b"" if first else b",") + b",".join(batch)
            first = False
            batch.clear()
    if batch:
        yield (b"" if first else b",") + b",".join(batch)
    yield b"]"


def csv_titles_and_cells(source: BinaryIO) -> Iterator[tuple[list[str], list[str]]]:
    """The header's titles (Auth0's leading ``'`` dropped) with each non-empty record's cells."""
    with io.TextIOWrapper(
        io.BufferedReader(_Inflated(source)), encoding="utf-8-sig", newline=""
    ) as text:
        records = read_records(text)
        header = next(records, None)
        if header is None:
            return
        titles = [title[1:] if title.startswith("'") else title for title in header]
        for cells in records:
            if cells:
                yield titles, cells


def csv_objects(source: BinaryIO) -> Iterator[dict[str, object]]:
    paths: list[list[str]] | None = None
    for titles, cells in csv_titles_and_cells(source):
        if paths is None:
            paths = _nesting(titles)
        record: dict[str, Any] = {}
        for keys, cell in zip(paths, cells, strict=False):
            value = typed_value(cell)
            if value is None:
                continue
            target = record
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = value
        yield record


def ndjson_rows(source: BinaryIO) -> Iterator[dict[str, Any]]:
    loads = orjson.loads
    for block in streams.records(uncompressed(source), quoted=False):
        for line in block.split(b"\n"):
            if line.strip():
                yield loads(line)


def csv_rows(source: BinaryIO) -> Iterator[dict[str, Any]]:
    for titles, cells in csv_titles_and_cells(source):
        yield {
            title: value
            for title, cell in zip(titles, cells, strict=False)
            if (value := typed_value(cell)) is not None
        }


def no_header(titles: Sequence[str]) -> bytes:
    return b""


def ndjson_line_writer(
    fields: Sequence[tuple[str, str]], *, whole: bool
) -> Callable[[bytes], bytes]:
    if whole:
        # Auth0's own line: nothing to drop.
        return lambda line: line + b"\n"
    keep = [title for _, title in fields]
    dumps = orjson.dumps
    loads = orjson.loads

    def write(line: bytes) -> bytes:
        return dumps(ndjsonkeys.pick(loads(line), keep)) + b"\n"

    return write


def csv_line_writer(fields: Sequence[tuple[str, str]], *, whole: bool) -> Callable[[bytes], bytes]:
    columns = [(title, name in AUTH0_DATE_FIELDS) for name, title in fields]
    loads = orjson.loads
    value_at = ndjsonkeys.value_at

    def write(line: bytes) -> bytes:
        record = loads(line)
        return (
            b",".join([auth0_cell(value_at(record, title), date=date) for title, date in columns])
            + b"\n"
        )

    return write


def _nesting(titles: list[str]) -> list[list[str]]:
    nested = [
        title.split(".") if "." in title and "[" not in title else [title] for title in titles
    ]
    prefixes = {tuple(keys[:depth]) for keys in nested for depth in range(1, len(keys))}
    leaves = {tuple(keys) for keys in nested}
    if prefixes & leaves or len(leaves) != len(nested):
        return [[title] for title in titles]
    return nested


class _Inflated(io.RawIOBase):
    """The inflated bytes of a gzip file object as a readable raw stream (for TextIOWrapper)."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._pieces = uncompressed(source)
        self._rest = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._rest:
            self._rest = memoryview(next(self._pieces, b""))
        size = min(len(buffer), len(self._rest))
        buffer[:size] = self._rest[:size]
        self._rest = self._rest[size:]
        return size


class _Sink(io.RawIOBase):
    """A write-only, unseekable file: zipfile then writes data descriptors, and we drain it."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_entries(entries: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """A zip of (name, data) entries, streamed: each entry's compressed bytes are yielded as soon
    as it is written (data descriptors, ZIP64 when needed), so only one entry is held at a time."""
    sink = _Sink()
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            yield sink.take()
    yield sink.take()
