"""The user page's possible duplicates, read after the page (htmx) or on a page of their own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from config.htmx import StaffRequest, wants_partial
from management_api import ManagementApiError, get_user
from staff.audit import record
from staff.permissions import Capability, can, requires

from .actions import ACTIONS, Place, Section
from .linking import Account, duplicates
from .views import Button, busy_message
from .workbench import Workbench


def _buttons(request: HttpRequest, bench: Workbench, other: Account) -> list[Button]:
    """The offered actions placed beside a duplicate, for that duplicate: into this user, or
    this user into it (the other account kept as the primary)."""
    buttons = []
    twin = Workbench(user_id=other.user_id, profile=other.profile)
    for action in ACTIONS.values():
        if not can(request.user, action.capability):
            continue
        for place in action.places:
            if place.section != Section.DUPLICATES:
                continue
            if action.applies(bench):
                query = f"other={quote(other.user_id, safe='')}"
                buttons.append(
                    Button.of(action, Place(place.section, place.text, query), bench.user_id)
                )
            if action.applies(twin):
                query = f"other={quote(bench.user_id, safe='')}"
                text = "Keep it as the primary, link this user into it"
                buttons.append(Button.of(action, Place(place.section, text, query), other.user_id))
    return buttons


@requires(Capability.SEARCH_USERS)
@vary_on_headers("HX-Request")
def duplicates_view(request: StaffRequest, user_id: str) -> HttpResponse:
    context: dict[str, Any] = {"user_id": user_id, "email": ""}
    status = 200
    try:
        profile = get_user(user_id)
        if profile is None:
            context["error"] = "the user does not exist at Auth0."
            status = 404
        else:
            bench = Workbench(user_id=user_id, profile=profile)
            context["email"] = bench.email
            found, context["search_error"] = duplicates(bench)
            for account in found:
                account.buttons = _buttons(request, bench, account)
            context["accounts"] = found
    except ManagementApiError as exc:
        context["error"] = busy_message(exc)
    partial = wants_partial(request)
    if not partial and context.get("accounts") is not None:
        # Other users' profiles side by side, opened as a page of its own, is a look on the
        # record (inside the user page, that page's view is).
        accounts = [a.user_id for a in context["accounts"]]
        record(request, "users.view", target=user_id, panel="duplicates", accounts=accounts)
    template = (
        "users_admin/_duplicates.html#duplicates" if partial else "users_admin/duplicates.html"
    )
    return render(request, template, context, status=200 if partial else status)
