"""`/api/v2/users`, `/api/v2/users/{id}` and `/api/v2/users-by-email`, as Auth0 answers them.

Choices where Auth0 is silent (also in docs/sandbox/differences.md):
- `q` without `search_engine` is searched with v3 (`connection` alone means v1, refused).
- A page that straddles the 1,000-result window is cut at the window; a page starting at or
  past it is the exact `invalid_paging` 400.
- `fields` names top-level attributes only; with `include_fields=true` only those are returned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import access_api, identities_api, support, support_api, tenant_logs, users
from sandbox.http import (
    api_error,
    expected_any,
    form_values,
    granted_scopes,
    management_api,
    method_not_allowed,
    not_found,
    strict_json,
)
from sandbox.query import QueryError, compile_query, sort_clause

JSON = "application/json; charset=utf-8"
READ_SCOPES = ("read:users",)
READ_ONE_SCOPES = ("read:users", "read:current_user", "read:user_idp_tokens")
CREATE_SCOPES = ("create:users",)
UPDATE_SCOPES = ("update:users", "update:users_app_metadata", "update:current_user_metadata")
DELETE_SCOPES = ("delete:users", "delete:current_user")

# Descriptions Auth0's validator appends to the property name in its messages.
DESCRIPTIONS = {
    "page": "Page index of the results to return. First page is 0.",
    "per_page": "Number of results per page.",
    "include_totals": (
        "Return results inside an object that contains the total result count (true) or as a "
        "direct array of results (false, default)."
    ),
    "search_engine": "The version of the search engine",
    "primary_order": (
        "If true (default), results are returned in a deterministic order. If false, results "
        "may be returned in a non-deterministic order, which can enhance performance for complex "
        "queries targeting a small number of users. Set to false only when consistency and "
        "pagination is not required."
    ),
    "include_fields": "Whether specified fields are to be included (true) or excluded (false).",
    "fields": (
        "Comma-separated list of fields to include or exclude (based on value provided for "
        "include_fields) in the result. Leave empty to retrieve all fields."
    ),
    "email": "Email address to search for (case-sensitive).",
}
# What `fields` may name on `/users/{id}` and `/users-by-email` (the definition's pattern;
# `/users` itself has none).
PROFILE_FIELDS = (
    "phone_number",
    "email",
    "email_verified",
    "picture",
    "username",
    "user_id",
    "name",
    "nickname",
    "created_at",
    "identities",
    "app_metadata",
    "user_metadata",
    "last_ip",
    "last_login",
    "logins_count",
    "updated_at",
    "blocked",
    "family_name",
    "given_name",
)
FIELDS_PATTERN = "^(({names}))(,(({names})))*$".format(names=")|(".join(PROFILE_FIELDS))
# A form body names metadata keys in brackets: user_metadata[plan]=gold.
FORM_METADATA = re.compile(r"^(app_metadata|user_metadata)\[([^\]]+)\]$")
V1_MESSAGE = "You are not allowed to use search_engine=v1."
PAGING_MESSAGE = (
    "You can only page through the first 1000 records. "
    "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation"
)


class BadParameter(Exception):
    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.message = (
            f"Query validation error: '{detail}' on property {name} ({DESCRIPTIONS[name]})."
        )


def _integer(request: HttpRequest, name: str, low: int, high: int | None) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, "Expected type integer but found type string") from None
    if value < low:
        raise BadParameter(name, f"Value {value} is less than minimum {low}")
    if high is not None and value > high:
        raise BadParameter(name, f"Value {value} is greater than maximum {high}")
    return value


def _boolean(request: HttpRequest, name: str, default: bool) -> bool:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise BadParameter(name, "Expected type boolean but found type string")


def _field_filter(
    request: HttpRequest, *, checked: bool = False
) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """What `fields`/`include_fields` keep of a profile, or None to send profiles untouched.

    `checked`: the names must match the definition's pattern (as on `/users/{id}`).
    """
    include = _boolean(request, "include_fields", True)
    raw = request.GET.get("fields", "")
    if checked and raw and any(name not in PROFILE_FIELDS for name in raw.split(",")):
        raise BadParameter("fields", f"String does not match pattern {FIELDS_PATTERN}: {raw}")
    names = {name.strip() for name in raw.split(",") if name.strip()}
    if not names:
        return None
    if include:
        return lambda profile: {key: value for key, value in profile.items() if key in names}
    return lambda profile: {key: value for key, value in profile.items() if key not in names}


def _array(profiles: list[str], pick: Callable[[dict[str, Any]], dict[str, Any]] | None) -> str:
    if pick is None:
        # Stored profiles are already the API's JSON: splice them in without decoding.
        return "[" + ",".join(profiles) + "]"
    return json.dumps(
        [pick(json.loads(text)) for text in profiles], ensure_ascii=False, separators=(",", ":")
    )


def _json(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body.encode(), status=status, content_type=JSON)


def _bad_request(error: BadParameter | QueryError) -> HttpResponse:
    if isinstance(error, QueryError):
        return api_error(400, error.message, error.error_code)
    return api_error(400, error.message, "invalid_query_string")


def _engine_error(request: HttpRequest) -> HttpResponse | None:
    engine = request.GET.get("search_engine")
    if engine is None:
        if "connection" in request.GET and "q" not in request.GET:
            # Only the retired v1 engine filtered by `connection`: Auth0 answers like this.
            return api_error(
                400, "You are not allowed to use search_engine=v1.", "invalid_query_string"
            )
        return None
    if engine == "v1":
        return api_error(
            400, "You are not allowed to use search_engine=v1.", "invalid_query_string"
        )
    if engine == "v2":
        return api_error(
            400,
            "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.",
            "invalid_query_string",
        )
    if engine != "v3":
        raise BadParameter("search_engine", f"No enum match for: {engine}")
    return None


@management_api(scopes=READ_SCOPES, group="users_read")
def list_users(request: HttpRequest) -> HttpResponse:
    try:
        refused = _engine_error(request)
        if refused is not None:
            return refused
        page = _integer(request, "page", 0, None)
        per_page = _integer(request, "per_page", 0, 100)
        include_totals = _boolean(request, "include_totals", False)
        _boolean(request, "primary_order", True)  # results are always in a stable order
        pick = _field_filter(request)
        where = compile_query(request.GET.get("q"))
        walk = compile_query(request.GET.get("q"), walk=True)
        order = sort_clause(request.GET.get("sort"))
    except (BadParameter, QueryError) as error:
        return _bad_request(error)

    limit = 50 if per_page is None else per_page
    if page is None:
        # Without `page`, Auth0 returns at most 50 users whatever `per_page` says.
        page, limit = 0, min(limit, 50)
    start = page * limit
    if limit and start >= users.SEARCH_WINDOW:
        return api_error(400, PAGING_MESSAGE, "invalid_paging")
    rows = min(limit, users.SEARCH_WINDOW - start)
    result = users.search(where, walk, order, start, rows)
    array = _array(result.profiles, pick)
    if not include_totals:
        return _json(array)
    return _json(
        f'{{"start":{start},"limit":{limit},"length":{len(result.profiles)},'
        f'"users":{array},"total":{result.total}}}'
    )


@management_api(scopes=CREATE_SCOPES, group="users_write")
def create_user(request: HttpRequest) -> HttpResponse:
    body = _body(request, users.CREATE_PROPERTIES)
    if body is None:
        return api_error(400, "Invalid request payload JSON format")
    try:
        text = users.create_user(body)
    except users.UserError as error:
        return api_error(error.status, error.message, error.error_code)
    profile = json.loads(text)
    logged = _logged_body(body)
    # A signup through the Management API: `ss` on the user (recorded), `sapi` for the call.
    tenant_logs.append(
        "ss",
        user=profile,
        connection=support.connection_ref(body["connection"]),
        details={"authentication_methods": ["pwd"], "body": logged},
    )
    tenant_logs.api_write(
        request,
        "Create a User",
        status=201,
        body=logged,
        response_body=profile,
        scopes=granted_scopes(request),
    )
    return _json(text, status=201)


@csrf_exempt
@login_not_required
def users_collection(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return list_users(request)
    if request.method == "POST":
        return create_user(request)
    return method_not_allowed()


def _not_found() -> HttpResponse:
    return api_error(404, "The user does not exist.", "inexistent_user")


@management_api(scopes=READ_ONE_SCOPES, group="users_read")
def get_user(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        pick = _field_filter(request, checked=True)
    except BadParameter as error:
        return _bad_request(error)
    text = users.profile_text(user_id)
    if text is None:
        return _not_found()
    if pick is None:
        return _json(text)
    return _json(json.dumps(pick(json.loads(text)), ensure_ascii=False, separators=(",", ":")))


@management_api(scopes=UPDATE_SCOPES, group="users_write", forbidden=expected_any(*UPDATE_SCOPES))
def update_user(request: HttpRequest, user_id: str) -> HttpResponse:
    body = _body(request, users.UPDATE_PROPERTIES)
    if body is None:
        return api_error(400, "Invalid request payload JSON format")
    if "update:users" not in granted_scopes(request):
        # update:users_app_metadata (and the current-user scope) reach app_metadata only.
        refused = sorted(key for key in body if key != "app_metadata")
        if refused:
            return api_error(
                403,
                f"You cannot update the following fields: {', '.join(refused)}",
                "insufficient_scope",
            )
    before = users.profile_text(user_id)
    try:
        text = users.update_user(user_id, body)
    except users.UserError as error:
        return api_error(error.status, error.message, error.error_code)
    if text is None:
        return _not_found()
    if before is not None:
        identifier_events(json.loads(before), json.loads(text), body)
    tenant_logs.api_write(
        request,
        "Update a User",
        status=200,
        body=_logged_body(body),
        response_body=json.loads(text),
        scopes=granted_scopes(request),
    )
    return _json(text)


def identifier_events(before: dict[str, Any], after: dict[str, Any], body: dict[str, Any]) -> None:
    """The user's own log events for a changed identifier, besides the call's `sapi`
    (logs-schema `sce`, `scu`, `scpn`; that the Management API path writes them is inferred)."""
    connection = support.connection_ref(str(after["identities"][0].get("connection") or ""))
    if before.get("email") != after.get("email"):
        details = {
            "email": before.get("email"),
            "newEmail": after.get("email"),
            "email_verified": after.get("email_verified"),
            "verify": bool(body.get("verify_email")),
            "connection": connection["name"] if connection else None,
        }
        tenant_logs.append("sce", user=after, connection=connection, details={"body": details})
    if before.get("username") != after.get("username"):
        details = {"oldUsername": before.get("username"), "newUsername": after.get("username")}
        tenant_logs.append("scu", user=after, connection=connection, details={"body": details})
    if before.get("phone_number") != after.get("phone_number"):
        details = {
            "old_phone_number": before.get("phone_number"),
            "new_phone_number": after.get("phone_number"),
            "phone_verified": after.get("phone_verified"),
            "verify": bool(body.get("verify_phone_number")),
        }
        tenant_logs.append("scpn", user=after, connection=connection, details={"body": details})


def _logged_body(body: dict[str, Any]) -> dict[str, Any]:
    # Auth0 masks passwords in logged request bodies.
    return {key: "*****" if key == "password" else value for key, value in body.items()}


@management_api(scopes=DELETE_SCOPES, group="users_write", forbidden=expected_any(*DELETE_SCOPES))
def delete_user(request: HttpRequest, user_id: str) -> HttpResponse:
    # Idempotent: deleting a user that is gone is 204 again (recorded).
    support.delete_user(user_id)
    tenant_logs.api_write(
        request,
        "Delete a User",
        status=204,
        body=None,
        response_body={},
        scopes=granted_scopes(request),
    )
    return support_api.no_content()


def _user(request: HttpRequest, user_id: str) -> HttpResponse:
    if request.method == "GET":
        return get_user(request, user_id)
    if request.method == "PATCH":
        return update_user(request, user_id)
    if request.method == "DELETE":
        return delete_user(request, user_id)
    return method_not_allowed()


# Sub-resources of one user: segments after the id ("*" is one segment) -> method -> view.
SUB_ROUTES: tuple[tuple[tuple[str, ...], dict[str, Callable[..., HttpResponse]]], ...] = (
    (("logs",), {"GET": support_api.user_logs}),
    (
        ("authentication-methods",),
        {"GET": support_api.list_methods, "DELETE": support_api.delete_methods},
    ),
    (
        ("authentication-methods", "*"),
        {"GET": support_api.get_method, "DELETE": support_api.delete_method},
    ),
    (
        ("multifactor", "actions", "invalidate-remember-browser"),
        {"POST": support_api.invalidate_remember_browser},
    ),
    (("sessions",), {"GET": support_api.list_sessions, "DELETE": support_api.delete_sessions}),
    (
        ("refresh-tokens",),
        {"GET": support_api.list_refresh_tokens, "DELETE": support_api.delete_refresh_tokens},
    ),
    (("revoke-access",), {"POST": support_api.revoke_access}),
    *access_api.USER_ROUTES,
    (("identities",), {"POST": identities_api.link}),
    (("identities", "*", "*"), {"DELETE": identities_api.unlink}),
)
USERS_PREFIX = "/api/v2/users/"


def _matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    return len(pattern) == len(segments) and all(
        p == "*" or p == s for p, s in zip(pattern, segments, strict=True)
    )


def split_user_path(request: HttpRequest, rest: str) -> tuple[str, list[str]]:
    """The user id and the sub-resource segments after it.

    An id may hold an encoded slash (`%2F`), which the WSGI path arrives with decoded: the raw
    request line (waitress's REQUEST_URI) keeps it, so the id is its first segment. Without it
    (Django's test client), a known sub-resource at the end of the path is split off instead.
    """
    raw = request.META.get("REQUEST_URI") or request.META.get("RAW_URI")
    if raw:
        path = urlsplit(str(raw)).path
        if path.startswith(USERS_PREFIX):
            first, *more = path[len(USERS_PREFIX) :].split("/")
            return unquote(first), [unquote(segment) for segment in more]
    segments = rest.split("/")
    for pattern, _ in sorted(SUB_ROUTES, key=lambda route: -len(route[0])):
        size = len(pattern)
        if len(segments) > size and _matches(pattern, segments[-size:]):
            return "/".join(segments[:-size]), segments[-size:]
    return rest, []


@csrf_exempt
@login_not_required
def user_subtree(request: HttpRequest, rest: str) -> HttpResponse:
    user_id, segments = split_user_path(request, rest)
    if not user_id:
        return not_found(request)
    if not segments:
        return _user(request, user_id)
    for pattern, methods in SUB_ROUTES:
        if _matches(pattern, segments):
            view = methods.get(request.method or "")
            if view is None:
                return method_not_allowed()
            wildcards = [s for p, s in zip(pattern, segments, strict=True) if p == "*"]
            return view(request, user_id, *wildcards)
    return not_found(request)


@csrf_exempt
@login_not_required
@management_api(scopes=READ_SCOPES, group="users_read")
def users_by_email(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed()
    try:
        pick = _field_filter(request, checked=True)
        email = request.GET.get("email")
        if email is None:
            raise BadParameter("email", "Missing required property: email")
    except BadParameter as error:
        return _bad_request(error)
    return _json(_array(users.profiles_by_email(email), pick))


def _body(request: HttpRequest, properties: dict[str, str]) -> dict[str, Any] | None:
    """The JSON or form-urlencoded body (the definition allows both), or None if unreadable."""
    if request.content_type == "application/x-www-form-urlencoded":
        return _form_body(request, properties)
    try:
        body = strict_json(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _form_body(request: HttpRequest, properties: dict[str, str]) -> dict[str, Any]:
    """Form values are text: `true`/`false` become booleans where the definition wants one
    (anything else stays text, for the validator to refuse); metadata keys come in brackets."""
    body: dict[str, Any] = {}
    for key, value in form_values(request).items():
        metadata = FORM_METADATA.match(key)
        if metadata:
            root = body.get(metadata.group(1))
            if not isinstance(root, dict):
                root = body[metadata.group(1)] = {}
            root[metadata.group(2)] = value
        elif properties.get(key) == "boolean" and value in ("true", "false"):
            body[key] = value == "true"
        else:
            body[key] = value
    return body
