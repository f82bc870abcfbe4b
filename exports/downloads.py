"""Download variants of a kept export, streamed: the original .gz, the uncompressed file, the
rows as one JSON array, (when the export can be imported) Auth0's bulk-import format
(exports.importformat): one .json, or a .zip of ≤500 KB parts; and for an exact search export
"about", a short text saying what the file is (its query, connection, snapshot and matches out
of users scanned), so the rows stay Auth0's own.

The kept file is opened before a response is made, so a file that is gone from storage is a
FileNotFoundError for the view (a 404), never a response that breaks off half-way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.text import slugify

from management_api import ManagementApiError, connections

from . import convert, importformat
from .models import Export, Format

IMPORT_LABEL = "Import-ready JSON for Auth0 (.json, or a .zip of ≤500 KB parts)"


def import_plan(export: Export) -> importformat.Plan:
    """What an Auth0 import file of this export would hold, or why there can be none."""
    strategy: str | None = None
    if export.connection_id:
        try:
            found = next((c for c in connections() if c["id"] == export.connection_id), None)
        except ManagementApiError:
            found = None
        strategy = found["strategy"] if found else None
    return importformat.plan(
        export.fields,
        connection_id=export.connection_id,
        connection_name=export.connection_name,
        strategy=strategy,
    )


def variants_for(export: Export, plan: importformat.Plan | None = None) -> dict[str, str]:
    """Variant slug -> button label, for a ready export. The import file only when the
    export can become one (``plan``, computed when not given)."""
    ext = export.file_extension
    raw_label = "CSV" if export.format == Format.CSV else "NDJSON"
    variants = {
        "original": f"Original .{ext}.gz",
        "uncompressed": f"{raw_label} (.{ext})",
        "json": "JSON array of the rows (keys as exported)",
    }
    if (plan or import_plan(export)).possible:
        variants["import"] = IMPORT_LABEL
    if export.is_exact:
        variants["about"] = "About this file (.txt)"
    return variants


def filename(export: Export, variant: str) -> str:
    scope = slugify(export.connection_name or export.connection_id) or "all-connections"
    day = (export.ready_at or export.created_at).strftime("%Y%m%d")
    stem = f"userdesk-export-{export.pk}-{scope}-{day}"
    if export.parent_id:
        stem += f"-filtered-from-{export.parent_id}"
    if export.is_exact:
        snapshot = export.auth0_job_created_at or export.created_at
        stem = (
            f"userdesk-export-{export.pk}-exact-search-{scope}-"
            f"snapshot-{snapshot.strftime('%Y%m%dT%H%M%SZ')}"
        )
    ext = export.file_extension
    return {
        "about": f"{stem}.about.txt",
        "original": f"{stem}.{ext}.gz",
        "uncompressed": f"{stem}.{ext}",
        "json": f"{stem}.json",
        "import": f"{stem}-import",
    }[variant]


def _streamed(export: Export, variant: str, source: BinaryIO) -> Iterator[bytes]:
    with source:
        if variant == "uncompressed":
            yield from convert.uncompressed(source)
        else:
            yield from convert.json_array(source, fmt=export.format)


def _closing(chunks: Iterator[bytes], source: BinaryIO) -> Iterator[bytes]:
    with source:
        yield from chunks


CONTENT_TYPES = {
    "uncompressed": "",
    "json": "application/json",
}


def attachment_name(response: HttpResponseBase) -> str:
    """The file name a response of :func:`response` gives its download."""
    return response["Content-Disposition"].split('filename="', 1)[1].rstrip('"')


def about_text(export: Export) -> str:
    """What an exact search export's file is, in words (the "about" variant)."""
    snapshot = export.auth0_job_created_at or export.created_at
    titles = ", ".join(export.column_titles)
    return (
        f"Userdesk export #{export.pk}: an exact search export\n"
        f"\n"
        f"Query:       {export.match_query}\n"
        f"Connection:  {export.connection_label}"
        f"{f' ({export.connection_id})' if export.connection_id else ''}\n"
        f"Snapshot:    Auth0's export job {export.auth0_job_id or '(none)'} created "
        f"{snapshot.strftime('%Y-%m-%d %H:%M:%S UTC')}\n"
        f"Matches:     {export.matched_count or 0:,} of {export.scanned_count or 0:,} users "
        f"scanned\n"
        f"Format:      {export.get_format_display()}, columns: {titles}\n"
        f"File:        {filename(export, 'uncompressed')} "
        f"(gzip SHA-256 {export.sha256})\n"
        f"\n"
        f"Auth0 exported every user of the connection at the snapshot; Userdesk evaluated the\n"
        f"query on each of them with Auth0's search rules and kept exactly the matches. Search\n"
        f"results on the search page are eventually consistent (recent changes may be missing\n"
        f"or stale there); this file is one consistent snapshot, so its users can differ from a\n"
        f"search run before or after it. The rows are as Auth0 writes them; nothing was added.\n"
    )


def response(export: Export, variant: str) -> HttpResponseBase:
    """A streamed attachment; the whole file is never held in memory. FileNotFoundError
    when the kept file is no longer in storage."""
    name = filename(export, variant)
    if export.file_is_missing():
        raise FileNotFoundError(f"the file of export {export.pk} is no longer in storage")
    if variant == "about":
        about = HttpResponse(about_text(export), content_type="text/plain; charset=utf-8")
        about["Content-Disposition"] = f'attachment; filename="{name}"'
        return about
    source = export.open_file()
    if variant == "original":
        return FileResponse(
            source,
            as_attachment=True,
            filename=name,
            content_type="application/gzip",
        )
    if variant == "import":
        # Up to two parts are read here to choose one .json or a .zip; the rest streams.
        try:
            made = importformat.download(
                source,
                fmt=export.format,
                plan=import_plan(export),
                stem=name,
            )
        except BaseException:
            source.close()
            raise
        streaming = StreamingHttpResponse(
            _closing(made.chunks, source), content_type=made.content_type
        )
        streaming["Content-Disposition"] = f'attachment; filename="{made.filename}"'
        return streaming
    content_type = CONTENT_TYPES[variant] or (
        "text/csv; charset=utf-8" if export.format == Format.CSV else "application/x-ndjson"
    )
    streaming = StreamingHttpResponse(_streamed(export, variant, source), content_type=content_type)
    streaming["Content-Disposition"] = f'attachment; filename="{name}"'
    if variant == "uncompressed" and export.uncompressed_size is not None:
        streaming["Content-Length"] = str(export.uncompressed_size)
    return streaming
