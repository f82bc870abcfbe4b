"""Roles, permissions, organizations and single refresh tokens over HTTP, shaped like Auth0's
Management API. `/users/{id}/roles|permissions|organizations` are dispatched by
`sandbox.users_api.user_subtree` (USER_ROUTES); the rest are routed in sandbox.urls."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import access
from sandbox.http import api_error, expected_any, json_response, management_api, method_not_allowed
from sandbox.support import ActionError
from sandbox.support_api import (
    BadQuery,
    _body,
    _bool,
    _checkpoint_page,
    _int,
    _invalid_json,
    _plan_refusal,
    _query_error,
    _sapi,
    no_content,
)


def _error(error: ActionError) -> HttpResponse:
    return api_error(error.status, error.message, error.error_code)


def offset_page(request: HttpRequest, items: list[dict[str, Any]], key: str) -> HttpResponse:
    """`page`/`per_page`/`include_totals` paging: a bare array, or `{key, start, limit, total}`
    (no `length`); a page past the end is empty (the SDKs' pagers stop on it)."""
    try:
        page = _int(request, "page", 0, 1000) or 0
        per_page = _int(request, "per_page", 1, 100)
        include_totals = _bool(request, "include_totals")
    except BadQuery as problem:
        return _query_error(problem.message)
    limit = 50 if per_page is None else per_page
    chunk = items[page * limit : page * limit + limit]
    if not include_totals:
        return json_response(chunk)
    return json_response({key: chunk, "start": page * limit, "limit": limit, "total": len(items)})


def _answer(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except ActionError as error:
        return _error(error)


def _write(
    request: HttpRequest, description: str, status: int, perform: Callable[[Any], None]
) -> HttpResponse:
    body = _body(request)
    if body is None:
        return _invalid_json()
    try:
        perform(body)
    except ActionError as error:
        return _error(error)
    _sapi(request, description, status, body)
    return json_response({}, status=201) if status == 201 else no_content()


# /roles ------------------------------------------------------------------------------------------


@csrf_exempt
@login_not_required
@management_api(
    scopes=("read:roles",), group="other", forbidden="Insufficient scope; expected: read:roles."
)
def get_roles(request: HttpRequest) -> HttpResponse:
    return offset_page(request, access.roles(request.GET.get("name_filter")), "roles")


@management_api(
    scopes=("create:roles",), group="other", forbidden="Insufficient scope; expected: create:roles."
)
def create_role(request: HttpRequest) -> HttpResponse:
    """POST /roles: answered 200, as Auth0 does (not 201)."""
    return _role_write(request, "Create a Role", lambda body: access.create_role(body))


@csrf_exempt
@login_not_required
def list_roles(request: HttpRequest) -> HttpResponse:
    """`/api/v2/roles`: GET lists them, POST creates one."""
    view = {"GET": get_roles, "POST": create_role}.get(request.method or "")
    return view(request) if view else method_not_allowed()


def _role_write(
    request: HttpRequest, description: str, perform: Callable[[Any], Any]
) -> HttpResponse:
    body = _body(request)
    if body is None:
        return _invalid_json()
    answer = _answer(lambda: perform(body))
    if isinstance(answer, HttpResponse):
        return answer
    _sapi(request, description, 200, body, answer)
    return json_response(answer)


@management_api(
    scopes=("read:roles",), group="other", forbidden="Insufficient scope; expected: read:roles."
)
def get_role(request: HttpRequest, role_id: str) -> HttpResponse:
    found = _answer(lambda: access.role(role_id))
    return found if isinstance(found, HttpResponse) else json_response(found)


@management_api(
    scopes=("update:roles",), group="other", forbidden="Insufficient scope; expected: update:roles."
)
def update_role(request: HttpRequest, role_id: str) -> HttpResponse:
    return _role_write(request, "Update a Role", lambda body: access.update_role(role_id, body))


@management_api(
    scopes=("delete:roles",), group="other", forbidden="Insufficient scope; expected: delete:roles."
)
def delete_role(request: HttpRequest, role_id: str) -> HttpResponse:
    """200 with `{}` (recorded), not 204."""
    gone = _answer(lambda: access.delete_role(role_id))
    if isinstance(gone, HttpResponse):
        return gone
    _sapi(request, "Delete a Role", 200)
    return json_response({})


@csrf_exempt
@login_not_required
def one_role(request: HttpRequest, role_id: str) -> HttpResponse:
    """`/api/v2/roles/{id}`: GET reads, PATCH changes, DELETE deletes it."""
    view = {"GET": get_role, "PATCH": update_role, "DELETE": delete_role}.get(request.method or "")
    return view(request, role_id) if view else method_not_allowed()


# /users/{id}/roles -------------------------------------------------------------------------------


@management_api(
    scopes=("read:users", "read:roles", "read:role_members"),
    group="other",
    forbidden="Insufficient scope; expected all of: read:users, read:roles.",
)
def get_user_roles(request: HttpRequest, user_id: str) -> HttpResponse:
    found = _answer(lambda: access.user_roles(user_id))
    return found if isinstance(found, HttpResponse) else offset_page(request, found, "roles")


@management_api(
    scopes=("update:users", "create:role_members"),
    group="other",
    forbidden=expected_any("read:roles", "update:users"),
)
def post_user_roles(request: HttpRequest, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Assign Roles to a User",
        204,
        lambda body: access.assign_roles(user_id, access.ids_in(body, "roles")),
    )


@management_api(
    scopes=("update:users", "delete:role_members"),
    group="other",
    forbidden=expected_any("update:users"),
)
def delete_user_roles(request: HttpRequest, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Removes Roles from a User",
        204,
        lambda body: access.remove_roles(user_id, access.ids_in(body, "roles")),
    )


# /users/{id}/permissions -------------------------------------------------------------------------


@management_api(scopes=("read:users",), group="other", forbidden=expected_any("read:users"))
def get_user_permissions(request: HttpRequest, user_id: str) -> HttpResponse:
    found = _answer(lambda: access.user_permissions(user_id))
    return found if isinstance(found, HttpResponse) else offset_page(request, found, "permissions")


@management_api(scopes=("update:users",), group="other", forbidden=expected_any("update:users"))
def post_user_permissions(request: HttpRequest, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Assign Permissions to a User",
        201,
        lambda body: access.assign_permissions(user_id, body),
    )


@management_api(scopes=("update:users",), group="other", forbidden=expected_any("update:users"))
def delete_user_permissions(request: HttpRequest, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Remove Permissions from a User",
        204,
        lambda body: access.remove_permissions(user_id, body),
    )


# /users/{id}/organizations -----------------------------------------------------------------------


@management_api(
    scopes=("read:users", "read:organizations"),
    group="other",
    forbidden="Insufficient scope; expected any of: read:users, read:organizations",
)
def get_user_organizations(request: HttpRequest, user_id: str) -> HttpResponse:
    found = _answer(lambda: access.user_organizations(user_id))
    if isinstance(found, HttpResponse):
        return found
    return offset_page(request, found, "organizations")


USER_ROUTES: tuple[tuple[tuple[str, ...], dict[str, Callable[..., HttpResponse]]], ...] = (
    (("roles",), {"GET": get_user_roles, "POST": post_user_roles, "DELETE": delete_user_roles}),
    (
        ("permissions",),
        {
            "GET": get_user_permissions,
            "POST": post_user_permissions,
            "DELETE": delete_user_permissions,
        },
    ),
    (("organizations",), {"GET": get_user_organizations}),
)


# /organizations/{id}/members ---------------------------------------------------------------------


FIELD = "(user_id|email|picture|name|roles)"
MEMBER_FIELDS = re.compile(f"^{FIELD}(,{FIELD})*$")
PAGING_LIMIT = "Requesting page exceeds the allowed maximum of 1000 records."


def _member_fields(request: HttpRequest, item: dict[str, Any]) -> dict[str, Any]:
    """Roles only when `fields` asks for them (Auth0: "not sent by default")."""
    fields = request.GET.get("fields")
    if not fields:
        return {k: v for k, v in item.items() if k != "roles"}
    chosen = set(fields.split(","))
    if request.GET.get("include_fields", "true") == "false":
        return {k: v for k, v in item.items() if k not in chosen and k != "roles"}
    return {k: v for k, v in item.items() if k in chosen}


@management_api(
    scopes=("read:organization_members",),
    group="other",
    forbidden=expected_any("read:organization_members"),
)
def list_members(request: HttpRequest, org_id: str) -> HttpResponse:
    """Offset paging (at most 1,000 records), or checkpoint paging when `from` or `take` is
    present: `{members, next}`, with no `next` on the last page (py6 sends only this mode)."""
    fields = request.GET.get("fields")
    if fields and not MEMBER_FIELDS.match(fields):
        return _query_error(f"'String does not match pattern' on property fields: {fields}")
    found = _answer(lambda: access.members(org_id))
    if isinstance(found, HttpResponse):
        return found
    items = [_member_fields(request, item) for item in found]
    if "from" not in request.GET and "take" not in request.GET:
        try:
            page = _int(request, "page", 0, None) or 0
            per_page = _int(request, "per_page", 1, 100) or 50
        except BadQuery as problem:
            return _query_error(problem.message)
        if (page + 1) * per_page > 1000:
            return api_error(400, PAGING_LIMIT, "invalid_paging")
        return offset_page(request, items, "members")
    return _checkpoint_page(request, items, "members", False)


@management_api(
    scopes=("create:organization_members",),
    group="other",
    forbidden=expected_any("create:organization_members"),
)
def add_members(request: HttpRequest, org_id: str) -> HttpResponse:
    # The recorded `sapi` description (Auth0's summary says "Add Members to ...").
    return _write(
        request,
        "Add members to an organization",
        204,
        lambda body: access.add_members(org_id, body),
    )


@management_api(
    scopes=("delete:organization_members",),
    group="other",
    forbidden="Insufficient scope; expected any of: delete:organization_members.",
)
def remove_members(request: HttpRequest, org_id: str) -> HttpResponse:
    return _write(
        request,
        "Delete Members from an Organization",
        204,
        lambda body: access.remove_members(org_id, body),
    )


@csrf_exempt
@login_not_required
def organization_members(request: HttpRequest, org_id: str) -> HttpResponse:
    views = {"GET": list_members, "POST": add_members, "DELETE": remove_members}
    view = views.get(request.method or "")
    return method_not_allowed() if view is None else view(request, org_id)


def _member_id(request: HttpRequest, rest: str) -> str:
    """The member's user id as sent (an encoded `/` in it arrives decoded in `rest`)."""
    raw = request.META.get("REQUEST_URI") or request.META.get("RAW_URI")
    if raw:
        parts = urlsplit(str(raw)).path.split("/")
        # /api/v2/organizations/{org}/members/{user_id}/roles
        if len(parts) == 8:
            return unquote(parts[6])
    return rest


@management_api(
    scopes=("read:organization_member_roles",),
    group="other",
    forbidden=expected_any("read:organization_member_roles"),
)
def get_member_roles(request: HttpRequest, org_id: str, user_id: str) -> HttpResponse:
    found = _answer(lambda: access.member_roles(org_id, user_id))
    return found if isinstance(found, HttpResponse) else offset_page(request, found, "roles")


@management_api(
    scopes=("create:organization_member_roles",),
    group="other",
    forbidden=expected_any("create:organization_member_roles"),
)
def post_member_roles(request: HttpRequest, org_id: str, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Assign User Roles to an Organization Member",
        204,
        lambda body: access.change_member_roles(
            org_id, user_id, access.ids_in(body, "roles"), add=True
        ),
    )


@management_api(
    scopes=("delete:organization_member_roles",),
    group="other",
    forbidden=expected_any("delete:organization_member_roles"),
)
def delete_member_roles(request: HttpRequest, org_id: str, user_id: str) -> HttpResponse:
    return _write(
        request,
        "Delete User Roles from an Organization Member",
        204,
        lambda body: access.change_member_roles(
            org_id, user_id, access.ids_in(body, "roles"), add=False
        ),
    )


@csrf_exempt
@login_not_required
def member_roles(request: HttpRequest, org_id: str, rest: str) -> HttpResponse:
    views = {"GET": get_member_roles, "POST": post_member_roles, "DELETE": delete_member_roles}
    view = views.get(request.method or "")
    if view is None:
        return method_not_allowed()
    return view(request, org_id, _member_id(request, rest))


# /refresh-tokens/{id} (Enterprise plans) ----------------------------------------------------


@management_api(
    scopes=("read:refresh_tokens",),
    group="other",
    forbidden="Insufficient scope, expected: read:refresh_tokens",
)
def get_refresh_token(request: HttpRequest, token_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    found = _answer(lambda: access.refresh_token(token_id))
    return found if isinstance(found, HttpResponse) else json_response(found)


@management_api(
    scopes=("delete:refresh_tokens",),
    group="other",
    forbidden="Insufficient scope; expected: delete:refresh_tokens",
)
def delete_refresh_token(request: HttpRequest, token_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    access.delete_refresh_token(token_id)
    _sapi(request, "Delete a Refresh Token", 204)
    return no_content()  # recorded 204 (the definition says 202)


@csrf_exempt
@login_not_required
def one_refresh_token(request: HttpRequest, token_id: str) -> HttpResponse:
    if request.method == "GET":
        return get_refresh_token(request, token_id)
    if request.method == "DELETE":
        return delete_refresh_token(request, token_id)
    return method_not_allowed()
