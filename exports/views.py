from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

import management_api
from config.htmx import StaffRequest, wants_partial
from config.params import whole_number
from management_api import ManagementApiError, connections
from staff import audit
from staff.permissions import Capability, may_export_personal_data, requires
from users_admin.pii import masked_export_fields

from . import derive, downloads, formats, importformat, lease, preview, retention, tasks
from .fields import DEFAULT_FIELDS, discovered_metadata
from .forms import (
    DeriveForm,
    ExportForm,
    HistoryFilterForm,
    RenameForm,
    TemplateNameForm,
    picker_rows,
)
from .models import NAME_MAX_LENGTH, Export, ExportSpec, ExportTemplate

HISTORY_PAGE_SIZE = 25


def _connections() -> tuple[list[dict[str, str]], str]:
    try:
        return connections(), ""
    except ManagementApiError as exc:
        return (
            [],
            f"The connection list could not be loaded ({exc}); only “All connections” is offered.",
        )


def _prefill(
    request: StaffRequest, conns: list[dict[str, str]]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Initial values from a template, a re-run, or the search page's hand-off."""
    params = request.GET
    # A template or re-run the address names but this member cannot open (mistyped, deleted,
    # another tenant's, not theirs) is a 404, not an empty builder that looks like it.
    if params.get("template"):
        template = (
            ExportTemplate.objects.of(request.user)
            .filter(pk=whole_number(params["template"]) or 0)  # no pk is 0
            .first()
        )
        if template is None:
            raise Http404("No such export template.")
        spec = ExportSpec.from_data(template.spec)
        return spec.initial(), list(spec.fields)
    if params.get("rerun"):
        source = (
            Export.objects.visible_to(request.user)
            .filter(
                pk=whole_number(params["rerun"]) or 0, tenant=management_api.current_tenant().slug
            )
            .first()
        )
        if source is None:
            raise Http404("No such export to run again.")
        return source.spec.initial(), list(source.spec.fields)

    initial: dict[str, Any] = {}
    connection = params.get("connection", "").strip()
    if connection:
        match = next((c for c in conns if connection in (c["id"], c["name"])), None)
        initial["connection"] = match["id"] if match else ""
    if params.get("q"):
        # The search page's "Export all matching users": an exact export of that query.
        initial["match_query"] = params["q"][:4000]
    if params.get("fields"):
        picked = [{"name": name.strip()} for name in params["fields"].split(",") if name.strip()]
    else:
        picked = [dict(item) for item in DEFAULT_FIELDS]
    return initial, picked


@requires(Capability.RUN_EXPORTS)
def new(request: StaffRequest) -> HttpResponse:
    conns, connections_error = _connections()
    leaves, objects = discovered_metadata()
    if request.method == "POST":
        form = ExportForm(
            request.POST, connections=conns, metadata_objects=objects, metadata_leaves=leaves
        )
        if request.htmx and request.POST.get("outlook"):
            # The form's htmx refresh of "Importing into Auth0", as the spec stands now.
            form.is_valid()
            return render(
                request,
                "exports/import_outlook.html",
                {"outlook": _import_outlook(form, form.cleaned_data.get("fields") or [])},
            )
        if form.is_valid() and not _masked_fields_refused(request, form):
            if "save_template" in request.POST:
                template = _save_template(request, form)
                if template is not None:
                    return redirect(f"{reverse('exports:new')}?template={template.pk}")
            else:
                return _create(request, form)
        fields = form.cleaned_data.get("fields") or []
    else:
        initial, picked = _prefill(request, conns)
        rows = picker_rows(metadata_leaves=leaves, metadata_objects=objects, picked=picked)
        form = ExportForm(initial=initial, connections=conns, rows=rows, metadata_objects=objects)
        fields = picked
    return render(
        request,
        "exports/new.html",
        {
            "form": form,
            "outlook": _import_outlook(form, fields),
            "connections_error": connections_error,
            "formats": formats.FORMATS,
            "format_rules": formats.page_rules(),
            "templates": ExportTemplate.objects.of(request.user),
        },
    )


def _masked_fields_refused(request: StaffRequest, form: ExportForm) -> bool:
    """Fields shown masked to this member's role (PII_MASKED_FIELDS) are not theirs to export:
    said above the fields, and nothing is created."""
    masked = masked_export_fields(field["name"] for field in form.cleaned_data["fields"])
    if may_export_personal_data(request.user, masked):
        return False
    form.add_error(
        None,
        f"Your role sees {', '.join(masked)} masked, so it cannot export "
        f"{'them' if len(masked) > 1 else 'it'}: remove {'them' if len(masked) > 1 else 'it'}, "
        "or ask someone whose role sees personal data.",
    )
    return True


def _import_outlook(form: ExportForm, fields: list[dict[str, str]]) -> importformat.Plan:
    """Whether the export as specified will offer the import-ready JSON, and why not."""
    if form.is_bound:
        connection_id = form.cleaned_data.get("connection_id") or ""
        format_name = form.cleaned_data.get("format")
        several = [item["name"] for item in form.cleaned_data.get("connections") or []]
    else:
        connection_id = str(form.initial.get("connection") or "")
        format_name = form.initial.get("format")
        several = [
            form.connections[key]["name"] if key in form.connections else key
            for key in form.initial.get("several_connections") or []
        ]
    found = form.connections.get(connection_id)
    try:
        fmt = formats.get(str(format_name or formats.DEFAULT.name))
    except ValueError:
        fmt = formats.DEFAULT
    return importformat.plan(
        fields,
        connection_id=connection_id,
        connection_name=found["name"] if found else "",
        strategy=found["strategy"] if found else None,
        holds_objects=fmt.holds_objects,
        several=several,
    )


def _create(request: StaffRequest, form: ExportForm) -> HttpResponse:
    export = tasks.create_export(form.spec(), requested_by=request.user)
    audit.record(
        request,
        "exports.create",
        target=f"export #{export.pk}",
        format=export.format,
        connection=export.connection_label,
        **({"connections": [item["id"] for item in export.connections]} if export.is_multi else {}),
        fields=len(export.fields),
        limit=export.limit,
        **({"name": export.name} if export.name else {}),
        **({"query": export.match_query} if export.match_query else {}),
    )
    # The status block says "queued" while it is (and stops saying so once it moves on).
    return redirect(export)


def _save_template(request: StaffRequest, form: ExportForm) -> ExportTemplate | None:
    name = form.cleaned_data.get("template_title") or ""
    if not name:
        form.add_error("template_title", "Name the template to save it.")
        return None
    template, created = ExportTemplate.objects.update_or_create(
        owner=request.user,
        tenant=management_api.current_tenant().slug,
        name=name,
        defaults={"spec": form.spec().as_data()},
    )
    audit.record(request, audit.TEMPLATE_SAVED, target=template.name, created=created)
    messages.success(request, f"Template “{template.name}” saved.")
    return template


@require_POST
@requires(Capability.RUN_EXPORTS)
def save_template(request: StaffRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    form = TemplateNameForm(request.POST)
    if form.is_valid():
        spec = export.spec.as_data()
        template, created = ExportTemplate.objects.update_or_create(
            owner=request.user,
            tenant=export.tenant,
            name=form.cleaned_data["name"],
            defaults={"spec": spec},
        )
        audit.record(
            request,
            audit.TEMPLATE_SAVED,
            target=template.name,
            created=created,
            from_export=export.pk,
        )
        messages.success(request, f"Template “{form.cleaned_data['name']}” saved.")
    else:
        messages.error(request, "Name the template to save it.")
    return redirect(export)


@require_POST
@requires(Capability.RUN_EXPORTS)
def delete_template(request: StaffRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(ExportTemplate.objects.of(request.user), pk=pk)
    template.delete()
    audit.record(request, audit.TEMPLATE_DELETED, target=template.name)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("exports:new")


@vary_on_headers("HX-Request")
@requires(Capability.RUN_EXPORTS)
def history(request: StaffRequest) -> HttpResponse:
    visible = Export.objects.visible_to(request.user)
    requesters = sorted(
        {label for label in visible.values_list("requested_by_label", flat=True) if label}
    )
    form = HistoryFilterForm(
        request.GET if request.GET.keys() - {"page"} else None, requesters=requesters
    )
    exports = form.apply(
        visible.select_related("requested_by", "parent", "schedule_run__schedule").prefetch_related(
            "parts"
        )
    )
    page = Paginator(exports, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "exports/history.html",
        {
            "page": page,
            "form": form,
            "filtered": form.filtered(),
            "total": visible.count(),
            "retention_days": settings.EXPORT_RETENTION_DAYS,
        },
    )


@require_POST
@requires(Capability.RUN_EXPORTS)
def rename(request: StaffRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    form = RenameForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors["name"]))
        return redirect(export)
    before, after = export.name, form.cleaned_data["name"]
    if before != after:
        Export.objects.filter(pk=export.pk).update(name=after)
        audit.record(request, "exports.rename", target=f"export #{pk}", before=before, after=after)
    messages.success(
        request, f"Export #{pk} is named “{after}”." if after else f"Export #{pk} has no name now."
    )
    return redirect(export)


@requires(Capability.RUN_EXPORTS)
def cancel(request: StaffRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST cancels (the worker stops at its next step)."""
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    if export.is_settled:
        messages.error(
            request,
            f"Export #{export.pk} has already settled ({export.get_status_display().lower()}); "
            "there is nothing to cancel.",
        )
        return redirect(export)
    if request.method != "POST":
        return render(request, "exports/cancel.html", {"export": export})
    who = request.user.get_username()
    cancelled = lease.cancel(export, by=who)
    audit.record(
        request,
        "exports.cancel",
        target=f"export #{pk}",
        outcome="cancelled" if cancelled else "already settled",
    )
    if cancelled:
        messages.success(request, f"Export #{pk} is cancelled; no file will be kept.")
    else:
        export.refresh_from_db()
        messages.error(
            request,
            f"Export #{pk} settled before it could be cancelled "
            f"({export.get_status_display().lower()}).",
        )
    return redirect(export)


@vary_on_headers("HX-Request")
@requires(Capability.RUN_EXPORTS)
def detail(request: StaffRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(
        Export.objects.visible_to(request.user).select_related("parent"), pk=pk
    )
    if wants_partial(request):
        # The live progress: a history row or the detail page's status block.
        template = (
            "exports/history.html#row"
            if request.GET.get("view") == "row"
            else "exports/detail.html#status"
        )
        file_missing = export.file_is_missing()
        plan = downloads.import_plan(export) if export.is_ready and not file_missing else None
        context = {
            "export": export,
            "events": export.events.all(),
            "stalled_until": export.stalled_until(),
            "file_missing": file_missing,
            "retention_days": settings.EXPORT_RETENTION_DAYS,
            "variants": downloads.variants_for(export, plan) if plan else {},
            "import_plan": plan,
            # The detail page's header actions follow the status (Cancel becomes Delete).
            "oob": template == "exports/detail.html#status",
        }
        response = render(request, template, context)
        if export.is_settled:
            # 286 swaps in the settled state and tells htmx to stop polling.
            return HttpResponseStopPolling(response.content)
        return response
    audit.record(request, audit.EXPORT_VIEWED, target=f"export #{pk}", name=export.name)
    return _detail_page(request, export)


def _detail_page(
    request: StaffRequest, export: Export, derive_form: DeriveForm | None = None
) -> HttpResponse:
    """An export's whole page; ``derive_form`` a bound filter form whose errors it shows."""
    sample: preview.Preview | None = None
    file_missing = export.file_is_missing()
    plan = None
    if export.is_ready and not file_missing:
        with export.open_file() as source:
            sample = export.export_format.preview(source, columns=export.column_titles)
        derive_form = derive_form or DeriveForm(columns=export.column_titles)
        plan = downloads.import_plan(export)
    else:
        derive_form = None
    return render(
        request,
        "exports/detail.html",
        {
            "export": export,
            "events": export.events.all(),
            "stalled_until": export.stalled_until(),
            "rename_form": RenameForm(initial={"name": export.name}),
            "template_form": TemplateNameForm(),
            "derivatives": Export.objects.visible_to(request.user).filter(parent=export),
            "file_missing": file_missing,
            "retention_days": settings.EXPORT_RETENTION_DAYS,
            "variants": downloads.variants_for(export, plan) if plan else {},
            "import_plan": plan,
            "preview": sample,
            "derive_form": derive_form,
            "conditions": [
                derive.describe(derive.Condition(**c)) for c in export.filter_conditions
            ],
        },
    )


@requires(Capability.RUN_EXPORTS)
def delete(request: StaffRequest, pk: int) -> HttpResponse:
    export = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    if not export.is_settled:
        messages.error(request, f"Export #{export.pk} is still running; delete it once it settles.")
        return redirect("exports:history")
    if request.method != "POST":
        return render(request, "exports/delete.html", {"export": export})
    retention.delete(export)
    audit.record(request, "exports.delete", target=f"export #{pk}")
    messages.success(request, f"Export #{pk} and its file are deleted.")
    return redirect("exports:history")


@require_POST
@requires(Capability.RUN_EXPORTS)
def derive_export(request: StaffRequest, pk: int) -> HttpResponse:
    parent = get_object_or_404(Export.objects.visible_to(request.user), pk=pk)
    if not parent.is_ready or parent.file_is_missing():
        raise Http404("Only a ready export whose file is kept can be filtered.")
    with parent.open_file() as source:
        kinds = preview.infer_kinds(
            parent.export_format.preview(source, columns=parent.column_titles)
        )
    form = DeriveForm(request.POST, columns=parent.column_titles, kinds=kinds)
    if not form.is_valid():
        # The page again, the conditions as typed and each message at its field.
        return _detail_page(request, parent, derive_form=form)
    # The parent's own conditions (it may be filtered itself) hold for every row of its
    # file, so the child keeps them too: its re-run and its templates then mean the same rows.
    # The rows are the parent's file filtered again: no new Auth0 job, no search query.
    conditions = [*parent.filter_conditions]
    conditions += [c for c in form.conditions() if c not in conditions]
    described = " and ".join(derive.describe(derive.Condition(**c)) for c in form.conditions())
    name = f"{parent.name or f'Export #{parent.pk}'}, filtered: {described}"
    if len(name) > NAME_MAX_LENGTH:
        name = name[: NAME_MAX_LENGTH - 1] + "…"
    child = tasks.create_export(
        dataclasses.replace(parent.spec, match_query="", name=name),
        requested_by=request.user,
        parent=parent,
        filter_conditions=conditions,
    )
    audit.record(
        request,
        "exports.derive",
        target=f"export #{child.pk}",
        parent=parent.pk,
        conditions=described,
    )
    messages.success(request, f"Export #{child.pk} will hold the matching rows of #{parent.pk}.")
    return redirect(child)


@requires(Capability.DOWNLOAD_EXPORTS)
def download(request: StaffRequest, pk: int, variant: str) -> HttpResponse:
    """Every attempt is audited with its outcome: served, refused (someone else's export) or
    missing (no such export or variant, not ready, or its file gone from storage)."""
    target = f"export #{pk}"
    export = Export.objects.visible_to(request.user).filter(pk=pk).first()
    if export is None:
        outcome = "refused" if Export.objects.filter(pk=pk).exists() else "missing"
        audit.record(request, "exports.download", target=target, variant=variant, outcome=outcome)
        raise Http404("This file is not available.")
    masked = masked_export_fields(str(field.get("name", "")) for field in export.fields)
    if not may_export_personal_data(request.user, masked):
        raise PermissionDenied(
            f"Export #{pk} holds {', '.join(masked)}, which your role sees masked."
        )
    if not export.is_ready or variant not in downloads.variants_for(export):
        audit.record(request, "exports.download", target=target, variant=variant, outcome="missing")
        raise Http404("This file is not available.")
    try:
        response: Any = downloads.response(export, variant)
    except FileNotFoundError:
        audit.record(request, "exports.download", target=target, variant=variant, outcome="missing")
        raise Http404(f"The file of export #{export.pk} is no longer in storage.") from None
    audit.record(
        request,
        "exports.download",
        target=target,
        variant=variant,
        outcome="served",
        filename=downloads.attachment_name(response),
    )
    return response
