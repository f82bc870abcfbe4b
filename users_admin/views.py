from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms import BaseFormSet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.text import Truncator
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

import management_api
from config.htmx import StaffRequest, wants_partial
from config.params import whole_number
from management_api import (
    LOGS_WINDOW,
    LogPage,
    ManagementApiError,
    PermanentError,
    SearchPage,
    TransientError,
    concurrently,
    current_tenant,
    get_job,
    user_logs,
)
from management_api.support import LOGS_PER_PAGE
from staff import audit
from staff.audit import record
from staff.models import AuditEvent
from staff.permissions import (
    Capability,
    can,
    may_delete_saved_search,
    require,
    requires,
    tenants_where,
)

from . import bulk, bulk_views, linking, pii, timeline, workbench
from . import search as searching
from .access import as_dict
from .actions import ACTIONS, PANEL_SECTIONS, Action, Place, Section, page_reads
from .execution import execute, removal, verification_sent
from .forms import (
    COLUMNS,
    ConditionFormSet,
    LookupForm,
    SaveSearchForm,
    SearchForm,
    empty_result_hints,
    presets,
    rows_lucene,
    search_query,
)
from .lookup import lookup_email, lookup_everywhere
from .models import RecentSearch, SavedSearch, submitted
from .rows import ROW_PREFIX, edited_rows, with_management_form
from .saved import remember, search_query_string
from .workbench import Workbench

TEMPLATE = "users_admin/search.html"


def busy_message(error: ManagementApiError) -> str:
    if isinstance(error, TransientError):
        seconds = max(1, math.ceil(error.retry_after_seconds))
        return f"Auth0 is busy, try again in {seconds} second{'s' if seconds != 1 else ''}."
    return str(error)


def _export_link(form: SearchForm, q: str, connections: list[dict[str, Any]]) -> str:
    params: dict[str, str] = {}
    chosen = form.cleaned_data.get("connection") or ""
    for connection in connections:
        if connection["name"] == chosen:
            params["connection"] = str(connection["id"])
    columns = ["user_id", *(c for c in form.cleaned_data["columns"] if c != "user_id")]
    params["fields"] = ",".join(
        "identities[0].connection" if c == "identities" else c for c in columns
    )
    params["q"] = q
    return reverse("exports:new") + "?" + urlencode(params)


def _submitted(params: QueryDict) -> bool:
    return "mode" in params or "q" in params or any(k.startswith(f"{ROW_PREFIX}-") for k in params)


def _switched(data: QueryDict, mode: str) -> QueryDict:
    """Builder <-> Advanced keeps what was typed: the rows ride along hidden in Advanced mode,
    and an empty Lucene box starts from what the rows say."""
    data = data.copy()
    data["mode"] = mode
    data.pop("switch", None)
    if mode == "advanced" and not str(data.get("q", "")).strip():
        rows = ConditionFormSet(data, prefix=ROW_PREFIX)
        data["q"] = rows_lucene(rows, str(data.get("join") or "AND")) or ""
    return data


@requires(Capability.SEARCH_USERS)
@vary_on_headers("HX-Request")
def search(request: StaffRequest) -> HttpResponse:
    submitted = _submitted(request.GET)
    data = with_management_form(request.GET) if submitted else request.GET
    # A history restore (Back after the snapshot was evicted) needs the whole page.
    partial = wants_partial(request)
    target = request.htmx.target if partial else None
    wants_results_only = partial and target not in ("builder", "search-form")
    # A results-only answer also refreshes, out of band, the recent searches and (to show its
    # errors at the rows) the builder.
    context: dict[str, Any] = {
        "columns": COLUMNS,
        "presets": presets(),
        "oob": wants_results_only,
    }

    connections: list[dict[str, Any]] = []
    if not wants_results_only:
        try:
            connections = management_api.connections()
        except ManagementApiError as exc:
            context["connections_error"] = busy_message(exc)
        context.update(_remembered(request))

    switch = data.get("switch", "")
    if switch in ("builder", "advanced"):
        data = _switched(data, switch)
    form = SearchForm(data if submitted else None, connections=[c["name"] for c in connections])

    editing = "add_row" in data or "remove_row" in data or bool(switch)
    if editing or not submitted:
        remove = whole_number(data.get("remove_row"))
        rows = edited_rows(data, add="add_row" in data, remove=remove)
        formset = ConditionFormSet(prefix=ROW_PREFIX, initial=rows)
        # Focus where the agent types next: a new row's field, else the first value.
        _focus(formset, last="add_row" in data)
        context.update(form=form, rows=formset)
        if partial and target == "builder":
            return render(request, f"{TEMPLATE}#builder", context)
        return render(request, TEMPLATE, context)

    rows_formset = ConditionFormSet(data, prefix=ROW_PREFIX)
    query, errors = search_query(form, rows_formset)
    context.update(form=form, rows=rows_formset, query=query, form_errors=errors)
    if not partial:
        _focus(rows_formset, last=False)
    if query is not None:
        recent = context.get("recent_searches")  # read above for a whole page
        context.update(_search_results(request, form, rows_formset, query, connections, recent))
    template = f"{TEMPLATE}#results" if wants_results_only else TEMPLATE
    return render(request, template, context)


