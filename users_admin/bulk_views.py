"""Pages of bulk runs: the list of runs, choosing a run's users, and a run's page."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRefresh

from config.htmx import wants_partial
from staff.audit import record
from staff.permissions import Capability, can, may_approve_bulk_run, require, requires

from . import bulk, bulk_execute, bulk_rows, pii
from .action_forms import ask_tenant_name
from .bulk_forms import ActionChoiceForm, RejectForm, SelectionForm
from .bulk_select import selection_key, tenant_slug
from .models import BulkRun, BulkRunStatus
from .tasks import execute_bulk_run, preview_bulk_run, start_selection

RUNS_PER_PAGE = 50
ENTRIES_PER_PAGE = 50


@requires(Capability.REQUEST_BULK_RUNS)
def bulk_runs(request: HttpRequest) -> HttpResponse:
    runs = BulkRun.objects.filter(tenant=tenant_slug())
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request, "users_admin/bulk_runs.html", {"page": page, "nav": nav(request, page, "page")}
    )


def nav(request: HttpRequest, page: Page[Any], param: str) -> dict[str, str]:
    """The query strings of the previous and next pages of one of a page's lists."""
    links = {}
    for name, number in (("previous", page.number - 1), ("next", page.number + 1)):
        params: QueryDict = request.GET.copy()
        params[param] = str(number)
        links[name] = params.urlencode()
    return links


