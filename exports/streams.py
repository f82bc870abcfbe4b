"""The byte-level data path of every export: file objects in, file objects out.

Ingest, convert, derive, preview (and exact exports) are built from these few pieces, all in
the calling thread and in bounded memory, whatever the file's size:

    coalesce(chunks, size=READ) -> Iterator[bytes]
        Small chunks (a socket's) joined into about ``size`` bytes each.

    chunks(source, size=READ) -> Iterator[bytes]
        The bytes of a readable binary file object (a local file, an S3 object from
        ``storages["exports"].open``, an ``io.BytesIO``), ``size`` at a time. Nothing is copied
        to disk first, so an S3 file streams and a preview stops reading when it has enough.

    inflate(compressed, piece=PIECE) -> Iterator[bytes]
        Gunzip an iterable of compressed chunks: every member of a multi-member gzip in turn,
        zero padding after the last tolerated (as gzip(1) does), CRC-32 and length of each
        member checked. Yields pieces of at most ``piece`` bytes. A damaged, truncated or empty
        stream raises :class:`GzipDamaged`.

    records(pieces, *, quoted) -> Iterator[bytes]
        Regroup inflated pieces into blocks of whole records, each block ending with a newline:
        on newlines (NDJSON), or with ``quoted`` on newlines outside quoted values (CSV: Auth0
        writes newlines inside values). A last record without its newline gets one.

    head(source, *, max_bytes, newlines) -> (bytes, more)
        The first inflated bytes of a gzip file object, up to ``newlines`` newlines or
        ``max_bytes``, and whether more follows: for a preview that reads only what it shows.

    GzipWriter(target, level=3)
        A writable that deflates into the binary file object ``target`` while counting both
        sizes and hashing the compressed bytes (``.write(data)``, ``.close() -> sha256 hex``).

    Hashing(target)
        A pass-through writer that counts and hashes what it writes (``.write``, ``.sha256``).

Inflation and deflation use ISA-L (``isal``), a zlib-compatible codec that is two to three
times faster than zlib, which keeps a whole ingest in one thread at the speed of
``curl | gzip -dc``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from isal import isal_zlib

from exports.csvformat import record_boundary

READ = 1024 * 1024
PIECE = 4 * 1024 * 1024
_GZIP_WBITS = 16 + isal_zlib.MAX_WBITS
_CODEC_ERROR: type[Exception] = cast("type[Exception]", isal_zlib.error)


class GzipDamaged(Exception):
    """The bytes are not a whole gzip stream; ``reason`` says why in plain words, ``detail``
    holds the decompressor's own message (for the log), if any."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def chunks(source: BinaryIO, size: int = READ) -> Iterator[bytes]:
    while block := source.read(size):
        yield block


class Inflation:
    """``inflate`` as an iterable that also counts the gzip members it has read."""

    def __init__(self, compressed: Iterable[bytes], piece: int = PIECE) -> None:
        self._compressed = compressed
        self._piece = piece
        self.members = 0

    def __iter__(self) -> Iterator[bytes]:
        inflater: Any = None
        piece = self._piece
        try:
            for chunk in self._compressed:
                data = chunk
                while data:
                    if inflater is None:
                        if self.members:
                            data = data.lstrip(b"\0")
                            if not data:
                                break
                        inflater = isal_zlib.decompressobj(_GZIP_WBITS)
                    out = inflater.decompress(data, piece)
                    if out:
                        yield out
                    if inflater.eof:
                        self.members += 1
                        data = inflater.unused_data
                        inflater = None
                    else:
                        data = inflater.unconsumed_tail
            if inflater is not None:
                rest = inflater.flush()
                if rest:
                    yield rest
                if not inflater.eof:
                    raise GzipDamaged("the gzip stream ends early: the file was cut short")
                self.members += 1
        except _CODEC_ERROR as exc:
            if self.members:
                raise GzipDamaged("unexpected bytes after the end of the gzip data") from None
            raise GzipDamaged(
                "the file is not gzip data, or its compressed bytes are damaged", detail=str(exc)
            ) from None
        if self.members == 0:
            raise GzipDamaged("the file holds no gzip data")


def coalesce(chunks: Iterable[bytes], size: int = READ) -> Iterator[bytes]:
    """Join small chunks (a socket gives ~64 KB at a time) into about ``size`` bytes."""
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        if chunk:
            pending.append(chunk)
            held += len(chunk)
            if held >= size:
                yield pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                held = 0
    if pending:
        yield b"".join(pending)


def inflate(compressed: Iterable[bytes], piece: int = PIECE) -> Iterator[bytes]:
    return iter(Inflation(compressed, piece))


def records(pieces: Iterable[bytes], *, quoted: bool) -> Iterator[bytes]:
    carry = b""
    for piece in pieces:
        buf = carry + piece if carry else piece
        cut = record_boundary(buf) if quoted else buf.rfind(b"\n") + 1
        if cut:
            yield buf if cut == len(buf) else buf[:cut]
        carry = buf[cut:]
    if carry:
        yield carry + b"\n"


def head(source: BinaryIO, *, max_bytes: int, newlines: int) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = seen = 0
    pieces = inflate(chunks(source, 64 * 1024), piece=64 * 1024)
    for part in pieces:
        if size >= max_bytes or seen > newlines:
            return b"".join(parts)[:max_bytes], True
        parts.append(part)
        size += len(part)
        seen += part.count(b"\n")
    data = b"".join(parts)
    return data[:max_bytes], len(data) > max_bytes


class Hashing:
    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._target.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class GzipWriter:
    def __init__(self, target: BinaryIO, level: int = 3) -> None:
        self._out = Hashing(target)
        self._deflater = isal_zlib.compressobj(level, isal_zlib.DEFLATED, _GZIP_WBITS)
        self.uncompressed = 0

    @property
    def compressed(self) -> int:
        return self._out.size

    def write(self, data: bytes) -> None:
        if data:
            self.uncompressed += len(data)
            block = self._deflater.compress(data)
            if block:
                self._out.write(block)

    def close(self) -> str:
        self._out.write(self._deflater.flush())
        return self._out.sha256