def _focus(rows: BaseFormSet[Any], *, last: bool) -> None:
    if not rows.forms:
        return
    row = rows.forms[-1] if last else rows.forms[0]
    name = "field" if last else "value"
    # A refused row: its first field in error (bound rows were cleaned by search_query).
    for refused in rows.forms if rows.is_bound else ():
        errors = [field for field in refused.fields if field in refused.errors]
        if errors:
            row, name = refused, errors[0]
            break
    row.fields[name].widget.attrs["autofocus"] = True


def _remembered(request: HttpRequest) -> dict[str, Any]:
    """The saved searches this staff member sees, and their recent ones (full pages only)."""
    saved = list(SavedSearch.objects.visible_to(request.user).select_related("owner"))
    for entry in saved:
        entry.deletable = may_delete_saved_search(request.user, entry)  # type: ignore[attr-defined]
    return {
        "saved_searches": saved,
        "recent_searches": list(RecentSearch.objects.of(request.user)),
    }


def _search_results(
    request: HttpRequest,
    form: SearchForm,
    rows: BaseFormSet[Any],
    query: str,
    connections: list[dict[str, Any]],
    recent: list[RecentSearch] | None = None,
) -> dict[str, Any]:
    """Run the search (recording it) and what the results partial shows of it; `recent`, the
    recent searches when the page read them already."""
    data = form.cleaned_data
    reopen = search_query_string(request.GET)
    context: dict[str, Any] = {"reopen_query_string": reopen, "save_form": SaveSearchForm()}
    if data["mode"] != "advanced":
        context["rows_query"] = rows_lucene(rows, data["join"])
    try:
        result = searching.run_search(
            query,
            page=data["page"],
            per_page=data["per_page"],
            sort=form.sort_param(),
            fields=searching.requested_fields(data["columns"]),
            fresh="refresh" in request.GET,
        )
    except ManagementApiError as exc:
        context["query_error"] = busy_message(exc)
        context["busy"] = isinstance(exc, TransientError)
    else:
        context["result"] = result
        page_url = _page_urls(request)
        context["rows_shown"] = searching.result_rows(
            pii.masked_users(
                request.user,
                [searching.shown_part(user, data["columns"]) for user in result.page.users],
            ),
            data["columns"],
            COLUMNS,
            back=page_url(result.page.page).removeprefix("?"),
        )
        context.update(_page_links(request, result.page, page_url))
        if not result.page.users and result.page.page == 0:
            context["hints"] = empty_result_hints(form, rows)
        if result.page.capped:
            if not connections and data.get("connection"):
                try:
                    connections = management_api.connections()
                except ManagementApiError:
                    connections = []
            context["export_link"] = _export_link(form, query, connections)
        context["recent_searches"] = remember(request.user, reopen, query, recent)  # type: ignore[arg-type]
    record(
        request,
        "users.search",
        target=query,
        page=data["page"],
        per_page=data["per_page"],
        sort=form.sort_param() or "",
        outcome="error" if "query_error" in context else "ok",
    )
    return context


def _page_urls(request: HttpRequest) -> Callable[[int], str]:
    """This very search's URL on page `number`: the query string is encoded once per request,
    then only `page` changes (it keeps its place among the parameters; `refresh` is dropped)."""
    before, after = QueryDict(mutable=True), QueryDict(mutable=True)
    side = before
    for name, values in request.GET.lists():
        if name == "page":
            side = after
        elif name != "refresh":
            side.setlist(name, values)
    head, tail = before.urlencode(), after.urlencode()
    head = head + "&" if head else ""
    tail = "&" + tail if tail else ""
    return lambda number: f"?{head}page={number}{tail}"


