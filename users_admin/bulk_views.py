"""Pages of bulk runs: the list of runs, choosing a run's users, and a run's page."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRefresh

from staff.audit import record
from staff.permissions import Capability, requires

from .bulk_forms import SelectionForm
from .bulk_select import tenant_slug
from .models import BulkRun, BulkRunStatus
from .tasks import start_selection

RUNS_PER_PAGE = 50
ENTRIES_PER_PAGE = 50


@requires(Capability.REQUEST_BULK_RUNS)
def bulk_runs(request: HttpRequest) -> HttpResponse:
    runs = BulkRun.objects.filter(tenant=tenant_slug())
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "users_admin/bulk_runs.html", {"page": page})


@requires(Capability.REQUEST_BULK_RUNS)
def new_bulk_run(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SelectionForm(request.POST, request.FILES)
        if form.is_valid():
            run = _create(request, form)
            return redirect("users_admin:bulk_run", run.pk)
    else:
        query = request.GET.get("q", "")
        form = SelectionForm(initial={"source": "query", "query": query})
    return render(request, "users_admin/bulk_new.html", {"form": form})


def _create(request: HttpRequest, form: SelectionForm) -> BulkRun:
    data = form.cleaned_data
    user = request.user if request.user.is_authenticated else None
    run = BulkRun(
        tenant=tenant_slug(),
        source=data["source"],
        requested_by=user,
        requested_by_label=user.get_username() if user else "",
    )
    if run.source == BulkRun.Source.QUERY:
        run.query = data["query"]
    else:
        upload = data["users_file"]
        run.list_name = str(upload.name)[:255]
        run.list_lines = len(data["entries"])
        run.list_file.save(f"{run.tenant}.txt", upload, save=False)
    run.save()
    start_selection(run)
    holds: dict[str, Any] = (
        {"query": run.query} if run.query else {"file": run.list_name, "lines": run.list_lines}
    )
    record(
        request,
        "bulk.created",
        target=str(run),
        source=run.source,
        snapshot=f"export #{run.export_id}",
        **holds,
    )
    return run


@requires(Capability.REQUEST_BULK_RUNS)
@vary_on_headers("HX-Request")
def bulk_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BulkRun.objects.select_related("export"), pk=pk, tenant=tenant_slug())
    context: dict[str, Any] = {"run": run}
    if getattr(request, "htmx", False):
        if run.status != BulkRunStatus.SELECTING:
            # The whole page changes once the users are known: htmx reloads it.
            return HttpResponseClientRefresh()
        return render(request, "users_admin/bulk_run.html#status", context)
    entries = Paginator(run.entries.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    items = run.items.all()[:ENTRIES_PER_PAGE]
    context.update(entries=entries, items=items)
    return render(request, "users_admin/bulk_run.html", context)
