"""The user page's access panels (Roles and permissions, Organizations, Sessions and refresh
tokens), each read from its own URL when it is opened, as the Auth0 Dashboard loads a tab.

The user page itself makes only its base calls (profile, blocks, MFA methods, logs): the ~7
calls of the panels count against Auth0's "other endpoints" bucket (burst 10 on Essentials and
Professional), so reading them on every view let two agents exhaust it. An action that needs
those reads (assign a role, end a session...) still reads what it needs when its form opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from config.htmx import StaffRequest, wants_partial
from management_api import (
    ManagementApiError,
    Outcome,
    PermanentError,
    concurrently,
    current_tenant,
)
from staff.audit import record
from staff.permissions import Capability, requires

from .access import access_calls
from .actions import ACTIONS, Action, Section, counted
from .views import _buttons, _offered, busy_message
from .workbench import Workbench, device_calls


@dataclass(frozen=True)
class Panel:
    name: str  # in the URL, and the panel's id on the user page
    title: str
    section: Section  # where the actions it offers are placed (Action.places)
    reads: tuple[str, ...]  # what it reads: access.access_calls, workbench.device_calls
    what: dict[str, str]  # each Workbench field it reads -> how to name it in an error


PANELS = {
    panel.name: panel
    for panel in (
        Panel(
            "roles",
            "Roles and permissions",
            Section.ROLES,
            ("roles",),
            {"roles": "the roles", "permissions": "the permissions"},
        ),
        Panel(
            "organizations",
            "Organizations",
            Section.ORGANIZATIONS,
            ("organizations",),
            {"memberships": "the organizations"},
        ),
        Panel(
            "sessions",
            "Sessions and refresh tokens",
            Section.SESSIONS,
            ("sessions",),
            {"sessions": "the sessions", "refresh_tokens": "the refresh tokens"},
        ),
    )
}


def _panel_actions(panel: Panel) -> dict[str, Action]:
    """The actions a panel may offer: those placed in it, and those that read only what it
    reads (sign out everywhere, in the sessions panel)."""
    return {
        name: action
        for name, action in ACTIONS.items()
        if any(place.section == panel.section for place in action.places)
        or (action.reads and set(action.reads) <= set(panel.reads))
    }


def _errors(bench: Workbench, panel: Panel) -> dict[str, str]:
    """Each read that failed -> what to say in the panel (Auth0 down, a 429...)."""
    errors = {}
    for field, what in panel.what.items():
        error = getattr(bench, field).error
        if isinstance(error, ManagementApiError):
            errors[field] = f"Could not read {what}: {busy_message(error)}"
    return errors


def _missing(outcomes: Iterable[Outcome[Any]]) -> bool:
    """Auth0 knows no such user: every read answered 404."""
    found = list(outcomes)
    return bool(found) and all(
        (o.error is None and o.value is None)
        or (isinstance(o.error, PermanentError) and o.error.status == 404)
        for o in found
    )


def _summary(panel: Panel, bench: Workbench, errors: dict[str, str]) -> str:
    """The panel's first sentence, which takes the focus when it loads."""
    if errors:
        return "Auth0 did not answer all of this panel's reads: what it could not read says why."
    if panel.name == "roles":
        roles = counted(len(bench.roles.value or []), "role")
        permissions = counted(len(bench.permissions.value or []), "permission")
        said = f"{roles} assigned directly; {permissions} in effect."
    elif panel.name == "organizations":
        said = f"A member of {counted(len(bench.memberships.value or []), 'organization')}."
    elif current_tenant().plan != "enterprise":
        said = "Auth0 lists sessions on Enterprise plans only."
    else:
        sessions = counted(len(bench.sessions.value or []), "session")
        tokens = counted(len(bench.refresh_tokens.value or []), "refresh token")
        said = f"{sessions} and {tokens}."
    return said[:1].upper() + said[1:]


@requires(Capability.SEARCH_USERS)
@vary_on_headers("HX-Request")
def access_panel(request: StaffRequest, user_id: str, panel: str) -> HttpResponse:
    """One access panel of a user: its body for htmx (the user page's collapsed section), or
    a page of its own (a link followed without JavaScript). Recorded like the user page.
    Its calls share the request's deadline (the lead's integ branch sets one per request)."""
    shown = PANELS.get(panel)
    if shown is None:
        raise Http404("No such panel")
    calls = access_calls(user_id, shown.reads)
    if "sessions" in shown.reads:
        calls.update(device_calls(user_id))  # none on a plan whose Auth0 has no sessions API
    results = concurrently(calls)
    bench = Workbench(user_id=user_id, profile={}, **results)
    partial = wants_partial(request)
    template = "users_admin/access_panel.html" + ("#body" if partial else "")
    context: dict[str, Any] = {"user_id": user_id, "panel": shown, "bench": bench}
    if _missing(results.values()):
        record(request, "users.view", target=user_id, found=False, panel=shown.name)
        context.update(missing=True, summary="No such user at Auth0.")
        # htmx swaps only a 2xx: the panel says it in words either way.
        return render(request, template, context, status=200 if partial else 404)
    errors = _errors(bench, shown)
    record(
        request,
        "users.view",
        target=user_id,
        found=True,
        panel=shown.name,
        **({"outcome": "error"} if errors else {}),
    )
    offered = {
        name: action
        for name, action in _offered(request, bench).items()
        if name in _panel_actions(shown)
    }
    context.update(
        offered=offered,
        buttons=_buttons(offered, user_id),
        errors=errors,
        summary=_summary(shown, bench, errors),
    )
    return render(request, template, context)