def _page_links(
    request: HttpRequest, page: SearchPage, page_url: Callable[[int], str]
) -> dict[str, Any]:
    """Previous/next and numbered links within Auth0's window: this very search on another page."""
    links: dict[str, Any] = {}
    for name, number, present in (
        ("previous", page.page - 1, page.has_previous),
        ("next", page.page + 1, page.has_next),
    ):
        if present:
            links[name] = page_url(number)
    numbers: list[dict[str, Any]] = []
    last = page.page_count - 1
    shown = sorted({0, last, *range(page.page - 2, page.page + 3)} & set(range(last + 1)))
    for index, number in enumerate(shown):
        if index and number - shown[index - 1] > 1:
            numbers.append({"gap": True})
        numbers.append(
            {"label": number + 1, "current": number == page.page, "url": page_url(number)}
        )
    refresh = request.GET.copy()
    refresh["refresh"] = "1"
    return {
        "page_links": links,
        "page_numbers": numbers if len(numbers) > 1 else [],
        "refresh_url": "?" + refresh.urlencode(),
        "this_url": page_url(page.page),
    }


@requires(Capability.SEARCH_USERS)
@require_POST
def save_search(request: HttpRequest) -> HttpResponse:
    form = SaveSearchForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, f"The search was not saved: {error}")
        back = str(request.POST.get("query_string", ""))
        return redirect(reverse("users_admin:search") + ("?" + back if back else ""))
    saved, created = SavedSearch.objects.update_or_create(
        owner_id=request.user.pk,
        tenant=current_tenant().slug,
        name=form.cleaned_data["name"],
        defaults={
            "query_string": form.cleaned_data["query_string"],
            "shared": form.cleaned_data["shared"],
        },
    )
    record(
        request,
        audit.SEARCH_SAVED,
        target=saved.name,
        created=created,
        shared=saved.shared,
        query_string=saved.query_string,
    )
    shared = " and shared it with the team" if saved.shared else " (only you see it)"
    messages.success(request, f"{'Saved' if created else 'Updated'} “{saved.name}”{shared}.")
    return redirect(saved.url)


@requires(Capability.SEARCH_USERS)
@require_POST
def delete_saved_search(request: HttpRequest, pk: int) -> HttpResponse:
    saved = SavedSearch.objects.visible_to(request.user).filter(pk=pk).first()
    if saved is None:
        messages.info(request, "That saved search is already gone.")
        return redirect("users_admin:search")
    if not may_delete_saved_search(request.user, saved):
        raise PermissionDenied("Only the staff member who saved a search can delete it.")
    saved.delete()
    record(request, audit.SEARCH_DELETED, target=saved.name, query_string=saved.query_string)
    messages.success(request, f"Deleted the saved search “{saved.name}”.")
    return redirect("users_admin:search")


@requires(Capability.SEARCH_USERS)
def lookup(request: HttpRequest) -> HttpResponse:
    searchable = tenants_where(request.user, Capability.SEARCH_USERS)
    form = LookupForm(request.GET or None, several_tenants=len(searchable) > 1)
    context: dict[str, Any] = {"form": form}
    if form.is_valid() and form.cleaned_data.get("every_tenant"):
        address = form.cleaned_data["email"]
        context["across"] = across = lookup_everywhere(address, searchable, busy_message)
        record(
            request,
            "users.lookup",
            target=address,
            tenants=", ".join(
                f"{answer.tenant.slug}: {len(answer.found) if answer.result else 'error'}"
                for answer in across
            ),
        )
    elif form.is_valid():
        address = form.cleaned_data["email"]
        try:
            context["result"] = result = lookup_email(address)
        except ManagementApiError as exc:
            context["lookup_error"] = busy_message(exc)
            record(request, "users.lookup", target=address, outcome="error")
        else:
            record(
                request,
                "users.lookup",
                target=address,
                matches=len(result.users),
                lowercased=result.lowercased,
                other_case=len(result.other_case),
            )
    return render(request, "users_admin/lookup.html", context)


