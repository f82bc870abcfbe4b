"""Exact search exports: keep the records of an Auth0 export file that a search query matches.

Interface::

    plan = plan_job(query_text, fields, fmt)   # what to ask Auth0 for (fmt: ExportFormat)
    plan.job_fields    # the chosen fields first, then the ones only the query reads
    plan.source_format # the output's format when it can carry every field the query reads
                       # (CSV: single values, within its field limit: then the kept cells are
                       # Auth0's own bytes), else NDJSON, which carries everything

    result = filter_file(source, target, plan=plan, progress=callback)
        # source: the gzip file Auth0 served (a binary file object); target: where the gzip
        # of the matching records goes, in ``plan.output_format`` with only the chosen fields.
        # progress(scanned, matched) is called after every block of about 4 MB.
    result.scanned, result.matched

The query is evaluated by :mod:`exports.matching` on every record, so the file holds exactly
the users the search matches at the time of Auth0's snapshot, however many there are. A CSV
written from a CSV source keeps Auth0's cells byte for byte; written from NDJSON it applies
Auth0's rules (exports.csvformat): strings OWASP-escaped, Auth0's dates raw, numbers and
booleans raw, a missing value empty. Bytes flow through exports.streams (inflate, record
blocks, deflate) block by block, so memory stays flat whatever the file's size.

CSV blocks whose values hold no comma or newline (nearly all) are split on commas without a
CSV parser (the structure check of exports.ingest proves they can be); the others are parsed
with :mod:`csv` and their cells written back exactly as Auth0 wrote them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgspec

from . import matching, streams
from .csvformat import NOT_STRUCTURE, format_header, record_end
from .formats import NDJSON, ExportFormat

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Plan:
    query: matching.Query
    fields: tuple[tuple[str, str], ...]  # chosen (name, title)
    job_fields: tuple[tuple[str, str], ...]  # chosen, then the query's own (name, name)
    output_format: ExportFormat
    source_format: ExportFormat

    def auth0_fields(self) -> list[dict[str, str]]:
        return [
            {"name": name, **({"export_as": title} if title != name else {})}
            for name, title in self.job_fields
        ]

    @property
    def job_titles(self) -> list[str]:
        return [title for _, title in self.job_fields]

    def column_of(self, name: str) -> int:
        """The job column the query reads ``name`` from (any title: the value is the same)."""
        return next(index for index, (field, _) in enumerate(self.job_fields) if field == name)


def plan_job(query_text: str, fields: Sequence[dict[str, str]], fmt: ExportFormat) -> Plan:
    """What to ask Auth0 for; ``matching.Unanswerable`` when the query cannot be answered, or
    ValueError when a chosen column title would hide a field the query reads."""
    query = matching.compile_query(query_text)
    chosen = tuple((item["name"], item.get("export_as") or item["name"]) for item in fields)
    titles = {title for _, title in chosen}
    names = {name for name, _ in chosen}
    extra: list[tuple[str, str]] = []
    for name in query.fields:
        if name in names:
            continue
        if name in titles:
            raise ValueError(
                f"A column is titled “{name}”, which is the field the query reads; "
                "give it another title."
            )
        extra.append((name, name))
    carries = fmt.fits(len(chosen) + len(extra)) and (fmt.holds_objects or query.scalar)
    return Plan(query, chosen, (*chosen, *extra), fmt, fmt if carries else NDJSON)


@dataclass(frozen=True)
class FilterResult:
    scanned: int
    matched: int


def filter_file(
    source: BinaryIO,
    target: BinaryIO,
    *,
    plan: Plan,
    progress: Progress | None = None,
) -> FilterResult:
    """Write the gzip of the matching records of ``source`` to ``target``."""
    writer = streams.GzipWriter(target)
    pieces = streams.inflate(streams.chunks(source))
    if plan.source_format is NDJSON:
        scanned, matched = _filter_ndjson(_ndjson_lines(pieces), writer, plan, progress)
    else:
        blocks = streams.records(pieces, quoted=True)
        scanned, matched = _filter_csv(blocks, writer, plan, progress)
    writer.close()
    return FilterResult(scanned, matched)


# --- NDJSON source ------------------------------------------------------------------------


def _ndjson_lines(pieces: Any) -> Any:
    """Lists of whole lines, a list per inflated piece (no piece is copied to be joined with
    the partial line before it: only that line is)."""
    carry = b""
    for piece in pieces:
        lines = piece.split(b"\n")
        if carry:
            lines[0] = carry + lines[0]
        carry = lines.pop()
        if lines:
            yield lines
    if carry:
        yield [carry]


def _filter_ndjson(
    blocks: Any, writer: streams.GzipWriter, plan: Plan, progress: Progress | None
) -> tuple[int, int]:
    # Only the fields the query reads are decoded, by msgspec, a whole block in one call (its
    # lines joined into one JSON array); a kept line is parsed whole only if it must be rewritten.
    # They are top-level keys (a metadata path is read from its root object), so the shape of
    # dotted keys (ndjsonkeys) matters only to the chosen columns written out.
    needed = list(dict.fromkeys(plan.job_fields[plan.column_of(n)][1] for n in plan.query.fields))
    record_type = msgspec.defstruct(
        "Record",
        [(f"f{i}", Any, msgspec.field(default=None, name=t)) for i, t in enumerate(needed)],
    )
    decoder = msgspec.json.Decoder(list[record_type])  # type: ignore[valid-type]
    attributes = matching.Attributes(
        {
            name: f"f{needed.index(plan.job_fields[plan.column_of(name)][1])}"
            for name in plan.query.fields
        }
    )
    match = plan.query.compile(attributes)
    output = plan.output_format
    emit = output.line_writer(plan.fields, whole=len(plan.job_fields) == len(plan.fields))
    writer.write(output.header([title for _, title in plan.fields]))
    scanned = matched = 0
    for lines in blocks:
        first, last = lines[0], lines[-1]
        # Brackets on the end lines, so the block is copied once, by the join.
        lines[0] = b"[" + first
        lines[-1] = (lines[-1] if len(lines) > 1 else lines[0]) + b"]"
        try:
            records = decoder.decode(b",".join(lines))
        except msgspec.DecodeError:
            records = []
        lines[0], lines[-1] = first, last
        if len(records) != len(lines):
            records = [_one_record(decoder, line, scanned + at) for at, line in enumerate(lines)]
        kept = [emit(line) for line, record in zip(lines, records, strict=True) if match(record)]
        scanned += len(lines)
        matched += len(kept)
        if kept:
            writer.write(b"".join(kept))
        if progress:
            progress(scanned, matched)
    return scanned, matched


def _one_record(decoder: Any, line: bytes, before: int) -> Any:
    try:
        return decoder.decode(b"[" + line + b"]")[0]
    except msgspec.DecodeError as exc:
        raise ValueError(
            f"user {before + 1} of Auth0's file is not one JSON object, so it cannot be "
            "matched (the file may be damaged)"
        ) from exc


# --- CSV source ---------------------------------------------------------------------------


def _raw_cell(cell: str) -> bytes:
    """A cell parsed by csv back to the bytes Auth0 wrote (strings always start with ')."""
    if cell.startswith("'"):
        return b'"' + cell.replace('"', '""').encode() + b'"'
    return cell.encode()


def _filter_csv(
    blocks: Any, writer: streams.GzipWriter, plan: Plan, progress: Progress | None
) -> tuple[int, int]:
    columns = matching.Cells({name: plan.column_of(name) for name in plan.query.fields})
    match = plan.query.compile(columns)
    width = len(plan.job_fields)
    keep = len(plan.fields)
    whole = keep == width
    simple = b"," * (width - 1)
    row_shape = simple + b"\n"
    writer.write(format_header([title for _, title in plan.fields]))
    scanned = matched = 0
    header_seen = False
    for block in blocks:
        if not header_seen:
            end = _first_record_end(block)
            block = block[end:]
            header_seen = True
            if not block:
                continue
        kept: list[bytes] = []
        lines = block.split(b"\n")
        lines.pop()
        # Each line's structure: its commas and quotes, `""` pairs (escaped quotes and whole
        # quoted values) removed. A simple line's is exactly width - 1 commas: no comma or
        # newline inside a value, so splitting on commas gives its cells.
        shape = block.translate(None, NOT_STRUCTURE).replace(b'""', b"")
        if shape == row_shape * len(lines):
            for line in lines:
                cells = line.split(b",")
                if match(cells):
                    kept.append(line + b"\n" if whole else b",".join(cells[:keep]) + b"\n")
            scanned += len(lines)
        else:
            shapes = shape.split(b"\n")
            at, end = 0, len(lines)
            while at < end:
                line = lines[at]
                if shapes[at] == simple:
                    cells = line.split(b",")
                else:
                    # Parsed with csv, joined with the next lines while a quote is open.
                    quotes = line.count(b'"')
                    while quotes & 1 and at + 1 < end:
                        at += 1
                        line += b"\n" + lines[at]
                        quotes += lines[at].count(b'"')
                    cells = _parsed_cells(line, scanned, width)
                at += 1
                scanned += 1
                if match(cells):
                    kept.append(b",".join(cells[:keep]) + b"\n")
        matched += len(kept)
        if kept:
            writer.write(b"".join(kept))
        if progress:
            progress(scanned, matched)
    return scanned, matched


def _parsed_cells(record: bytes, scanned: int, width: int) -> list[bytes]:
    parsed = next(csv.reader(io.StringIO(record.decode() + "\n", newline="")), [])
    if len(parsed) != width:
        raise ValueError(f"row {scanned + 1} has {len(parsed)} cells; the header has {width}")
    return [_raw_cell(cell) for cell in parsed]


def _first_record_end(block: bytes) -> int:
    end = record_end(block, 0)
    return len(block) if end < 0 else end + 1
