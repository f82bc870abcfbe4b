"""Export formats: everything that differs between CSV and NDJSON, declared once per format.

Readers and writers never compare format names: they ask the export's format
(``Export.export_format``, ``ExportSpec.export_format``, or :func:`get` for a stored name) for
its labels, extension and content type, the name Auth0 gives it, its field rules, and the
functions that verify, preview, filter and convert its files. The builder's JavaScript reads
the same rules from the page (:func:`page_rules`, rendered with ``json_script``).

Adding a format is one more :class:`ExportFormat` in ``FORMATS`` with its readers (a
verifier for exports.ingest, a previewer, a row filter for exports.derive, a JSON array and
rows, header and line writer for exports.convert), and its tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from .convert import (
    csv_json_array,
    csv_line_writer,
    csv_rows,
    ndjson_json_array,
    ndjson_line_writer,
    ndjson_rows,
    no_header,
)
from .csvformat import format_header
from .derive import Condition, DeriveResult, RowFilter, csv_rows_kept, ndjson_rows_kept
from .derive import derive as derive_file
from .fields import OBJECT_FIELDS, OBJECT_PATH_PATTERN, is_whole_object, leaf_example
from .ingest import CsvVerifier, IngestResult, NdjsonVerifier, Verifier
from .ingest import ingest as ingest_file
from .preview import Preview, csv_preview, ndjson_preview


class LineWriters(Protocol):
    """Makes a writer of one record from an NDJSON line, keeping the (name, title) fields;
    ``whole``: the line holds just those."""

    def __call__(
        self, fields: Sequence[tuple[str, str]], *, whole: bool
    ) -> Callable[[bytes], bytes]: ...


@dataclass(frozen=True)
class ExportFormat:
    name: str  # stored on the export, and the builder's choice value
    label: str  # short, for buttons and messages
    choice_label: str  # the builder's choice
    extension: str
    content_type: str  # of the uncompressed file
    auth0_name: str  # the "format" of Auth0's export job
    max_fields: int | None  # Auth0's limit on an export's fields, if any
    holds_objects: bool  # whole objects and arrays (metadata, identities) as values
    verifier: Callable[[Sequence[str] | None, int | None], Verifier]
    previewer: Callable[[BinaryIO, int, int, Sequence[str] | None], Preview]
    row_filter: RowFilter
    json_array: Callable[[BinaryIO], Iterator[bytes]]  # the rows as one JSON array
    rows: Callable[[BinaryIO], Iterator[dict[str, Any]]]  # each row as a JSON object
    header: Callable[[Sequence[str]], bytes]  # what a file written from titles starts with
    line_writer: LineWriters  # a record of this format from an NDJSON line

    def ingest(
        self,
        chunks: Iterable[bytes],
        dest: BinaryIO | str | os.PathLike[str],
        *,
        expected_columns: Sequence[str] | None = None,
        limit: int | None = None,
        require_rows: bool = False,
    ) -> IngestResult:
        """Store and verify a downloaded file of this format (exports.ingest)."""
        verifier = self.verifier(expected_columns, limit)
        return ingest_file(chunks, dest, verifier=verifier, require_rows=require_rows)

    def preview(
        self,
        source: BinaryIO,
        *,
        rows: int = 50,
        max_bytes: int = 8_000_000,
        columns: Sequence[str] | None = None,
    ) -> Preview:
        """The first rows of a kept file (exports.preview)."""
        return self.previewer(source, rows, max_bytes, columns)

    def derive(
        self,
        source: BinaryIO,
        target: BinaryIO,
        *,
        columns: Sequence[str],
        conditions: Sequence[Condition],
        compresslevel: int = 3,
    ) -> DeriveResult:
        """The rows of a kept file that meet every condition (exports.derive)."""
        return derive_file(
            source,
            target,
            row_filter=self.row_filter,
            columns=columns,
            conditions=conditions,
            compresslevel=compresslevel,
        )

    def fits(self, fields: int) -> bool:
        return self.max_fields is None or fields <= self.max_fields

    def too_many_fields(self, fields: int) -> str | None:
        """Why ``fields`` fields are too many for this format, or None."""
        if self.max_fields is None or self.fits(fields):
            return None
        return (
            f"{self.label} exports take at most {self.max_fields} fields; you picked {fields}. "
            f"Remove {fields - self.max_fields} or choose {roomiest().label}."
        )

    def object_problem(self, name: str, object_paths: Iterable[str] = ()) -> str | None:
        """Why the field ``name`` cannot be a column of this format, or None."""
        if self.holds_objects or not is_whole_object(name, object_paths):
            return None
        return (
            f"{self.label} cannot hold the whole object “{name}”: pick its leaf paths "
            f"(e.g. {leaf_example(name, object_paths)}) or choose {roomiest().label}."
        )

    @property
    def field_rule(self) -> str:
        """The field rules in a sentence, for the builder's help text."""
        limits = []
        if self.max_fields is not None:
            limits.append(f"at most {self.max_fields} fields")
        if not self.holds_objects:
            limits.append(
                "no whole object (metadata, identities, multifactor): pick leaf paths such as "
                "user_metadata.plan or identities[0].connection"
            )
        return f"{self.label} takes {' and '.join(limits) or 'whole objects'}."


CSV = ExportFormat(
    name="csv",
    label="CSV",
    choice_label="CSV",
    extension="csv",
    content_type="text/csv; charset=utf-8",
    auth0_name="csv",
    max_fields=30,
    holds_objects=False,
    verifier=CsvVerifier,
    previewer=csv_preview,
    row_filter=csv_rows_kept,
    json_array=csv_json_array,
    rows=csv_rows,
    header=format_header,
    line_writer=csv_line_writer,
)
NDJSON = ExportFormat(
    name="ndjson",
    label="NDJSON",
    # Auth0 calls this format "json", but the file holds one JSON object per line.
    choice_label="NDJSON (Auth0's “json”: one JSON object per line)",
    extension="ndjson",
    content_type="application/x-ndjson",
    auth0_name="json",
    max_fields=None,
    holds_objects=True,
    verifier=NdjsonVerifier,
    previewer=ndjson_preview,
    row_filter=ndjson_rows_kept,
    json_array=ndjson_json_array,
    rows=ndjson_rows,
    header=no_header,
    line_writer=ndjson_line_writer,
)
FORMATS: tuple[ExportFormat, ...] = (CSV, NDJSON)
DEFAULT = CSV
CHOICES = [(fmt.name, fmt.choice_label) for fmt in FORMATS]


def get(name: str) -> ExportFormat:
    """The format stored as ``name``; ValueError for an unknown one."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise ValueError(f"unknown export format {name!r}")


def roomiest() -> ExportFormat:
    """The format to suggest when a spec breaks another's field rules."""
    return next(fmt for fmt in FORMATS if fmt.holds_objects and fmt.max_fields is None)


def page_rules() -> dict[str, Any]:
    """The field rules the builder's JavaScript checks as fields are picked (json_script)."""
    return {
        "formats": {
            fmt.name: {
                "label": fmt.label,
                "maxFields": fmt.max_fields,
                "holdsObjects": fmt.holds_objects,
            }
            for fmt in FORMATS
        },
        "roomiest": roomiest().label,
        "objectFields": list(OBJECT_FIELDS),
        "objectPath": OBJECT_PATH_PATTERN,
    }
