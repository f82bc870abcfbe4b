"""One file from the verified parts of a multi-connection export, the connection in each row.

Interface::

    combine(parts, target, *, fmt, titles, column) -> Combined(rows, part_rows, ...)

``parts``: (readable .gz of one part, the connection's name), in order; each part is a file
of ``fmt`` already verified (exports.ingest) with the columns ``titles``. ``target`` gets one
gzip stream: for CSV the header ``titles`` + ``column`` once, then every part's records with
one more cell, the connection's name written as Auth0 writes a string (``"'name"``); for NDJSON
every line with one more key, ``column``, last. The records are otherwise copied byte for byte.
``Combined.part_rows`` counts each part's records as they were copied, so the caller can hold
them against each part's verified count; the caller then verifies the whole file again.

Raises ``ValueError`` when a part's header is not ``titles`` or an NDJSON line is not an object
(a part that changed since it was verified)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import orjson

from exports import streams
from exports.csvformat import auth0_cell, format_header, record_end

from .formats import ExportFormat


@dataclass(frozen=True)
class Combined:
    rows: int
    part_rows: list[int]
    compressed_bytes: int
    uncompressed_bytes: int
    sha256: str
    seconds: float


def combine(
    parts: Sequence[tuple[BinaryIO, str]],
    target: BinaryIO,
    *,
    fmt: ExportFormat,
    titles: Sequence[str],
    column: str,
    compresslevel: int = 3,
) -> Combined:
    started = time.monotonic()
    writer = streams.GzipWriter(target, compresslevel)
    counts: list[int] = []
    if fmt.holds_objects:
        for source, name in parts:
            counts.append(_ndjson_part(source, writer, _ndjson_suffix(column, name)))
    else:
        writer.write(format_header([*titles, column]))
        header = format_header(titles)
        for source, name in parts:
            counts.append(_csv_part(source, writer, header, b"," + auth0_cell(name)))
    sha256 = writer.close()
    return Combined(
        rows=sum(counts),
        part_rows=counts,
        compressed_bytes=writer.compressed,
        uncompressed_bytes=writer.uncompressed,
        sha256=sha256,
        seconds=time.monotonic() - started,
    )


def _pieces(source: BinaryIO) -> Iterator[bytes]:
    source.seek(0)
    return streams.inflate(streams.chunks(source))


# --- CSV ------------------------------------------------------------------------------------


def _csv_part(source: BinaryIO, writer: streams.GzipWriter, header: bytes, cell: bytes) -> int:
    """Copy the records after the header, each with ``cell`` before its newline."""
    rows = 0
    first = True
    for block in streams.records(_pieces(source), quoted=True):
        start = 0
        if first:
            first = False
            end = record_end(block, 0)
            if block[: end + 1].replace(b"\r\n", b"\n") != header:
                raise ValueError("a part's header is not the export's columns")
            start = end + 1
        out: list[bytes] = []
        while start < len(block):
            end = record_end(block, start)
            if end < 0:  # records() yields whole records only
                raise ValueError("a part ends inside a record")
            stop = end - 1 if end > start and block[end - 1] == 0x0D else end
            out.append(block[start:stop])
            out.append(cell + b"\n")
            start = end + 1
            rows += 1
        writer.write(b"".join(out))
    if first:
        raise ValueError("a part has no header")
    return rows


# --- NDJSON ---------------------------------------------------------------------------------


def _ndjson_suffix(column: str, name: str) -> bytes:
    return b"," + orjson.dumps(column) + b":" + orjson.dumps(name) + b"}"


def _ndjson_part(source: BinaryIO, writer: streams.GzipWriter, suffix: bytes) -> int:
    """Copy each line with the connection as its last key (inside the object's final brace)."""
    rows = 0
    for block in streams.records(_pieces(source), quoted=False):
        lines = block.split(b"\n")
        lines.pop()  # after the last newline: nothing
        out: list[bytes] = []
        for line in lines:
            body = line.rstrip()
            if not body:
                continue
            if not (body.startswith(b"{") and body.endswith(b"}")):
                raise ValueError(f"line {rows + 1} of a part is not one JSON object")
            if body[1:-1].strip():
                out.append(body[:-1] + suffix)
            else:
                out.append(b"{" + suffix[1:])
            out.append(b"\n")
            rows += 1
        writer.write(b"".join(out))
    return rows
