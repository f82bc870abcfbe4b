"""The forms of the access actions: roles, organization memberships, single sessions and
refresh tokens. Each focuses its first field when the panel opens, and the first field in
error after a refused submit (htmx focuses `autofocus` in what it swaps in)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django import forms

from config.params import whole_number
from management_api import ManagementApiError
from management_api.access import get_role, list_roles

from .access import clients_of, device_words
from .action_forms import ActionForm
from .focus import Checkboxes, Radios

if TYPE_CHECKING:
    from .workbench import Workbench

ROLES_PER_PAGE = 20
MAX_TICKED = 50  # roles ticked beyond the page shown: each is read by id to be named


class AccessForm(ActionForm):
    """An action form that puts the focus where the person types next."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What to act on first, then why: the reason comes last.
        self.order_fields([n for n in self.fields if n not in ("reason", "token")] + ["reason"])
        self._focus(next((n for n, f in self.fields.items() if not f.widget.is_hidden), None))

    def _focus(self, name: str | None) -> None:
        for field in self.fields.values():
            field.widget.attrs.pop("autofocus", None)
        if name is not None:
            self.fields[name].widget.attrs["autofocus"] = True

    def full_clean(self) -> None:
        super().full_clean()
        wrong = [
            name
            for name, field in self.fields.items()
            if name in self.errors and not field.widget.is_hidden
        ]
        if wrong:
            self._focus(wrong[0])


def _chosen(data: Any, params: Mapping[str, str], name: str) -> str:
    source = data if data is not None else params
    return str(source.get(name) or "")


# --- Roles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSearch:
    """The tenant's roles as a role panel lists them: one page of a name search (Auth0's
    `name_filter`, paged with `page`/`per_page`/`include_totals`), so every role is reachable."""

    q: str
    page: int
    total: int
    error: str = ""
    # What else the panel's URL carries: the organization whose roles are changed.
    keep: tuple[tuple[str, str], ...] = ()

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / ROLES_PER_PAGE))

    def url(self, page: int) -> str:
        return "?" + urlencode([*self.keep, ("q", self.q), ("page", str(page))])

    @property
    def previous_url(self) -> str:
        return self.url(self.page - 1) if self.page > 0 else ""

    @property
    def next_url(self) -> str:
        return self.url(self.page + 1) if self.page + 1 < self.pages else ""


def search_roles(data: Any, params: Mapping[str, str], **keep: str) -> tuple[list[Any], RoleSearch]:
    """One page of the tenant's roles for the search typed (`q`, `page`, from the POST or the
    query), and the search that found it (its error when Auth0 did not answer)."""
    q = " ".join(_chosen(data, params, "q").split())[:100]
    page = whole_number(_chosen(data, params, "page")) or 0
    kept = tuple((name, value) for name, value in keep.items() if value)
    try:
        roles, total = list_roles(q, page, ROLES_PER_PAGE)
    except ManagementApiError as exc:
        return [], RoleSearch(q, page, 0, f"Could not list the roles: {exc}", kept)
    return roles, RoleSearch(q, page, total, keep=kept)


class AssignRoleForm(AccessForm):
    already: list[dict[str, Any]]  # the roles listed that the user holds (set by for_user)
    role = forms.ChoiceField(
        label="Role to assign",
        widget=Radios,
        error_messages={"required": "Choose the role to assign."},
    )
    q = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)
    page = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    search_template = "users_admin/_role_search.html"

    def __init__(self, *args: Any, choices: list[tuple[str, str]], search: RoleSearch, **kw: Any):
        super().__init__(*args, **kw)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices
        self.search = search

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        held = {str(r.get("id")) for r in bench.roles.value or []}
        roles, search = search_roles(data, params)
        choices = [(str(r["id"]), _role_label(r)) for r in roles if str(r.get("id")) not in held]
        initial = {"q": search.q, "page": search.page}
        form = cls(data, choices=choices, search=search, initial=initial)
        form.already = [r for r in roles if str(r.get("id")) in held]
        if data is None:
            form._focus(None)  # the search box above takes it (_role_search.html)
            form.initial["role"] = params.get("role", "")
        return form

    def clean_role(self) -> str:
        role_id = str(self.cleaned_data["role"])
        try:
            found = get_role(role_id)
        except ManagementApiError as exc:
            raise forms.ValidationError(f"Could not check the role at Auth0: {exc}") from None
        if found is None:
            raise forms.ValidationError("Auth0 has no such role any more: search again.")
        self.role_found = found
        return role_id

    def action_data(self) -> dict[str, Any]:
        return {"role": self.cleaned_data["role"], "role_name": self.role_found.get("name")}


def _role_or_none(role_id: str) -> dict[str, Any] | None:
    try:
        return get_role(role_id)
    except ManagementApiError:
        return None  # unnamed, so not offered: a box posted for it is refused at the field


def _role_label(role: dict[str, Any]) -> str:
    description = str(role.get("description") or "")
    return f"{role.get('name')} ({description})" if description else str(role.get("name"))


class RemoveRoleForm(AccessForm):
    role = forms.ChoiceField(
        label="Role to remove",
        widget=Radios,
        error_messages={"required": "Choose the role to remove."},
    )

    def __init__(self, *args: Any, roles: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(r["id"]), _role_label(r)) for r in roles]
        self.names = {str(r["id"]): str(r.get("name")) for r in roles}

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        form = cls(data, roles=list(bench.roles.value or []))
        form.initial["role"] = params.get("role", "")
        return form

    def action_data(self) -> dict[str, Any]:
        role_id = str(self.cleaned_data["role"])
        return {"role": role_id, "role_name": self.names.get(role_id, role_id)}


# --- Organizations ------------------------------------------------------------------------------