@requires(Capability.REQUEST_BULK_RUNS)
def new_bulk_run(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SelectionForm(request.POST, request.FILES)
        if form.is_valid():
            with transaction.atomic():  # the worker starts once the audit event is written
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
        run.selection_key = selection_key(run.source, run.query)
    else:
        upload = data["users_file"]
        run.selection_key = selection_key(run.source, file=upload)
        run.list_name = str(upload.name)[:255]
        run.list_lines = data["list_lines"]
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


POLLED = (
    BulkRunStatus.SELECTING,
    BulkRunStatus.PREVIEWING,
    BulkRunStatus.QUEUED,
    BulkRunStatus.RUNNING,
)
SAMPLE_PER_PAGE = 25


def allowed_actions(request: HttpRequest) -> list[tuple[str, str]]:
    return [(a.name, a.title) for a in bulk.ACTIONS.values() if can(request.user, a.capability)]


def _run(pk: int) -> BulkRun:
    bulk.expire_pending(pk=pk)
    return get_object_or_404(BulkRun.objects.select_related("export"), pk=pk, tenant=tenant_slug())


@requires(Capability.REQUEST_BULK_RUNS)
@vary_on_headers("HX-Request")
def bulk_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(pk)
    if wants_partial(request):
        if run.status not in POLLED:
            # The whole page changes once the worker is done: htmx reloads it.
            return HttpResponseClientRefresh()
        context = {"run": run, "progress": bulk_execute.progress(run)}
        return render(request, "users_admin/bulk_run.html#status", context)
    form = None
    choosable = run.status in (BulkRunStatus.SELECTED, BulkRunStatus.PREVIEWED)
    if choosable and run.source != BulkRun.Source.UNDO:
        initial = {"action": run.action, "reason": run.reason, "ticket": run.ticket}
        if run.action == "metadata":
            initial.update(which=run.params.get("which"), patch=_json(run.params.get("patch")))
        form = ActionChoiceForm(initial=initial, actions=allowed_actions(request))
    return render(request, "users_admin/bulk_run.html", _page_context(request, run, form))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _page_context(
    request: HttpRequest, run: BulkRun, form: ActionChoiceForm | None
) -> dict[str, Any]:
    entries = Paginator(run.entries.all(), ENTRIES_PER_PAGE).get_page(request.GET.get("entries"))
    context: dict[str, Any] = {
        "run": run,
        "form": form,
        "entries": entries,
        "entries_nav": nav(request, entries, "entries"),
        "entry_rows": _shown_entries(request, entries.object_list),
        "items": pii.shown_items(request.user, bulk_rows.items_between(run, 0, ENTRIES_PER_PAGE))
        if run.status == "selected"
        else [],
        "progress": bulk_execute.progress(run),
        "failed_count": (run.outcomes or {}).get("failed", 0),
        "undoable": run.action in bulk.INVERSE
        and run.status in (BulkRunStatus.DONE, BulkRunStatus.CANCELLED)
        and bool((run.outcomes or {}).get("done")),
    }
    context.update(
        may_decide=run.status == BulkRunStatus.PENDING and may_approve_bulk_run(request.user, run),
        reject_form=RejectForm(),
        confirm_form=ask_tenant_name(forms.Form()),
        approval_threshold=settings.BULK_APPROVAL_THRESHOLD,
        approval_ttl=settings.BULK_APPROVAL_TTL,
    )
    if run.action and run.change_count is not None:
        action = bulk.ACTIONS[run.action]
        pages = bulk_rows.ItemPages(run)
        sample = Paginator(pages, SAMPLE_PER_PAGE).get_page(request.GET.get("sample"))
        for item in sample.object_list:
            item.before, item.after = bulk.planned(run, item)
        context.update(
            action=action,
            sample=sample,
            sample_rows=pii.shown_items(request.user, sample.object_list),
            sample_nav=nav(request, sample, "sample"),
            skipped=sum(run.skip_counts.values()),
        )
    return context


def _shown_entries(request: HttpRequest, entries: Any) -> list[dict[str, Any]]:
    """The list's lines that select nobody, masked as the user page masks personal data."""
    masked = not can(request.user, Capability.SEE_PERSONAL_DATA)
    rows = []
    for entry in entries:
        text, candidates = entry.entry, list(entry.candidates or [])
        if masked:
            text, candidates = pii.shown_entry(text, candidates)
        rows.append(
            {
                "line": entry.line,
                "entry": text,
                "problem": entry.get_problem_display(),
                "candidates": candidates,
            }
        )
    return rows


@requires(Capability.REQUEST_BULK_RUNS)
@require_POST
def bulk_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose the run's action and reason; a worker prepares the preview."""
    run = _run(pk)
    form = ActionChoiceForm(request.POST, actions=allowed_actions(request))
    if run.status not in bulk.CHOOSABLE:
        return redirect("users_admin:bulk_run", run.pk)
    if not form.is_valid():
        # The page again, its form in error (200, as the new run's form: a 400 is a console
        # error in the browser for what is only a typo).
        context = _page_context(request, run, form)
        return render(request, "users_admin/bulk_run.html", context)
    action = bulk.ACTIONS[form.cleaned_data["action"]]
    require(request.user, action.capability)
    data = form.cleaned_data
    with transaction.atomic():
        if not bulk.choose(run, action, data["params"], data["reason"], data["ticket"]):
            return redirect("users_admin:bulk_run", run.pk)
        preview_bulk_run.delay_on_commit(run.pk, run.preview_version)
        record(
            request,
            "bulk.previewed",
            target=str(run),
            bulk_action=action.name,
            reason=run.reason,
            **({"ticket": run.ticket} if run.ticket else {}),
            **({"params": run.params} if run.params else {}),
        )
    return redirect("users_admin:bulk_run", run.pk)


@requires(Capability.REQUEST_BULK_RUNS)
@require_POST
def bulk_request(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask for the previewed run: it waits for a second lead's approval, or is queued."""
    run = _run(pk)
    refused = _unconfirmed(request, run)
    if refused:
        return refused
    with transaction.atomic():
        problem = bulk.request_run(run, request.user)
        if problem:
            messages.error(request, problem)
            return redirect("users_admin:bulk_run", run.pk)
        record_requested(request, run)
        if run.status == BulkRunStatus.QUEUED:
            execute_bulk_run.delay_on_commit(run.pk)
            return redirect("users_admin:bulk_run", run.pk)
    # The page opens at its Approval section, which says the run now waits (below the preview,
    # a screen or more down: at the top nothing showed the request had been made).
    response = redirect("users_admin:bulk_run", run.pk)
    response["Location"] += "#bulk-decision"
    return response


def record_requested(request: HttpRequest, run: BulkRun) -> None:
    record(
        request,
        "bulk.requested",
        target=str(run),
        bulk_action=run.action,
        users=run.change_count,
        reason=run.reason,
        needs_approval=run.status == BulkRunStatus.PENDING,
    )


def _decidable(request: HttpRequest, pk: int) -> BulkRun:
    run = _run(pk)
    if not may_approve_bulk_run(request.user, run):
        raise PermissionDenied("Only another staff member allowed to approve may decide this run.")
    return run


@requires(Capability.APPROVE_BULK_RUNS)
@require_POST
def bulk_approve(request: HttpRequest, pk: int) -> HttpResponse:
    run = _decidable(request, pk)
    refused = _unconfirmed(request, run)
    if refused:
        return refused
    return _decide(request, run, lambda: bulk.approve(run, request.user), "bulk.approved")


def _unconfirmed(request: HttpRequest, run: BulkRun) -> HttpResponse | None:
    """On a production tenant, starting a run (its request, its approval) asks for the tenant's
    name, typed (users_admin.action_forms.ask_tenant_name); the page again when it is wrong."""
    confirm = ask_tenant_name(forms.Form(request.POST))
    if confirm.is_valid():
        return None
    context = _page_context(request, run, None) | {"confirm_form": confirm}
    return render(request, "users_admin/bulk_run.html", context)


@requires(Capability.APPROVE_BULK_RUNS)
@require_POST
def bulk_reject(request: HttpRequest, pk: int) -> HttpResponse:
    run = _decidable(request, pk)
    form = RejectForm(request.POST)
    if not form.is_valid():
        context = _page_context(request, run, None) | {"reject_form": form}
        return render(request, "users_admin/bulk_run.html", context)
    why = " ".join(str(form.cleaned_data["reason"]).split())
    return _decide(request, run, lambda: bulk.reject(run, request.user, why), "bulk.rejected")


def _decide(
    request: HttpRequest, run: BulkRun, decide: Callable[[], bool], event: str
) -> HttpResponse:
    with transaction.atomic():
        if not decide():
            messages.error(request, f"Run #{run.pk} is no longer waiting for approval.")
            return redirect("users_admin:bulk_run", run.pk)
        record(
            request,
            event,
            target=str(run),
            bulk_action=run.action,
            users=run.change_count,
            requested_by=run.requested_by_label,
            reason=run.reason,
            **({"why": run.rejection_reason} if run.rejection_reason else {}),
        )
        if run.status == BulkRunStatus.QUEUED:
            execute_bulk_run.delay_on_commit(run.pk)
    return redirect("users_admin:bulk_run", run.pk)


@requires(Capability.REQUEST_BULK_RUNS)
@require_POST
def bulk_control(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Pause, resume or cancel a run from its page."""
    run = _run(pk)
    user = request.user.get_username()
    changes = {
        "pause": lambda: bulk_execute.pause(run),
        "resume": lambda: bulk_execute.resume(run),
        "cancel": lambda: bulk_execute.cancel(run, by=user),
    }
    if verb not in changes:
        raise Http404("No such change")
    with transaction.atomic():
        if not changes[verb]():
            messages.error(request, f"Run #{run.pk} is {run.get_status_display().lower()}.")
            return redirect("users_admin:bulk_run", run.pk)
        record(request, f"bulk.{verb}d" if verb != "cancel" else "bulk.cancelled", str(run))
        if run.status == BulkRunStatus.QUEUED:
            execute_bulk_run.delay_on_commit(run.pk)
    return redirect("users_admin:bulk_run", run.pk)


@requires(Capability.REQUEST_BULK_RUNS)
def bulk_results(request: HttpRequest, pk: int) -> HttpResponse:
    """Every user of the run with its outcome, as CSV (audited)."""
    run = _run(pk)
    record(request, "bulk.results_downloaded", str(run), users=run.selected_count)
    masked = pii.masks_bulk_results(request.user)
    response = StreamingHttpResponse(
        bulk_execute.result_rows(run, masked=masked), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="bulk-run-{run.pk}-results.csv"'
    return response  # type: ignore[return-value]


@requires(Capability.REQUEST_BULK_RUNS)
@require_POST
def bulk_retry(request: HttpRequest, pk: int) -> HttpResponse:
    """A new run of the same action on the users this one failed, previewed as any run."""
    return _follow_up(request, pk, bulk_execute.retry_failed, "retry", "no failed user to retry")


@requires(Capability.REQUEST_BULK_RUNS)
@require_POST
def bulk_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """A new run that restores what this one changed, previewed and approved as any run."""
    return _follow_up(
        request, pk, bulk_execute.undo_run, "undo", "changed nobody: nothing to put back"
    )


def _follow_up(
    request: HttpRequest,
    pk: int,
    make: Callable[[BulkRun, Any], BulkRun | None],
    source: str,
    nothing: str,
) -> HttpResponse:
    run = _run(pk)
    with transaction.atomic():
        child = make(run, request.user)
        if child is None:
            messages.error(request, f"Run #{run.pk} has {nothing}.")
            return redirect("users_admin:bulk_run", run.pk)
        preview_bulk_run.delay_on_commit(child.pk, child.preview_version)
        record(request, "bulk.created", str(child), source=source, **{f"{source}_of": str(run)})
    return redirect("users_admin:bulk_run", child.pk)
