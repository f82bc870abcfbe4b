"""The import pages (/t/<slug>/exports/imports/...): check a file, start it, follow it.

A file is first checked and kept as a draft (nothing is sent); the draft's page shows each
user that fails and asks for the connection, Auth0's options and a reason; starting it is one
POST that queues it once (exports.tasks.start_import). Everything is audited."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
from django.contrib import messages
from django.core.files.base import ContentFile
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from config.htmx import StaffRequest, wants_partial
from config.params import whole_number
from management_api import ManagementApiError, connections
from staff import audit
from staff.permissions import Capability, requires
from users_admin.bulk_views import nav

from . import downloads, importcheck, tasks
from .import_forms import ImportFileForm, StartImportForm, ids_of
from .import_models import ImportRun
from .models import Export
from .storage import exports_storage
from .views import HISTORY_PAGE_SIZE

# Rows of a table of failing users shown on the page; all of them are in the download.
SHOWN_ERRORS = 100
# Ready exports offered as the file (the most recent first).
OFFERED_EXPORTS = 30


def _importable_exports(request: StaffRequest) -> list[Export]:
    ready = Export.objects.visible_to(request.user).filter(status="ready")[:OFFERED_EXPORTS]
    return [
        export
        for export in ready
        if not export.file_is_missing() and downloads.import_plan(export).possible
    ]


@vary_on_headers("HX-Request")
@requires(Capability.RUN_IMPORTS)
def history(request: StaffRequest) -> HttpResponse:
    runs = ImportRun.objects.of_tenant(request.user).select_related("source_export")
    page = Paginator(runs, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "exports/imports/history.html", {"page": page, "nav": nav(request, page, "page")}
    )


@requires(Capability.RUN_IMPORTS)
def new(request: StaffRequest) -> HttpResponse:
    posted = request.method == "POST"
    form = ImportFileForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        exports=_importable_exports(request),
        # The export page's "Import these users": that export chosen.
        initial={"export": whole_number(request.GET.get("export"))},
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = _checked_draft(request, form.cleaned_data)
        except importcheck.ImportFileError as exc:
            form.add_error("file" if form.cleaned_data.get("file") else "export", str(exc))
        except FileNotFoundError:
            form.add_error("export", "That export's file is no longer in storage.")
        else:
            return redirect(run)
    return render(request, "exports/imports/new.html", {"form": form})


def _checked_draft(request: StaffRequest, data: dict[str, Any]) -> ImportRun:
    """Read and check the file; keep its valid users and a draft run (nothing is sent)."""
    export: Export | None = data.get("export")
    if export is not None:
        users, refused = importcheck.from_export(export)
        raw = orjson.dumps(users)
        name = downloads.filename(export, "import") + ".json"
    else:
        upload = data["file"]
        raw = upload.read()
        users, refused = importcheck.read_upload(upload.name, raw), []
        name = upload.name
    checked = importcheck.check(users)
    rejects = [
        {"index": None, "user": item.get("user"), "errors": item.get("errors")} for item in refused
    ] + checked.rejects
    stored = exports_storage().save(
        f"imports/import-{uuid.uuid4().hex}.json", ContentFile(orjson.dumps(checked.valid))
    )
    run = ImportRun.objects.create(
        requested_by=request.user,
        requested_by_label=request.user.get_username(),
        source_name=name[:255],
        source_export=export,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        file=stored,
        user_count=len(checked.valid),
        rejects=rejects,
    )
    audit.record(
        request,
        "imports.check",
        target=f"import #{run.pk}",
        file=run.source_name,
        sha256=run.sha256,
        users=run.user_count,
        failing=len(rejects),
        **({"export": export.pk} if export else {}),
    )
    return run


def _who(user: Any) -> str:
    """A user of the file in a table: its email, else its user_id, else what it is."""
    if isinstance(user, dict):
        for key in ("email", "user_id", "username"):
            if isinstance(user.get(key), str) and user[key]:
                return str(user[key])
        return "(no email, user_id or username)"
    return f"(not a user: {str(user)[:60]})"


def _shown(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**item, "who": _who(item.get("user"))} for item in items[:SHOWN_ERRORS]]


def _connections() -> tuple[list[dict[str, str]], str]:
    try:
        return connections(), ""
    except ManagementApiError as exc:
        return [], f"The connection list could not be loaded ({exc}); try again shortly."


def _page(request: StaffRequest, run: ImportRun, form: StartImportForm | None = None) -> Any:
    conns, connections_error = _connections()
    if run.is_draft and run.purged_at is None and form is None:
        form = StartImportForm(connections=conns, rejected=len(run.rejects), ids_of=ids_of(run))
    parts = list(run.parts.all())
    auth0_errors = run.auth0_errors()
    return render(
        request,
        "exports/imports/detail.html",
        {
            "run": run,
            "form": form if run.is_draft and run.purged_at is None else None,
            "connections_error": connections_error,
            "parts": parts,
            "totals": run.totals(),
            "rejects": _shown(run.rejects),
            "auth0_errors": _shown(auth0_errors),
            "auth0_error_count": len(auth0_errors),
            "shown": SHOWN_ERRORS,
        },
    )


@vary_on_headers("HX-Request")
@requires(Capability.RUN_IMPORTS)
def detail(request: StaffRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ImportRun.objects.of_tenant(request.user), pk=pk)
    if wants_partial(request) and not run.is_draft:
        auth0_errors = run.auth0_errors()
        response = render(
            request,
            "exports/imports/detail.html#status",
            {
                "run": run,
                "parts": list(run.parts.all()),
                "totals": run.totals(),
                "auth0_errors": _shown(auth0_errors),
                "auth0_error_count": len(auth0_errors),
                "shown": SHOWN_ERRORS,
            },
        )
        return HttpResponseStopPolling(response.content) if run.is_settled else response
    return _page(request, run)


@require_POST
@requires(Capability.RUN_IMPORTS)
def start(request: StaffRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ImportRun.objects.of_tenant(request.user), pk=pk)
    if not run.is_draft:
        messages.info(request, f"Import #{run.pk} was started already; nothing was sent again.")
        return redirect(run)
    if run.purged_at is not None:
        messages.error(
            request, f"The file of import #{run.pk} was deleted by retention: check it again."
        )
        return redirect(run)
    conns, _ = _connections()
    form = StartImportForm(
        request.POST, connections=conns, rejected=len(run.rejects), ids_of=ids_of(run)
    )
    if not form.is_valid():
        return _page(request, run, form)
    chosen = form.chosen()
    started = tasks.start_import(run, **chosen)
    if not started:
        messages.info(request, f"Import #{run.pk} was started already; nothing was sent again.")
        return redirect(run)
    audit.record(
        request,
        "imports.start",
        target=f"import #{run.pk}",
        reason=chosen["reason"],
        file=run.source_name,
        sha256=run.sha256,
        connection=chosen["connection_name"],
        connection_id=chosen["connection_id"],
        upsert=chosen["upsert"],
        new_user_ids=chosen["new_user_ids"],
        external_id=chosen["external_id"],
        send_completion_email=chosen["send_completion_email"],
        users=run.user_count,
        left_out=len(run.rejects),
        parts=run.parts.count(),
    )
    messages.success(
        request,
        f"Import #{run.pk} is queued: {run.user_count} users in {run.parts.count()} "
        f"part{'s' if run.parts.count() != 1 else ''} into {chosen['connection_name']}.",
    )
    return redirect(run)


@requires(Capability.RUN_IMPORTS)
def errors(request: StaffRequest, pk: int, kind: str) -> HttpResponse:
    """The failing users as JSON: ``checks`` (left out before sending) or ``auth0`` (Auth0's
    per-user errors, `/jobs/{id}/errors` of every part)."""
    run = get_object_or_404(ImportRun.objects.of_tenant(request.user), pk=pk)
    if kind not in ("checks", "auth0"):
        raise Http404("No such list.")
    found = run.rejects if kind == "checks" else run.auth0_errors()
    audit.record(request, "imports.errors", target=f"import #{run.pk}", list=kind)
    response = HttpResponse(
        orjson.dumps(found, option=orjson.OPT_INDENT_2), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="userdesk-import-{run.pk}-{run.tenant}-{kind}-errors.json"'
    )
    return response