def _user_or_error(
    request: HttpRequest,
    user_id: str,
    *,
    logs_page: int = 0,
    reads: Iterable[str] = (),
    meanwhile: Callable[[], object] | None = None,
) -> tuple[Workbench | None, HttpResponse | None]:
    """The user's workbench, or the page that says why there is none (404, 502, 503).

    `reads`: what the actions to be offered look at besides what the page always shows."""
    try:
        bench = workbench.load(
            user_id,
            logs_page=logs_page,
            devices="sessions" in reads,
            reads=reads,
            meanwhile=meanwhile,
        )
    except PermanentError as exc:
        # Auth0 answers 400 for an id it cannot even parse: for the agent that is "no such user".
        record(request, "users.view", target=user_id, found=False, error=exc.message)
        if exc.status == 400:
            return None, render(
                request,
                "users_admin/not_found.html",
                {"user_id": user_id, "message": exc.message},
                status=404,
            )
        return None, render(
            request,
            "users_admin/detail.html",
            {"user_id": user_id, "load_error": str(exc)},
            status=502,
        )
    except TransientError as exc:
        record(request, "users.view", target=user_id, outcome="error")
        return None, render(
            request,
            "users_admin/detail.html",
            {"user_id": user_id, "load_error": busy_message(exc)},
            status=503,
        )
    if bench is None:
        record(request, "users.view", target=user_id, found=False)
        context = {"user_id": user_id, "removal": removal(user_id)}
        return None, render(request, "users_admin/not_found.html", context, status=404)
    return bench, None


def _offered(request: HttpRequest, bench: Workbench) -> dict[str, Action]:
    """The actions that apply to this user and that this staff member may take."""
    return {
        name: action
        for name, action in ACTIONS.items()
        if action.applies(bench) and can(request.user, action.capability)
    }


@dataclass(frozen=True)
class Button:
    """One offered action's button on the user page (templates/users_admin/_action_button.html)."""

    action: Action
    text: str
    url: str

    @classmethod
    def of(cls, action: Action, place: Place, user_id: str) -> Button:
        url = reverse("users_admin:action", args=[action.name, user_id])
        return cls(
            action, place.text or action.title, f"{url}?{place.query}" if place.query else url
        )


def _buttons(offered: dict[str, Action], user_id: str) -> dict[str, list[Button]]:
    """Each section of the user page -> the buttons the offered actions place there."""
    sections: dict[str, list[Button]] = {}
    for action in offered.values():
        for place in action.places:
            sections.setdefault(place.section, []).append(Button.of(action, place, user_id))
    return sections


def _fixes(offered: dict[str, Action], bench: Workbench) -> dict[str, Button]:
    """Each of the user's problems -> the button of the offered action that fixes it."""
    return {
        problem.key: Button.of(action, Place(Section.STATUS), bench.user_id)
        for problem in bench.problems
        for action in offered.values()
        if problem.key in action.fixes
    }


@requires(Capability.SEARCH_USERS)
def detail(request: HttpRequest, user_id: str) -> HttpResponse:
    audit: list[AuditEvent] = []
    views = request.GET.get("views") != "hide"
    # Userdesk's own events about the user are read while the Auth0 calls are out.
    # What the offered buttons need; the access panels read their own when opened.
    reads = page_reads(a for a in ACTIONS.values() if can(request.user, a.capability))
    bench, failed = _user_or_error(
        request,
        user_id,
        reads=reads,
        meanwhile=lambda: audit.extend(timeline.audit_events(user_id, views=views)),
    )
    if failed is not None:
        return failed
    assert bench is not None
    masking = pii.masking_for(request.user, user_id)
    shown = pii.masked_bench(bench, masking)
    entries, until = timeline.merged(user_id, shown.logs.value, audit=audit, views=views)
    record(request, "users.view", target=user_id, found=True)
    offered = _offered(request, bench)
    return render(
        request,
        "users_admin/detail.html",
        {
            "user_id": user_id,
            "bench": shown,
            "profile": shown.profile,
            "masking": masking,
            "offered": offered,
            "buttons": _buttons(offered, user_id),
            "fixes": _fixes(offered, bench),
            "linked": linking.identities(shown.profile),
            "entries": entries,
            **_timeline_links(user_id, 0, until, views=views),
            "logs_error": workbench.unavailable(bench.logs, "the logs"),
            "blocks_error": workbench.unavailable(bench.blocks, "brute-force blocks"),
            "methods_error": workbench.unavailable(bench.methods, "MFA methods"),
            "retention_days": current_tenant().log_retention_days,
            # Access panels to open at once (?open=roles: "Reload the user" after a change).
            "opened": set(request.GET.getlist("open")) & PANEL_SECTIONS,
        },
    )


def _until(value: str) -> datetime | None:
    """The timeline's `until` (a time our own links carry); a malformed one is no such page."""
    if not value:
        return None
    try:
        until = parse_datetime(value)
    except ValueError:
        until = None
    if until is None:
        raise Http404("No such point in the timeline")
    return until