def _organization_label(org: dict[str, Any]) -> str:
    display = org.get("display_name") or org.get("name")
    return f"{display} ({org.get('name')})" if display != org.get("name") else str(display)


class OrganizationForm(AccessForm):
    organization = forms.ChoiceField(
        label="Organization",
        widget=Radios,
        error_messages={"required": "Choose the organization."},
    )

    def __init__(self, *args: Any, memberships: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(m["id"]), _organization_label(m)) for m in memberships]
        self.memberships = {str(m["id"]): m for m in memberships}

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        form = cls(data, memberships=list(bench.memberships.value or []))
        form.initial["organization"] = params.get("organization", "")
        return form

    @property
    def membership(self) -> dict[str, Any]:
        return dict(self.memberships[str(self.cleaned_data["organization"])])

    def action_data(self) -> dict[str, Any]:
        org = self.membership
        return {
            "organization": org["id"],
            "organization_name": org.get("name"),
            "roles": sorted(str(r["id"]) for r in org.get("member_roles") or []),
        }


class OrganizationRolesForm(OrganizationForm):
    """The organization roles a member ends with: those ticked. The boxes list the roles the
    member has and those ticked, then one page of the tenant's roles (searched by name and
    paged above the form, the ticks riding along), so any of the tenant's roles can be given."""

    role_names: dict[str, str]  # role id -> name (set by for_user)
    search: RoleSearch
    already: list[dict[str, Any]] = []  # the search's note of held roles: here they are ticked
    search_template = "users_admin/_role_search.html"
    roles = forms.MultipleChoiceField(
        label="Organization roles (only within this organization)",
        widget=Checkboxes,
        required=False,
        help_text="Ticked: the roles the member has when you save. Find another role above.",
        error_messages={"invalid_choice": "Auth0 has no role %(value)s any more: search again."},
    )
    # Sent along with the ticked boxes by a search (hx-include): none ticked means none.
    ticked = forms.CharField(required=False, initial="1", widget=forms.HiddenInput)

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        form = super().for_user(bench, data, params)
        assert isinstance(form, OrganizationRolesForm)
        chosen = _chosen(data, params, "organization")
        current = list((form.memberships.get(chosen) or {}).get("member_roles") or [])
        page, form.search = search_roles(data, params, organization=chosen)
        if data is not None or "ticked" in params:  # a search carries the boxes ticked
            source: Any = data if data is not None else params  # a QueryDict either way
            ticked = [str(i) for i in source.getlist("roles")][:MAX_TICKED]
        else:
            ticked = [str(r["id"]) for r in current]
        known = {str(r["id"]): r for r in [*current, *page]}
        for role_id in ticked:
            if role_id not in known:  # ticked on another page of the search
                found = _role_or_none(role_id)
                if found is not None:
                    known[role_id] = found
        first = {str(r["id"]) for r in current} | set(ticked)
        field = form.fields["roles"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [
            (i, _role_label(r))
            for i, r in sorted(
                known.items(), key=lambda x: (x[0] not in first, str(x[1].get("name")))
            )
        ]
        form.role_names = {i: str(r.get("name")) for i, r in known.items()}
        if data is None:
            form.initial["roles"] = [i for i in ticked if i in known]
            form._focus(None)  # the search box above takes it (_role_search.html)
        return form

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "organization" in cleaned and "roles" in cleaned:
            before = {str(r["id"]) for r in self.membership.get("member_roles") or []}
            if set(cleaned["roles"]) == before:
                self.add_error("roles", "Nothing changed: these are the roles the user has now.")
        return cleaned

    def action_data(self) -> dict[str, Any]:
        data = super().action_data()
        before, after = set(data["roles"]), set(self.cleaned_data["roles"])
        names = self.role_names
        return {
            **data,
            "add": sorted(after - before),
            "remove": sorted(before - after),
            "before_names": sorted(names.get(i, i) for i in before),
            "after_names": sorted(names.get(i, i) for i in after),
        }


# --- One session, one refresh token ---------------------------------------------------------


def _session_label(session: dict[str, Any]) -> str:
    last = _minute(
        session.get("last_interacted_at")
        or session.get("last_exchanged_at")
        or session.get("updated_at")
    )
    created = _minute(session.get("created_at"))
    return (
        f"{device_words(session)} · app {clients_of(session)} · last active {last} · "
        f"created {created}"
    )


def _minute(value: Any) -> str:
    """An Auth0 date to the minute ("2026-12-01 14:03 UTC"), or "unknown"."""
    text = str(value or "")[:16].replace("T", " ")
    return f"{text} UTC" if text else "unknown"


class RevokeSessionForm(AccessForm):
    session = forms.ChoiceField(
        label="Session to end",
        widget=Radios,
        error_messages={"required": "Choose the session to end."},
    )

    def __init__(self, *args: Any, items: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["session"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(str(i["id"]), _session_label(i)) for i in items]
        self.items = {str(i["id"]): i for i in items}

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        form = cls(data, items=list(bench.sessions.value or []))
        form.initial["session"] = params.get("session", "")
        return form

    def action_data(self) -> dict[str, Any]:
        chosen = str(self.cleaned_data["session"])
        return {"session": chosen, "device": device_words(self.items[chosen])}


class RevokeTokenForm(RevokeSessionForm):
    session = forms.ChoiceField(
        label="Refresh token to revoke",
        widget=Radios,
        error_messages={"required": "Choose the refresh token to revoke."},
    )

    @classmethod
    def for_user(cls, bench: Workbench, data: Any, params: Mapping[str, str]) -> ActionForm:
        form = cls(data, items=list(bench.refresh_tokens.value or []))
        form.initial["session"] = params.get("token", "")
        return form
