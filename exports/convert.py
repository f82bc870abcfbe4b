"""Streaming download variants of a stored export: plain bytes, a JSON array, a zip of JSON parts.

Every function takes the path of a stored ``.gz`` (as written by :func:`exports.ingest.ingest`,
so already verified) and returns an iterator of ``bytes`` chunks for a ``StreamingHttpResponse``.
Memory stays bounded (a few MB) whatever the file's size; nothing is written to disk.

Interface::

    uncompressed(path) -> Iterator[bytes]
        The CSV or NDJSON bytes exactly as Auth0 wrote them, gunzipped.

    json_array(path, *, fmt="ndjson") -> Iterator[bytes]
        Import-ready JSON: one JSON array of user objects (Auth0's users-imports format).
        NDJSON: the lines are spliced into ``[line,line,...]`` byte for byte, no re-encoding
        (the file must have passed ingest: no blank lines).
        CSV: each row becomes an object keyed by the header titles (see ``csv_objects``).

    json_parts_zip(path, *, fmt="ndjson", max_part_bytes=500_000, stem="users") -> Iterator[bytes]
        A zip (streamed, data descriptors, ZIP64 when needed) of ``users-0001.json``,
        ``users-0002.json``... each a JSON array of at most ``max_part_bytes`` bytes (Auth0's
        import limit is 500 KB). A single user larger than that gets a part of its own.

    csv_objects(path) -> Iterator[dict[str, object]]
        How a CSV export becomes import-ready JSON: Auth0's escaping is undone (the leading ``'``
        dropped, ``""`` read as ``"``); raw ``true``/``false`` become booleans, raw numbers
        numbers, dates stay strings, empty cells are left out. A dotted title such as
        ``user_metadata.plan`` nests (``{"user_metadata": {"plan": ...}}``) unless it clashes with
        another title; titles with ``[`` (``identities[0].connection``) stay flat.

    inflated(path, piece=PIECE) -> Iterator[bytes]
        The decompressed bytes in pieces of at most ``piece`` bytes, inflated ahead by a thread.

    prompt_thread_switches()
        A context manager lowering the interpreter's thread switch interval to 0.5 ms (restored
        on exit): a busy parsing thread never waits, so a thread returning from zlib or a socket
        would otherwise queue for the GIL for a whole default interval (5 ms) each time.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import queue
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Generator, Iterator
from typing import Any, Literal

import orjson

from exports.csvformat import read_records, typed_value

Format = Literal["csv", "ndjson"]

PIECE = 1024 * 1024
_READ = 256 * 1024
_PREFETCH = 4
_FAILED = object()


SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def prompt_thread_switches() -> Generator[None, None, None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def inflated(path: str | os.PathLike[str], piece: int = PIECE) -> Generator[bytes, None, None]:
    """Gunzip ``path`` on a helper thread (zlib releases the GIL) while the caller consumes."""
    pieces: queue.Queue[Any] = queue.Queue(_PREFETCH)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                pieces.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            with open(path, "rb") as source:
                inflater: Any = None
                while block := source.read(_READ):
                    data = block
                    while data:
                        if inflater is None:
                            data = data.lstrip(b"\0")
                            if not data:
                                break
                            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        out = inflater.decompress(data, piece)
                        if out and not put(out):
                            return
                        if inflater.eof:
                            data = inflater.unused_data
                            inflater = None
                        else:
                            data = inflater.unconsumed_tail
                if inflater is not None:
                    rest = inflater.flush()
                    if rest and not put(rest):
                        return
                    if not inflater.eof:
                        raise EOFError(f"{path}: the gzip stream ends early")
            put(None)
        except BaseException as exc:
            put((_FAILED, exc))

    worker = threading.Thread(target=work, name="export-inflate", daemon=True)
    worker.start()
    try:
        while True:
            item = pieces.get()
            if item is None:
                return
            if isinstance(item, tuple):
                raise item[1]
            yield item
    finally:
        stop.set()
        worker.join()


def uncompressed(path: str | os.PathLike[str]) -> Generator[bytes, None, None]:
    yield from inflated(path)


def _lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """Pieces of whole NDJSON lines, each piece ending with a newline."""
    carry = b""
    for piece in inflated(path):
        buf = carry + piece if carry else piece
        cut = buf.rfind(b"\n") + 1
        carry = buf[cut:]
        if cut:
            yield buf[:cut] if cut < len(buf) else buf
    if carry.strip():
        yield carry + b"\n"


def json_array(path: str | os.PathLike[str], *, fmt: str = "ndjson") -> Iterator[bytes]:
    if fmt == "csv":
        yield from _csv_json_array(path)
        return
    if fmt != "ndjson":
        raise ValueError(f"unknown export format {fmt!r}")
    # Every newline becomes a comma, wherever the pieces happen to split; only the newline that
    # ends the file must go, so each piece is held back until the next one arrives.
    yield b"["
    pending = b""
    for piece in inflated(path):
        if pending:
            yield pending
        pending = piece.replace(b"\n", b",")
    yield pending.rstrip(b",")
    yield b"]"


def _csv_json_array(path: str | os.PathLike[str]) -> Iterator[bytes]:
    yield b"["
    batch: list[bytes] = []
    first = True
    dumps = orjson.dumps
    for record in csv_objects(path):
        batch.append(dumps(record))
        if len(batch) == 2000:
            yield (b"" if first else b",") + b",".join(batch)
            first = False
            batch.clear()
    if batch:
        yield (b"" if first else b",") + b",".join(batch)
    yield b"]"


def csv_objects(path: str | os.PathLike[str]) -> Iterator[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
        records = read_records(text)
        header = next(records, None)
        if header is None:
            return
        titles = [title[1:] if title.startswith("'") else title for title in header]
        paths = _nesting(titles)
        for cells in records:
            if not cells:
                continue
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


def _nesting(titles: list[str]) -> list[list[str]]:
    nested = [
        title.split(".") if "." in title and "[" not in title else [title] for title in titles
    ]
    prefixes = {tuple(keys[:depth]) for keys in nested for depth in range(1, len(keys))}
    leaves = {tuple(keys) for keys in nested}
    if prefixes & leaves or len(leaves) != len(nested):
        return [[title] for title in titles]
    return nested


def _json_records(path: str | os.PathLike[str], fmt: str) -> Iterator[bytes]:
    if fmt == "csv":
        dumps = orjson.dumps
        for record in csv_objects(path):
            yield dumps(record)
        return
    for block in _lines(path):
        for line in block.split(b"\n"):
            line = line.strip()
            if line:
                yield line


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


def json_parts_zip(
    path: str | os.PathLike[str],
    *,
    fmt: str = "ndjson",
    max_part_bytes: int = 500_000,
    stem: str = "users",
) -> Iterator[bytes]:
    sink = _Sink()
    stamp = time.gmtime()[:6]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3) as archive:
        number = 0

        def add(records: list[bytes]) -> bytes:
            nonlocal number
            number += 1
            info = zipfile.ZipInfo(f"{stem}-{number:04d}.json", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, b"[" + b",".join(records) + b"]")
            return sink.take()

        part: list[bytes] = []
        size = 2
        budget = max_part_bytes
        for record in _json_records(path, fmt):
            extra = len(record) + (1 if part else 0)
            if part and size + extra > budget:
                yield add(part)
                part = []
                size = 2
                extra = len(record)
            part.append(record)
            size += extra
        if part or number == 0:
            yield add(part)
    yield sink.take()
