"""Store a downloaded Auth0 export and verify every byte of it, in bounded memory.

Interface::

    ingest(chunks, dest, *, verifier, require_rows=False) -> IngestResult
    CsvVerifier(expected_columns, limit), NdjsonVerifier(expected_columns, limit)

Call it through the export's format (exports.formats: ``fmt.ingest(chunks, dest,
expected_columns=..., limit=...)``), which picks the verifier.

- ``chunks``: any iterable of ``bytes`` (e.g. ``response.iter_bytes()`` of the streaming httpx
  response from ``management_api.download(url)``). Errors raised while iterating (timeouts,
  broken connections) propagate unchanged, so the caller can fetch a fresh link and retry.
- ``dest``: a path (opened ``wb``, truncated) or a writable binary file object. The *compressed*
  bytes are written exactly as received: the stored ``.gz`` is the file Auth0 served.
- ``verifier``: the format's reader (``CsvVerifier`` or ``NdjsonVerifier``), made with these two:
- ``expected_columns``: the column titles requested, in order (``export_as`` else the field
  name). CSV: the header row must equal it exactly (Auth0's leading ``'`` tolerated). NDJSON: every
  key must be a requested title, or the first segment of a requested dotted or indexed path
  (``user_metadata`` for ``user_metadata.plan``), checked on every line. ``None`` skips this
  check.
- ``limit``: the job's limit; more rows than that is an error (found as soon as it happens).
- ``require_rows``: a file with a header and no rows is then an error.

Returns :class:`IngestResult` (rows, compressed and uncompressed sizes, SHA-256 of the stored
``.gz``, the header and ``checks``: a JSON-ready ``{name: description}`` of what was verified).

Raises :class:`VerificationError` with a human ``reason`` and a ``kind``: ``"transfer"`` when the
bytes themselves are bad (empty, corrupt or truncated gzip: a fresh download may fix it) or
``"content"`` when the file is whole but wrong (a row that does not parse, a header mismatch, too
many rows, no rows, a NDJSON line that is not an object, a CSV row with a wrong number of cells).
The caller deletes ``dest`` on error; nothing here publishes anything.

How it is fast: one thread, no hand-offs. The compressed stream is written and hashed as it
arrives and inflated with ISA-L by :mod:`exports.streams`; records are checked in ~4 MB blocks.
CSV records are checked without a per-row Python loop: deleting every byte but ``,`` ``"`` and
newline and then every ``""`` pair leaves, for a block whose quoted values hold no comma or
newline, exactly ``,,,…\\n`` per row, so one bytes comparison proves every row's cell count and
record boundary. Blocks that fail that test are bisected and the few odd records are parsed with
:mod:`csv`, so rows with commas or newlines inside quoted values are still verified exactly, only
slower. NDJSON is split into lines and msgspec reads each as one JSON object (a Struct: with
the requested columns one field per allowed key, unknown keys refused; values kept raw), which
checks the syntax of every value without building Python objects and refuses anything after the
object; a block that fails is read again line by line, with orjson, to name the line. UTF-8 is
checked on the non-ASCII bytes only, carried across pieces. Memory stays flat whatever the
file's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

import msgspec
import orjson

from exports import streams
from exports.csvformat import NOT_STRUCTURE, record_boundary, record_end, unescape_cell

MAX_RECORD = 64 * 1024 * 1024
_MANY_ODD_ROWS = 32
_BLOCK = 64 * 1024


_ASCII = bytes(range(128))


class VerificationError(Exception):
    """The downloaded file is not a whole, valid export; ``reason`` says why in plain words,
    ``detail`` is the parser's own message when there is one (for the log and the timeline's
    secondary line, not the headline)."""

    def __init__(
        self,
        reason: str,
        kind: Literal["transfer", "content"] = "content",
        detail: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.detail = detail


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


class Verifier(Protocol):
    rows: int
    header: list[str]
    limit: int | None

    def feed(self, piece: bytes) -> None: ...

    def finish(self) -> None: ...

    def checks(self) -> dict[str, str]: ...


def ingest(
    chunks: Iterable[bytes],
    dest: BinaryIO | str | os.PathLike[str],
    *,
    verifier: Verifier,
    require_rows: bool = False,
) -> IngestResult:
    started = time.perf_counter()
    limit = verifier.limit
    with _opened(dest) as out:
        stored = streams.Hashing(out)

        def kept(source: Iterable[bytes]) -> Iterator[bytes]:
            for chunk in source:
                if chunk:
                    stored.write(chunk)
                    yield chunk

        inflation = streams.Inflation(kept(streams.coalesce(chunks)))
        uncompressed = 0
        wrong: VerificationError | None = None
        try:
            for piece in inflation:
                uncompressed += len(piece)
                if wrong is None:
                    try:
                        verifier.feed(piece)
                    except VerificationError as exc:
                        # Damaged bytes may inflate to nonsense before the member's CRC-32 is
                        # reached: read on, so a broken transfer is reported as one.
                        wrong = exc
        except streams.GzipDamaged as exc:
            if stored.size == 0:
                raise VerificationError(
                    "the download is empty (0 bytes)", kind="transfer"
                ) from None
            raise VerificationError(exc.reason, kind="transfer", detail=exc.detail) from None
        out.flush()
    if wrong is not None:
        raise wrong
    verifier.finish()
    if require_rows and verifier.rows == 0:
        raise VerificationError("the file has no rows")
    checks = {
        "gzip": f"intact: {inflation.members} member(s), CRC-32 and length verified",
        **verifier.checks(),
        "sha256": stored.sha256,
    }
    if limit is not None:
        checks["limit"] = f"{verifier.rows:,} rows, within the limit of {limit:,}"
    return IngestResult(
        rows=verifier.rows,
        compressed_bytes=stored.size,
        uncompressed_bytes=uncompressed,
        sha256=stored.sha256,
        header=verifier.header,
        checks=checks,
        gzip_members=inflation.members,
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


class CsvVerifier:
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
            raise VerificationError(
                f"row {self.rows + 1} is not a well-formed CSV record (a quote or a separator "
                "is out of place), so its cells cannot be read",
                detail=f"csv: {exc}",
            ) from None
        cells = len(parsed[0]) if len(parsed) == 1 else -1
        if cells != self.width:
            found = "reads as more than one record" if cells < 0 else f"has {cells} cells"
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


class _AnyObject(msgspec.Struct, gc=False):
    """Decodes any JSON object (its keys are skipped, their values' syntax still checked)."""


_ANY_OBJECT = msgspec.json.Decoder(_AnyObject)


def _object_decoder(allowed: frozenset[str]) -> msgspec.json.Decoder[Any]:
    """A decoder of one JSON object whose keys are all in `allowed` (any of them may be
    missing): a Struct with one field per allowed key, forbidding unknown ones, its values
    kept as raw JSON (so nothing is built but the struct)."""
    names = sorted(allowed)
    row = msgspec.defstruct(
        "Line",
        [(f"k{index}", msgspec.Raw, None) for index in range(len(names))],
        rename={f"k{index}": name for index, name in enumerate(names)},
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(row)


class NdjsonVerifier:
    def __init__(self, expected: Sequence[str] | None, limit: int | None) -> None:
        self.limit = limit
        self.rows = 0
        self.header: list[str] = []
        self.allowed: frozenset[str] | None = None
        self._decode = _ANY_OBJECT.decode
        if expected is not None:
            allowed = set(expected)
            for name in expected:
                allowed.add(name.split(".", 1)[0].split("[", 1)[0])
            self.allowed = frozenset(allowed)
            self._decode = _object_decoder(self.allowed).decode
        self._carry = b""
        self._text = codecs.getincrementaldecoder("utf-8")()

    def feed(self, piece: bytes) -> None:
        # The non-ASCII bytes of UTF-8 are its whole multi-byte sequences: decoding only them
        # (carried across pieces, which cut anywhere) is far cheaper than the whole text.
        non_ascii = piece.translate(None, _ASCII)
        if non_ascii:
            try:
                self._text.decode(non_ascii)
            except UnicodeDecodeError:
                self._utf8_error(piece)
        lines = piece.split(b"\n")
        rest = lines.pop()  # after the last newline: a line the next piece continues
        if lines:
            if self._carry:
                lines[0] = self._carry + lines[0]
            self._carry = b""
            self._verify_block(lines)
        else:
            rest = self._carry + rest
        if len(rest) > MAX_RECORD:
            raise VerificationError(f"line {self.rows + 1} is longer than {MAX_RECORD // 2**20} MB")
        self._carry = rest

    def finish(self) -> None:
        try:
            self._text.decode(b"", final=True)
        except UnicodeDecodeError:
            self._utf8_error(b"")
        if self._carry:
            self._verify_lines([self._carry])
            self._carry = b""

    def checks(self) -> dict[str, str]:
        checks = {"rows": f"{self.rows:,} lines parsed, each exactly one JSON object"}
        if self.allowed is not None:
            checks["header"] = "every line's keys are requested fields"
        return checks

    def _verify_block(self, lines: list[bytes]) -> None:
        """Whole lines (without their newlines): the fast path, else line by line.

        msgspec reads each line as one JSON object: the syntax of every value is checked
        without building it, trailing bytes after the object are an error, and with the
        requested columns the object's keys must all be among them (one Struct field each)."""
        try:
            deque(map(self._decode, lines), 0)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            # (msgspec gives up on very deep nesting with a RecursionError; orjson names it.)
            self._verify_lines(lines)  # names the line (or, if orjson accepts it, counts it)
            return
        if not self.header:
            self.header = list(orjson.loads(lines[0]))
        self._count(len(lines))

    def _utf8_error(self, piece: bytes) -> None:
        lines = (self._carry + piece).split(b"\n")
        for offset, line in enumerate(lines):
            try:
                line.decode()
            except UnicodeDecodeError:
                row = self.rows + offset + 1
                raise VerificationError(f"line {row} is not valid UTF-8") from None
        raise VerificationError(f"the file is not valid UTF-8 after line {self.rows}")

    def _verify_lines(self, lines: list[bytes]) -> None:
        loads = orjson.loads
        allowed = self.allowed
        for offset, line in enumerate(lines):
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                number = self.rows + offset + 1
                if not line.strip():
                    raise VerificationError(f"line {number} is empty") from None
                raise VerificationError(
                    f"line {number} is not a complete JSON object (it is cut short, damaged, "
                    "nested too deeply or not JSON)",
                    detail=f"JSON: {exc}",
                ) from None
            if type(record) is not dict:
                raise VerificationError(f"line {self.rows + offset + 1} is not a JSON object")
            if allowed is not None and not record.keys() <= allowed:
                unknown = ", ".join(sorted(set(record) - allowed))
                raise VerificationError(
                    f"line {self.rows + offset + 1} has keys that were not requested: {unknown}"
                )
            if not self.header:
                self.header = list(record)
        self._count(len(lines))

    def _count(self, rows: int) -> None:
        self.rows += rows
        if self.limit is not None and self.rows > self.limit:
            raise VerificationError(
                f"the file has more rows than the export's limit of {self.limit:,}"
            )