TIMELINE_PAGES = LOGS_WINDOW // LOGS_PER_PAGE


def _timeline_links(
    user_id: str, number: int, until: datetime | None, *, views: bool
) -> dict[str, Any]:
    """The timeline's page indication, its older/newest links and the views filter's link."""
    return {
        "page_number": number,
        "page_label": number + 1,
        "first_event": number * LOGS_PER_PAGE + 1,
        "older_url": timeline.older_url(user_id, number, until, views=views),
        "newest_url": timeline.timeline_url(user_id, views=views),
        "views_shown": views,
        "views_url": timeline.timeline_url(user_id, views=not views),
    }


def _timeline_page(value: str | None) -> int | None:
    """The timeline's `page` (0 is the newest): None for what is not a page Auth0 can show."""
    if value is None or value == "":
        return 0
    number = whole_number(value)
    return number if number is not None and number < TIMELINE_PAGES else None


@requires(Capability.SEARCH_USERS)
@vary_on_headers("HX-Request")
def user_timeline(request: StaffRequest, user_id: str) -> HttpResponse:
    views = request.GET.get("views") != "hide"
    partial = wants_partial(request)
    template = "users_admin/_timeline.html#timeline" if partial else "users_admin/timeline.html"
    number = _timeline_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "user_id": user_id,
        "retention_days": current_tenant().log_retention_days,
    }
    until: datetime | None = None
    bad = "page" if number is None else ""
    if number is not None:
        try:
            until = _until(request.GET.get("until", ""))
        except Http404:
            bad = "until"
    if number is None or bad:
        # The timeline's own page saying which pages exist (not a bare 404, nor with DEBUG on
        # Django's technical page), for a page or an `until` that no link of ours carries.
        context.update(_timeline_links(user_id, 0, None, views=views))
        context["page_error"] = (
            f"There is no timeline {'page' if bad == 'page' else 'point'} "
            f"“{Truncator(request.GET[bad]).chars(20)}”: pages go from 0 (the newest) "
            f"to {TIMELINE_PAGES - 1}, as Auth0 pages through the newest {LOGS_WINDOW:,} events."
        )
        return render(request, template, context, status=404)
    calls: dict[str, Callable[[], Any]] = {"logs": lambda: user_logs(user_id, page=number)}
    if number and until is None:
        # A page typed by hand: its newer bound is the previous page's oldest event.
        index = number * LOGS_PER_PAGE - 1
        calls["ceiling"] = lambda: user_logs(user_id, page=index, per_page=1)
    results = concurrently(calls)
    logs: LogPage | None = results["logs"].value
    logs_error = ""
    if results["logs"].error is not None:
        logs_error = f"Could not read the logs: {busy_message(results['logs'].error)}"
    ceiling = results.get("ceiling")
    if ceiling is not None and ceiling.value is not None and ceiling.value.events:
        until = parse_datetime(str(ceiling.value.events[0].get("date") or "")) or until
    logs = pii.masked_logs(logs, pii.masking_for(request.user, user_id))
    entries, next_until = timeline.merged(user_id, logs, until=until, views=views)
    record(request, audit.TIMELINE_VIEWED, target=user_id, page=number)
    context.update(
        entries=entries,
        logs=logs,
        logs_error=logs_error,
        past_the_end=logs is not None and number > 0 and not logs.events,
        **_timeline_links(user_id, number, next_until, views=views),
    )
    return render(request, template, context)


