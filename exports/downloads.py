"""Download variants of a kept export, streamed: the original .gz, the uncompressed file, the
rows as one JSON array, (when the export can be imported) Auth0's bulk-import format
(exports.importformat): one .json, or a .zip of ≤500 KB parts; and for an exact search export
"about", a short text saying what the file is (its query, connection, snapshot and matches out
of users scanned), so the rows stay Auth0's own.

Each variant is one :class:`Variant` in ``VARIANTS`` (its button label, file name, when it is
offered, and how it is served with which content type); the detail page's buttons, the
download view and its audit follow from that list.

The kept file is opened before a response is made, so a file that is gone from storage is a
FileNotFoundError for the view (a 404), never a response that breaks off half-way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.text import slugify

from management_api import ManagementApiError, connections
from management_api.tenants import tenant_label

from . import convert, exact, importformat
from .models import Export


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
        holds_objects=export.export_format.holds_objects,
        several=[item.get("name") or item["id"] for item in export.connections],
    )


def filename(export: Export, variant: str) -> str:
    """The file name of a variant (the import file's stem: it adds .json or .zip)."""
    scope = slugify(export.connection_name or export.connection_id) or (
        f"{len(export.connections)}-connections" if export.connections else "all-connections"
    )
    day = (export.ready_at or export.created_at).strftime("%Y%m%d")
    stem = f"userdesk-export-{export.pk}-{export.tenant}-{scope}-{day}"
    if export.parent_id:
        stem += f"-filtered-from-{export.parent_id}"
    if export.is_exact:
        snapshot = export.auth0_job_created_at or export.created_at
        stem = (
            f"userdesk-export-{export.pk}-{export.tenant}-exact-search-{scope}-"
            f"snapshot-{snapshot.strftime('%Y%m%dT%H%M%SZ')}"
        )
    return stem + _named(_VARIANTS[variant].suffix, export)


def attachment_name(response: HttpResponseBase) -> str:
    """The file name a response of :func:`response` gives its download."""
    return response["Content-Disposition"].split('filename="', 1)[1].rstrip('"')


def about_text(export: Export) -> str:
    """What an exact search export's file is, in words (the "about" variant)."""
    snapshot = export.auth0_job_created_at or export.created_at
    titles = ", ".join(export.column_titles)
    jobs = f"job {export.auth0_job_id or '(none)'} created"
    if export.is_multi:
        jobs = "jobs " + ", ".join(
            f"{part.auth0_job_id} ({part.label}: {part.row_count or 0:,} of "
            f"{part.scanned_count or 0:,} match)"
            for part in export.parts.all()
        )
        jobs += ", the first created"
    each = "s, one job each," if export.is_multi else ""
    return (
        f"Userdesk export #{export.pk}: an exact search export\n"
        f"\n"
        f"Tenant:      {tenant_label(export.tenant)}\n"
        f"Query:       {export.match_query}\n"
        f"Connection:  {export.connection_label}"
        f"{f' ({export.connection_id})' if export.connection_id else ''}\n"
        f"Snapshot:    Auth0's export {jobs} "
        f"{snapshot.strftime('%Y-%m-%d %H:%M:%S UTC')}\n"
        f"Matches:     {export.matched_count or 0:,} of {export.scanned_count or 0:,} users "
        f"scanned\n"
        f"Format:      {export.get_format_display()}, columns: {titles}\n"
        f"File:        {filename(export, 'uncompressed')} "
        f"(gzip SHA-256 {export.sha256})\n"
        f"\n"
        f"Auth0 exported every user of the connection{each} at the snapshot; Userdesk "
        f"evaluated the\n"
        f"query on each of them with Auth0's search rules and kept exactly the matches. Search\n"
        f"results on the search page are eventually consistent (recent changes may be missing\n"
        f"or stale there); this file is one consistent snapshot, so its users can differ from a\n"
        f"search run before or after it. {_who_wrote(export.spec.exact_plan())}\n"
    )


def _who_wrote(plan: exact.Plan) -> str:
    """Whose bytes the rows of an exact export are (exports.exact: how the file is written)."""
    only_query = [title for _, title in plan.job_fields[len(plan.fields) :]]
    if plan.source_format is not plan.output_format:
        return (
            f"Auth0 wrote the users as {plan.source_format.label} ({plan.output_format.label} "
            f"cannot carry what the query reads); Userdesk wrote each kept row in "
            f"{plan.output_format.label} with Auth0's rules (strings escaped, Auth0's dates "
            f"raw), so the values are Auth0's and the rows are Userdesk's."
        )
    if only_query and plan.output_format.holds_objects:
        return (
            f"Userdesk wrote each kept line again without the fields only the query reads "
            f"({', '.join(only_query)}); the values are Auth0's."
        )
    if only_query:
        return (
            f"Each kept cell is Auth0's, byte for byte; Userdesk left out the columns only the "
            f"query reads ({', '.join(only_query)})."
        )
    return "The rows are as Auth0 wrote them, byte for byte; nothing was added."


def _named(text: str, export: Export) -> str:
    """A variant's label or suffix with the export's format put in."""
    fmt = export.export_format
    return text.format(label=fmt.label, ext=fmt.extension)


def _attachment(response: HttpResponseBase, name: str) -> HttpResponseBase:
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _closing(chunks: Iterator[bytes], source: BinaryIO) -> Iterator[bytes]:
    with source:
        yield from chunks


def _original(export: Export, name: str) -> HttpResponseBase:
    return FileResponse(
        export.open_file(), as_attachment=True, filename=name, content_type="application/gzip"
    )


def _uncompressed(export: Export, name: str) -> HttpResponseBase:
    source = export.open_file()
    streaming = StreamingHttpResponse(
        _closing(convert.uncompressed(source), source),
        content_type=export.export_format.content_type,
    )
    if export.uncompressed_size is not None:
        streaming["Content-Length"] = str(export.uncompressed_size)
    return _attachment(streaming, name)


def _json_array(export: Export, name: str) -> HttpResponseBase:
    source = export.open_file()
    chunks = export.export_format.json_array(source)
    streaming = StreamingHttpResponse(_closing(chunks, source), content_type="application/json")
    return _attachment(streaming, name)


def _import_file(export: Export, name: str) -> HttpResponseBase:
    source = export.open_file()
    # Up to two parts are read here to choose one .json or a .zip; the rest streams.
    try:
        made = importformat.download(
            export.export_format.rows(source), plan=import_plan(export), stem=name
        )
    except BaseException:
        source.close()
        raise
    streaming = StreamingHttpResponse(_closing(made.chunks, source), content_type=made.content_type)
    return _attachment(streaming, made.filename)


def _about(export: Export, name: str) -> HttpResponseBase:
    about = HttpResponse(about_text(export), content_type="text/plain; charset=utf-8")
    return _attachment(about, name)


def _always(export: Export, plan: importformat.Plan) -> bool:
    return True


@dataclass(frozen=True)
class Variant:
    """One download of a ready export. ``label`` and ``suffix`` (added to the file's stem) may
    name the format's ``{label}`` and ``{ext}``; ``serve`` makes the response (content type
    and stream) for the file name; ``offered`` says whether this export has it."""

    slug: str
    label: str
    suffix: str
    serve: Callable[[Export, str], HttpResponseBase]
    offered: Callable[[Export, importformat.Plan], bool] = _always


VARIANTS: tuple[Variant, ...] = (
    Variant("original", "Original .{ext}.gz", ".{ext}.gz", _original),
    Variant("uncompressed", "{label} (.{ext})", ".{ext}", _uncompressed),
    Variant("json", "JSON array of the rows (keys as exported)", ".json", _json_array),
    Variant(
        "import",
        "Import-ready JSON for Auth0 (.json, or a .zip of ≤500 KB parts)",
        "-import",
        _import_file,
        offered=lambda export, plan: plan.possible,
    ),
    Variant(
        "about",
        "About this file (.txt)",
        ".about.txt",
        _about,
        offered=lambda export, plan: export.is_exact,
    ),
)
_VARIANTS = {variant.slug: variant for variant in VARIANTS}


def variants_for(export: Export, plan: importformat.Plan | None = None) -> dict[str, str]:
    """Variant slug -> button label, for a ready export (``plan``, the import file's, is
    computed when not given)."""
    plan = plan or import_plan(export)
    return {
        variant.slug: _named(variant.label, export)
        for variant in VARIANTS
        if variant.offered(export, plan)
    }


def response(export: Export, variant: str) -> HttpResponseBase:
    """A streamed attachment; the whole file is never held in memory. FileNotFoundError
    when the kept file is no longer in storage."""
    name = filename(export, variant)
    if export.file_is_missing():
        raise FileNotFoundError(f"the file of export {export.pk} is no longer in storage")
    return _VARIANTS[variant].serve(export, name)
