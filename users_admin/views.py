from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from management_api import (
    ManagementApiError,
    PermanentError,
    SearchPage,
    TransientError,
    budget,
    get_user,
)
from staff.audit import record
from staff.permissions import Capability, requires

from . import search as searching
from .forms import COLUMNS, ConditionFormSet, LookupForm, SearchForm, search_query
from .lookup import lookup_email
from .rows import ROW_PREFIX, edited_rows

TEMPLATE = "users_admin/search.html"

View = TypeVar("View", bound=Callable[..., HttpResponse])


def one_deadline(view: View) -> View:
    """Every Management API call of one page view shares AUTH0_DEADLINE_SECONDS."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with budget():
            return view(request, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


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
    return "/exports/new/?" + urlencode(params)


@requires(Capability.SEARCH_USERS)
@vary_on_headers("HX-Request")
@one_deadline
def search(request: HtmxHttpRequest) -> HttpResponse:
    data = request.GET
    # A history restore (Back after the snapshot was evicted) needs the whole page.
    partial = bool(request.htmx) and not request.htmx.history_restore_request
    target = request.htmx.target if partial else None
    wants_results_only = partial and target != "builder"
    context: dict[str, Any] = {"columns": COLUMNS}

    connections: list[dict[str, Any]] = []
    if not wants_results_only:
        try:
            connections = searching.connections()
        except ManagementApiError as exc:
            context["connections_error"] = busy_message(exc)

    submitted = "mode" in data
    form = SearchForm(data if submitted else None, connections=[c["name"] for c in connections])

    editing = "add_row" in data or "remove_row" in data
    if editing or not submitted:
        remove = data.get("remove_row", "")
        rows = edited_rows(
            data, add="add_row" in data, remove=int(remove) if remove.isdigit() else None
        )
        context.update(form=form, rows=ConditionFormSet(prefix=ROW_PREFIX, initial=rows))
        if partial and target == "builder":
            return render(request, f"{TEMPLATE}#builder", context)
        return render(request, TEMPLATE, context)

    rows_formset = ConditionFormSet(data, prefix=ROW_PREFIX)
    query, errors = search_query(form, rows_formset)
    context.update(form=form, rows=rows_formset, query=query, form_errors=errors)
    if query is not None:
        context.update(_search_results(request, form, query, connections))
    template = f"{TEMPLATE}#results" if wants_results_only else TEMPLATE
    return render(request, template, context)


def _search_results(
    request: HttpRequest, form: SearchForm, query: str, connections: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run the search (recording it) and what the results partial shows of it."""
    data = form.cleaned_data
    context: dict[str, Any] = {}
    try:
        result = searching.run_search(
            query,
            page=data["page"],
            per_page=data["per_page"],
            sort=form.sort_param(),
            fields=searching.requested_fields(data["columns"]),
        )
    except ManagementApiError as exc:
        context["query_error"] = busy_message(exc)
        context["busy"] = isinstance(exc, TransientError)
    else:
        context["result"] = result
        context["rows_shown"] = searching.result_rows(result.page.users, data["columns"])
        context["page_links"] = _page_links(request, result.page)
        if result.page.capped:
            if not connections and data.get("connection"):
                try:
                    connections = searching.connections()
                except ManagementApiError:
                    connections = []
            context["export_link"] = _export_link(form, query, connections)
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


def _page_links(request: HttpRequest, page: SearchPage) -> dict[str, str]:
    """Previous/next links: this very search (so it can be shared) on another page."""
    links = {}
    for name, number, present in (
        ("previous", page.page - 1, page.has_previous),
        ("next", page.page + 1, page.has_next),
    ):
        if present:
            params = request.GET.copy()
            params["page"] = str(number)
            links[name] = "?" + params.urlencode()
    return links


@requires(Capability.SEARCH_USERS)
@one_deadline
def lookup(request: HttpRequest) -> HttpResponse:
    form = LookupForm(request.GET or None)
    context: dict[str, Any] = {"form": form}
    if form.is_valid():
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


@requires(Capability.SEARCH_USERS)
@one_deadline
def detail(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        user = get_user(user_id)
    except PermanentError as exc:
        # Auth0 answers 400 for an id it cannot even parse: for the agent that is "no such user".
        record(request, "users.view", target=user_id, found=False, error=exc.message)
        if exc.status == 400:
            return render(
                request,
                "users_admin/not_found.html",
                {"user_id": user_id, "message": exc.message},
                status=404,
            )
        return render(
            request,
            "users_admin/detail.html",
            {"user_id": user_id, "load_error": str(exc)},
            status=502,
        )
    except TransientError as exc:
        record(request, "users.view", target=user_id, outcome="error")
        return render(
            request,
            "users_admin/detail.html",
            {"user_id": user_id, "load_error": busy_message(exc)},
            status=503,
        )
    record(request, "users.view", target=user_id, found=user is not None)
    if user is None:
        return render(request, "users_admin/not_found.html", {"user_id": user_id}, status=404)
    return render(request, "users_admin/detail.html", {"user_id": user_id, "profile": user})
