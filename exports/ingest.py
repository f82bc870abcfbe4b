"""Store a downloaded Auth0 export and verify every byte of it, in bounded memory.

Interface::

    ingest(chunks, dest, *, fmt, expected_columns=None, limit=None, require_rows=False)
        -> IngestResult

- ``chunks``: any iterable of ``bytes`` (e.g. ``response.iter_bytes()`` of the streaming httpx
  response from ``management_api.download(url)``). Errors raised while iterating (timeouts,
  broken connections) propagate unchanged, so the caller can fetch a fresh link and retry.
- ``dest``: a path (opened ``wb``, truncated) or a writable binary file object. The *compressed*
  bytes are written exactly as received: the stored ``.gz`` is the file Auth0 served.
- ``fmt``: ``"csv"`` or ``"ndjson"`` (Auth0's ``json`` format is NDJSON).
- ``expected_columns``: the column titles requested, in order (``export_as`` else the field
  name). CSV: the header row must equal it exactly (Auth0's leading ``'`` tolerated). NDJSON: every
  key of every object must be a requested title, or the first segment of a requested dotted or
  indexed path (``user_metadata`` for ``user_metadata.plan``). ``None`` skips this check.
- ``limit``: the job's limit; more rows than that is an error (found as soon as it happens).
- ``require_rows``: a file with a header and no rows is then an error.

Returns :class:`IngestResult` (rows, compressed and uncompressed sizes, SHA-256 of the stored
``.gz``, the header and ``checks``: a JSON-ready ``{name: description}`` of what was verified).

Raises :class:`VerificationError` with a human ``reason`` and a ``kind``: ``"transfer"`` when the
bytes themselves are bad (empty, corrupt or truncated gzip: a fresh download may fix it) or
``"content"`` when the file is whole but wrong (a row that does not parse, a header mismatch, too
many rows, no rows, a NDJSON line that is not an object, a CSV row with a wrong number of cells).
The caller deletes ``dest`` on error; nothing here publishes anything.

How it is fast: the calling thread writes and hashes the compressed stream; a second thread inflates
it with zlib in ~1 MB pieces (zlib releases the GIL); a third verifies whole records. While it
runs, the interpreter's thread switch interval is lowered to 0.5 ms (and restored after), so the
two I/O-bound threads get the GIL back promptly from the busy verifier. CSV records
are checked without a per-row Python loop: deleting every byte but ``,`` ``"`` and newline and then
every ``""`` pair leaves, for a block whose quoted values hold no comma or newline, exactly
``,,,…\\n`` per row, so one bytes comparison proves every row's cell count and record boundary.
Blocks that fail that test are bisected and the few odd records are parsed with :mod:`csv`, so
rows with commas or newlines inside quoted values are still verified exactly, only slower. NDJSON
lines are parsed with orjson. Queues are bounded, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import queue
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

import orjson

from exports.convert import prompt_thread_switches
from exports.csvformat import NOT_STRUCTURE, record_boundary, record_end, unescape_cell

Format = Literal["csv", "ndjson"]

COMPRESSED_CHUNK = 256 * 1024
PIECE = 1024 * 1024
MAX_RECORD = 64 * 1024 * 1024
_MANY_ODD_ROWS = 32
_BLOCK = 64 * 1024
_QUEUE_DEPTH = 8
_END = None


class VerificationError(Exception):
    """The downloaded file is not a whole, valid export; ``reason`` says why in plain words."""

    def __init__(self, reason: str, kind: Literal["transfer", "content"] = "content") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


@dataclass(frozen=True)
class IngestResult:
    rows: int
    compressed_bytes: int
    uncompressed_bytes: int
    sha256: str
    header: list[str]
    checks: dict[str, str] = field(default_factory=dict)
    gzip_members: int = 1
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Verifier(Protocol):
    rows: int
    header: list[str]

    def feed(self, piece: bytes) -> None: ...

    def finish(self) -> None: ...

    def checks(self) -> dict[str, str]: ...


def ingest(
    chunks: Iterable[bytes],
    dest: BinaryIO | str | os.PathLike[str],
    *,
    fmt: str,
    expected_columns: Sequence[str] | None = None,
    limit: int | None = None,
    require_rows: bool = False,
) -> IngestResult:
    started = time.perf_counter()
    verifier: _Verifier
    if fmt == "csv":
        verifier = _CsvVerifier(expected_columns, limit)
    elif fmt == "ndjson":
        verifier = _NdjsonVerifier(expected_columns, limit)
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    pipeline = _Pipeline(verifier)
    hasher = hashlib.sha256()
    compressed = 0
    with prompt_thread_switches():
        try:
            with _opened(dest) as out:
                for chunk in _coalesced(chunks):
                    out.write(chunk)
                    hasher.update(chunk)
                    compressed += len(chunk)
                    pipeline.feed(chunk)
                out.flush()
            if compressed == 0:
                raise VerificationError("the download is empty (0 bytes)", kind="transfer")
            pipeline.finish()
        except BaseException:
            pipeline.abort()
            raise
    if require_rows and verifier.rows == 0:
        raise VerificationError("the file has no rows")
    checks = {
        "gzip": f"intact: {pipeline.members} member(s), CRC-32 and length verified",
        **verifier.checks(),
        "sha256": hasher.hexdigest(),
    }
    if limit is not None:
        checks["limit"] = f"{verifier.rows:,} rows, within the limit of {limit:,}"
    return IngestResult(
        rows=verifier.rows,
        compressed_bytes=compressed,
        uncompressed_bytes=pipeline.uncompressed,
        sha256=hasher.hexdigest(),
        header=verifier.header,
        checks=checks,
        gzip_members=pipeline.members,
        seconds=time.perf_counter() - started,
    )


class _opened:
    def __init__(self, dest: BinaryIO | str | os.PathLike[str]) -> None:
        self._owned = isinstance(dest, str | os.PathLike)
        self._file: BinaryIO = (
            open(dest, "wb")  # noqa: SIM115
            if isinstance(dest, str | os.PathLike)
            else dest
        )

    def __enter__(self) -> BinaryIO:
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self._file.close()


def _coalesced(chunks: Iterable[bytes]) -> Iterable[bytes]:
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        size += len(chunk)
        if size >= COMPRESSED_CHUNK:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            size = 0
    if pending:
        yield b"".join(pending)


class _Pipeline:
    """Inflate and verify on two threads behind bounded queues; errors surface in the caller."""

    def __init__(self, verifier: _Verifier) -> None:
        self.verifier = verifier
        self.members = 0
        self.uncompressed = 0
        self.error: BaseException | None = None
        self._compressed: queue.Queue[bytes | None] = queue.Queue(_QUEUE_DEPTH)
        self._pieces: queue.Queue[bytes | None] = queue.Queue(_QUEUE_DEPTH)
        self._inflater = threading.Thread(target=self._inflate, name="ingest-inflate", daemon=True)
        self._checker = threading.Thread(target=self._check, name="ingest-verify", daemon=True)
        self._inflater.start()
        self._checker.start()
        self._closed = False

    def feed(self, chunk: bytes) -> None:
        self._raise_if_failed()
        self._compressed.put(chunk)

    def finish(self) -> None:
        self._close()
        self._raise_if_failed()

    def abort(self) -> None:
        if self.error is None:
            self.error = VerificationError("ingest aborted", kind="transfer")
        self._close()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._compressed.put(_END)
            self._inflater.join()
            self._checker.join()

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def _inflate(self) -> None:
        inflater: Any = None
        ended = False
        try:
            for chunk in iter(self._compressed.get, _END):
                if self.error is not None:
                    continue
                data = chunk
                while data:
                    if inflater is None:
                        if self.members:
                            # gzip(1) tolerates zero padding after the last member; so do we.
                            data = data.lstrip(b"\0")
                            if not data:
                                break
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    piece = inflater.decompress(data, PIECE)
                    if piece:
                        self._emit(piece)
                    if inflater.eof:
                        self.members += 1
                        data = inflater.unused_data
                        inflater = None
                    else:
                        data = inflater.unconsumed_tail
            ended = True
            if self.error is None and inflater is not None:
                rest = inflater.flush()
                if rest:
                    self._emit(rest)
                if not inflater.eof:
                    raise VerificationError(
                        "the gzip stream ends early: the download was cut short", kind="transfer"
                    )
                self.members += 1
            if self.error is None and self.members == 0:
                raise VerificationError("the download holds no gzip data", kind="transfer")
        except zlib.error as exc:
            reason = (
                "unexpected bytes after the end of the gzip data"
                if self.members
                else f"the file is not valid gzip ({exc})"
            )
            self._fail(VerificationError(reason, kind="transfer"))
            if not ended:
                self._drain(self._compressed)
        except BaseException as exc:
            self._fail(exc)
            if not ended:
                self._drain(self._compressed)
        finally:
            self._pieces.put(_END)

    def _emit(self, piece: bytes) -> None:
        self.uncompressed += len(piece)
        self._pieces.put(piece)

    def _check(self) -> None:
        ended = False
        try:
            for piece in iter(self._pieces.get, _END):
                if self.error is None:
                    self.verifier.feed(piece)
            ended = True
            if self.error is None:
                self.verifier.finish()
        except BaseException as exc:
            self._fail(exc)
            if not ended:
                self._drain(self._pieces)

    @staticmethod
    def _drain(source: queue.Queue[bytes | None]) -> None:
        for _ in iter(source.get, _END):
            pass


class _CsvVerifier:
    def __init__(self, expected: Sequence[str] | None, limit: int | None) -> None:
        self.expected = list(expected) if expected is not None else None
        self.limit = limit
        self.rows = 0
        self.header: list[str] = []
        self.width = 0
        self._carry = b""
        self._row_shape = b""
        self._started = False
        self._slow_rows = 0

    def feed(self, piece: bytes) -> None:
        start = 0
        while start < len(piece):
            # Blocks keep a rare awkward record from slowing its neighbours; while a long
            # record is pending, the rest of the piece goes at once to save re-joining it.
            size = _BLOCK if len(self._carry) <= _BLOCK else len(piece)
            self._feed_block(piece[start : start + size])
            start += size

    def finish(self) -> None:
        if self._carry:
            if self._carry.count(b'"') & 1:
                raise VerificationError(f"row {self.rows + 1} ends inside a quoted value")
            self._feed_block(b"\n")
        if not self._started:
            raise VerificationError("the file is empty: no header row")

    def checks(self) -> dict[str, str]:
        shape = f"{self.rows:,} rows parsed, each with {self.width} cells"
        if self._slow_rows:
            shape += f" ({self._slow_rows:,} with commas, quotes or newlines inside values)"
        checks = {"rows": shape, "encoding": "UTF-8 throughout"}
        if self.expected is not None:
            checks["header"] = f"matches the {len(self.expected)} requested columns, in order"
        return checks

    def _feed_block(self, block: bytes) -> None:
        buf = self._carry + block if self._carry else block
        if not self._started:
            end = record_boundary(buf)
            if end == 0:
                self._keep(buf)
                return
            end = record_end(buf, 0)
            self._take_header(buf[: end + 1])
            buf = buf[end + 1 :]
        cut = buf.rfind(b"\n") + 1
        region = buf[:cut] if cut < len(buf) else buf
        if region:
            try:
                region.decode()
            except UnicodeDecodeError as exc:
                row = self.rows + region.count(b"\n", 0, exc.start) + 1
                raise VerificationError(f"row {row} is not valid UTF-8") from None
            cut = self._verify(region)
        self._keep(buf[cut:])

    def _keep(self, rest: bytes) -> None:
        if len(rest) > MAX_RECORD:
            raise VerificationError(
                f"row {self.rows + 1} runs past {MAX_RECORD // 2**20} MB: a quote is never closed"
            )
        self._carry = rest

    def _take_header(self, record: bytes) -> None:
        try:
            text = record.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise VerificationError("the header row is not valid UTF-8") from None
        cells = next(csv.reader(io.StringIO(text, newline="")), [])
        self.header = [unescape_cell(cell) for cell in cells]
        self.width = len(cells)
        if self.width == 0:
            raise VerificationError("the header row is empty")
        if self.expected is not None and self.header != self.expected:
            raise VerificationError(
                "the header does not match the requested fields: expected "
                f"{', '.join(self.expected)}; the file has {', '.join(self.header)}"
            )
        self._row_shape = b"," * (self.width - 1) + b"\n"
        self._started = True

    def _verify(self, region: bytes) -> int:
        """Verify the whole records in ``region``; return how many bytes they span."""
        shape = region.translate(None, NOT_STRUCTURE).replace(b'""', b"")
        row_shape = self._row_shape
        width = len(row_shape)
        rows, odd = divmod(len(shape), width)
        if not odd and shape == row_shape * rows:
            self._count(rows)
            return len(region)
        if shape.count(b'"') > _MANY_ODD_ROWS:
            return self._verify_lines(region, 0)
        # A few records hold a comma or newline inside quotes: each leaves a lone '"' in the
        # shape. Check the simple rows between them in the shape, and parse only those records.
        at_shape = at_region = 0
        while True:
            stray = shape.find(b'"', at_shape)
            stop = len(shape) if stray < 0 else shape.rfind(b"\n", at_shape, stray) + 1
            stop = max(stop, at_shape)
            simple, odd = divmod(stop - at_shape, width)
            if odd or shape[at_shape:stop] != row_shape * simple:
                return self._verify_lines(region, at_region)
            self._count(simple)
            if stray < 0:
                return len(region)
            for _ in range(simple):
                at_region = region.index(b"\n", at_region) + 1
            end = record_end(region, at_region)
            if end < 0:
                return at_region
            record = region[at_region:end]
            self._verify_record(record)
            at_region = end + 1
            at_shape = stop
            for _ in range(record.count(b"\n") + 1):
                at_shape = shape.index(b"\n", at_shape) + 1

    def _verify_lines(self, region: bytes, start: int) -> int:
        simple = self._row_shape[:-1]
        at = start
        end = len(region)
        while at < end:
            stop = region.index(b"\n", at)
            line = region[at:stop]
            if line.translate(None, NOT_STRUCTURE).replace(b'""', b"") == simple:
                self._count(1)
                at = stop + 1
                continue
            if line.count(b'"') & 1:
                stop = record_end(region, at)
                if stop < 0:
                    return at
            self._verify_record(region[at:stop])
            at = stop + 1
        return end

    def _verify_record(self, record: bytes) -> None:
        if not record.strip(b"\r") and self.width > 1:
            return
        try:
            parsed = list(csv.reader(io.StringIO(record.decode() + "\n", newline="")))
        except csv.Error as exc:
            raise VerificationError(f"row {self.rows + 1} does not parse ({exc})") from None
        cells = len(parsed[0]) if len(parsed) == 1 else -1
        if cells != self.width:
            found = "does not parse as one record" if cells < 0 else f"has {cells} cells"
            raise VerificationError(
                f"row {self.rows + 1} {found}; the header has {self.width} columns"
            )
        self._slow_rows += 1
        self._count(1)

    def _count(self, rows: int) -> None:
        self.rows += rows
        if self.limit is not None and self.rows > self.limit:
            raise VerificationError(
                f"the file has more rows than the export's limit of {self.limit:,}"
            )


class _NdjsonVerifier:
    def __init__(self, expected: Sequence[str] | None, limit: int | None) -> None:
        self.limit = limit
        self.rows = 0
        self.header: list[str] = []
        self.allowed: set[str] | None = None
        if expected is not None:
            self.allowed = set(expected)
            for name in expected:
                self.allowed.add(name.split(".", 1)[0].split("[", 1)[0])
        self._carry = b""

    def feed(self, piece: bytes) -> None:
        buf = self._carry + piece if self._carry else piece
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) > MAX_RECORD:
                raise VerificationError(
                    f"line {self.rows + 1} is longer than {MAX_RECORD // 2**20} MB"
                )
            self._carry = buf
            return
        self._carry = buf[cut:]
        lines = buf[:cut].split(b"\n")
        lines.pop()
        self._verify(lines)

    def finish(self) -> None:
        if self._carry:
            self._verify([self._carry])
            self._carry = b""

    def checks(self) -> dict[str, str]:
        checks = {"rows": f"{self.rows:,} lines parsed, each a JSON object"}
        if self.allowed is not None:
            checks["header"] = "every key is a requested field"
        return checks

    def _verify(self, lines: list[bytes]) -> None:
        loads = orjson.loads
        allowed = self.allowed
        for offset, line in enumerate(lines):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                what = "is empty" if not line.strip() else f"is not valid JSON ({exc})"
                raise VerificationError(f"line {self.rows + offset + 1} {what}") from None
            if type(record) is not dict:
                raise VerificationError(f"line {self.rows + offset + 1} is not a JSON object")
            if allowed is not None and not record.keys() <= allowed:
                unknown = ", ".join(sorted(set(record) - allowed))
                raise VerificationError(
                    f"line {self.rows + offset + 1} has keys that were not requested: {unknown}"
                )
            if not self.header:
                self.header = list(record)
        self.rows += len(lines)
        if self.limit is not None and self.rows > self.limit:
            raise VerificationError(
                f"the file has more rows than the export's limit of {self.limit:,}"
            )