@vary_on_headers("HX-Request")
def user_action(request: StaffRequest, name: str, user_id: str) -> HttpResponse:
    action = ACTIONS.get(name)
    if action is None:
        raise Http404("No such action")
    require(request.user, Capability.SEARCH_USERS)
    require(request.user, action.capability)
    bench, failed = _user_or_error(request, user_id, reads=action.reads)
    if failed is not None:
        return failed
    assert bench is not None
    masking = pii.masking_for(request.user, user_id)
    if masking.masked and action.shows_personal_data:
        raise PermissionDenied(
            f"“{action.title}” shows this user's personal data: reveal it first (on the user "
            "page, with a reason), or ask a colleague whose role sees personal data."
        )
    shown = pii.masked_bench(bench, masking)
    context: dict[str, Any] = {
        "user_id": user_id,
        "bench": shown,
        "action": action,
        "effect": action.effect.format(user=shown.label),
        # Its access panel, opened again on "Reload the user" (access_views.py).
        "reopen": next((p.section for p in action.places if p.section in PANEL_SECTIONS), ""),
    }
    template = "users_admin/action.html"
    if wants_partial(request):
        template += "#panel"
    if request.method == "POST":
        posted = request.POST.get("user_id")
        if posted is not None and posted != user_id:
            # The form was shown for another user than the URL it was sent to names (a 400,
            # but 200 to htmx, which swaps no error into the panel).
            context["wrong_user"] = posted
            return render(request, template, context, status=200 if request.htmx else 400)
        form = action.form(bench, request.POST)
        if not form.editing and form.is_valid():
            data = form.action_data()
            if form.previewing:
                record(request, audit.ACTION_PREVIEWED, target=user_id, support_action=action.name)
                context.update(form=form, preview=True)
                return render(request, template, context)
            # A replay shows the first outcome even though the action may no longer apply.
            reason = action.applies_to(bench)
            if reason is not None and not submitted(form.cleaned_data["token"]):
                context["not_applicable"] = reason
                return render(request, template, context)
            if action.name == "delete" and settings.USERDESK_DELETE_NEEDS_APPROVAL:
                return _delete_run(request, bench, str(form.cleaned_data["reason"]))
            context["done"] = done = execute(request, action, bench, form, data)
            if not done.ok and done.field in form.fields:
                # Auth0 refused one field: the form again, the refusal at that field, a new
                # token (this one is spent on the refused request, which the audit keeps).
                context["done"] = None
                context["form"] = form = action.form(bench, _with_new_token(request.POST))
                form.is_valid()
                form.add_error(done.field, done.message)
            return render(request, template, context)
        context["form"] = form
        return render(request, template, context)
    reason = action.applies_to(bench)
    if reason is not None:  # said before anything is typed
        context["not_applicable"] = reason
        return render(request, template, context)
    context["form"] = action.form(bench, params=request.GET)
    record(request, audit.ACTION_OPENED, target=user_id, support_action=action.name)
    return render(request, template, context)


def _with_new_token(data: QueryDict) -> QueryDict:
    fresh = data.copy()
    fresh["token"] = str(uuid.uuid4())
    return fresh


def _delete_run(request: StaffRequest, bench: Workbench, reason: str) -> HttpResponse:
    """USERDESK_DELETE_NEEDS_APPROVAL: the delete becomes a one-user bulk run that waits for a
    second lead's approval; its page says so."""
    with transaction.atomic():
        run, problem = bulk.one_user_delete(request.user, bench.user_id, bench.profile, reason)
        if problem:
            messages.error(request, problem)
        else:
            bulk_views.record_requested(request, run)
    url = reverse("users_admin:bulk_run", args=[run.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@requires(Capability.RESEND_VERIFICATION)
@vary_on_headers("HX-Request")
def verification_job(request: StaffRequest, job_id: str) -> HttpResponse:
    """Where a verification email job stands; the outcome panel polls it until it settles.
    Only for the staff member who sent it, about the user it was sent to (from the audit log)."""
    sent = verification_sent(request.user, job_id)
    if sent is None:
        raise Http404("No verification email of yours has this job id")
    user_id = sent.target
    try:
        job = get_job(job_id)
    except ManagementApiError as exc:
        context: dict[str, Any] = {"job_error": busy_message(exc)}
    else:
        if job is None or job.get("type", "verification_email") != "verification_email":
            raise Http404("No such verification email job")
        context = {"job": job, "failure": ""}
        if job.get("status") == "failed" and user_id:
            # Auth0's sentence ends in a period of its own; the template ends it once.
            context["failure"] = _email_failure(user_id).rstrip(". ")
    context.update(job_id=job_id, user_id=user_id)
    partial = wants_partial(request)
    template = "users_admin/job.html#job" if partial else "users_admin/job.html"
    response = render(request, template, context)
    settled = "job" in context and context["job"].get("status") in {"completed", "failed"}
    if not partial or settled:  # a look, not each poll while it runs
        record(request, audit.JOB_VIEWED, target=user_id or f"job {job_id}", job=job_id)
    if partial and settled:
        return HttpResponseStopPolling(response.content)
    return response


def _email_failure(user_id: str) -> str:
    """Auth0's reason for the newest failed verification email, from the user's logs."""
    try:
        events = user_logs(user_id, per_page=20).events
    except ManagementApiError:
        return ""
    for event in events:
        if event.get("type") in {"fv", "fvr"}:
            reason = as_dict(event.get("details")).get("error") or event.get("description") or ""
            return str(reason)
    return ""
