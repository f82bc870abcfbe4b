"""The support-action endpoints over HTTP, shaped like Auth0's Management API
(https://auth0.com/docs/api/management/v2).

`/api/v2/users/{id}/...` sub-resources are dispatched by `sandbox.users_api.user_subtree`;
`/user-blocks`, `/jobs/verification-email`, `/tickets/password-change` and `/logs` are routed
here directly. Writes append the `sapi` event Auth0 records for a Management API write.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, log_reads, support, tenant_logs
from sandbox.http import (
    JSON_CONTENT_TYPE,
    api_error,
    expected_any,
    granted_scopes,
    json_response,
    management_api,
    method_not_allowed,
    sandbox_switches,
    strict_json,
)
from sandbox.jobs_api import job_json
from sandbox.models import Connection, TenantUser
from sandbox.ratelimit import Limit, buckets
from sandbox.routers import SANDBOX_DB

PAGING_MESSAGE = (
    "You can only page through the first 1000 records. "
    "See https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#limitations"
)
LOG_SORT = re.compile(
    r"^((date)|(connection)|(client_id)|(client_name)|(ip)|(user_id)|(user_name)|(description)"
    r"|(user_agent)|(type)|(details)|(strategy)|(strategy_type))\:(1|-1)$"
)
LOG_WINDOW = 1000
LOG_SEARCH_FIELDS = frozenset(
    {
        "client_id",
        "client_name",
        "connection",
        "connection_id",
        "description",
        "hostname",
        "ip",
        "log_id",
        "organization_id",
        "user_id",
        "user_name",
        "user_agent",
        "strategy",
        "strategy_type",
        "type",
    }
)
LOG_TERM = re.compile(r'^(?P<field>[a-z_]+):(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"()]+))$')


def no_content() -> HttpResponse:
    return HttpResponse(status=204, content_type=JSON_CONTENT_TYPE)


def _error(error: support.ActionError) -> HttpResponse:
    return api_error(error.status, error.message, error.error_code)


def user_not_found() -> HttpResponse:
    return api_error(404, "The user does not exist.", "inexistent_user")


class BadQuery(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _query_error(message: str) -> HttpResponse:
    return api_error(400, f"Query validation error: {message}", "invalid_query_string")


def _int(request: HttpRequest, name: str, low: int, high: int | None) -> int | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(
            f"'Expected type integer but found type string' on property {name}"
        ) from None
    if value < low:
        raise BadQuery(f"'Value {value} is less than minimum {low}' on property {name}")
    if high is not None and value > high:
        raise BadQuery(f"'Value {value} is greater than maximum {high}' on property {name}")
    return value


def _bool(request: HttpRequest, name: str, default: bool = False) -> bool:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise BadQuery(f"'Expected type boolean but found type string' on property {name}")


def _body(request: HttpRequest) -> dict[str, Any] | None:
    """A JSON object body, or a form body's flat keys (the definition allows both)."""
    if request.content_type == "application/x-www-form-urlencoded":
        form: dict[str, Any] = {}
        for key, value in parse_qsl(request.body.decode("utf-8", "replace")):
            form[key] = {"true": True, "false": False}.get(value, value)
            if key == "ttl_sec" and value.isdigit():
                form[key] = int(value)
        return form
    try:
        body = strict_json(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _invalid_json() -> HttpResponse:
    return api_error(400, "Invalid request payload JSON format", "invalid_body")


def _sapi(
    request: HttpRequest, description: str, status: int, body: Any = None, answer: Any = None
) -> None:
    tenant_logs.api_write(
        request,
        description,
        status=status,
        body=body,
        response_body={} if answer is None else answer,
        scopes=granted_scopes(request),
    )


# /user-blocks ------------------------------------------------------------------------------------


@management_api(scopes=("read:users",), group="other", forbidden=expected_any("read:users"))
def get_user_blocks(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        consider = _bool(request, "consider_brute_force_enablement")
    except BadQuery as problem:
        return _query_error(problem.message)
    blocks = support.blocks_of(user_id, consider)
    return user_not_found() if blocks is None else json_response(blocks)


@management_api(scopes=("update:users",), group="other", forbidden=expected_any("update:users"))
def delete_user_blocks(request: HttpRequest, user_id: str) -> HttpResponse:
    if not support.unblock(user_id):
        return user_not_found()
    _sapi(request, "Unblock a User", 204)
    return no_content()


@csrf_exempt
@login_not_required
def user_blocks(request: HttpRequest, user_id: str) -> HttpResponse:
    if request.method == "GET":
        return get_user_blocks(request, user_id)
    if request.method == "DELETE":
        return delete_user_blocks(request, user_id)
    return method_not_allowed()


def _identifier(request: HttpRequest) -> str:
    identifier = request.GET.get("identifier")
    if not identifier:
        raise BadQuery(
            "'Missing required property: identifier' on property identifier "
            "(Should be any of a username, phone number, or email.)"
        )
    return identifier


@management_api(scopes=("read:users",), group="other", forbidden=expected_any("read:users"))
def get_blocks_by_identifier(request: HttpRequest) -> HttpResponse:
    try:
        identifier = _identifier(request)
        consider = _bool(request, "consider_brute_force_enablement")
    except BadQuery as problem:
        return _query_error(problem.message)
    return json_response(support.blocks_by_identifier(identifier, consider))


@management_api(scopes=("update:users",), group="other", forbidden=expected_any("update:users"))
def delete_blocks_by_identifier(request: HttpRequest) -> HttpResponse:
    try:
        identifier = _identifier(request)
    except BadQuery as problem:
        return _query_error(problem.message)
    support.unblock_identifier(identifier)
    _sapi(request, "Unblock by Identifier", 204)
    return no_content()


@csrf_exempt
@login_not_required
def user_blocks_by_identifier(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return get_blocks_by_identifier(request)
    if request.method == "DELETE":
        return delete_blocks_by_identifier(request)
    return method_not_allowed()


# POST /jobs/verification-email -----------------------------------------------------------------


@management_api(scopes=("update:users",), group="other", forbidden=expected_any("update:users"))
def verification_email(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed()
    body = _body(request)
    if body is None:
        return _invalid_json()
    try:
        job = support.create_verification_job(body, sandbox_switches(request))
    except support.ActionError as error:
        return _error(error)
    answer = job_json(job)
    _sapi(request, "Send an Email Address Verification Email", 201, body, answer)
    return json_response(answer, status=201)


# POST /tickets/password-change -----------------------------------------------------------------


@management_api(
    scopes=("create:user_tickets",), group="other", forbidden=expected_any("create:user_tickets")
)
def password_change_ticket(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed()
    body = _body(request)
    if body is None:
        return _invalid_json()
    try:
        ticket = support.create_password_ticket(body)
    except support.ActionError as error:
        return _error(error)
    # Auth0's URL is on the tenant's domain; the sandbox's page is on its own host.
    url = f"{request.scheme}://{request.get_host()}/u/reset-password?ticket={ticket.id}#"
    answer = {"ticket": url}
    _sapi(request, "Create a Password Change Ticket", 201, body, answer)
    return json_response(answer, status=201)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Change your password</title></head>
<body><main><h1>Change your password</h1>{content}</main></body></html>
"""


@csrf_exempt
@login_not_required
def reset_password_page(request: HttpRequest) -> HttpResponse:
    """The page a password-change ticket opens (the sandbox's stand-in for Universal Login)."""
    ticket = support.live_ticket(request.GET.get("ticket", ""))
    if ticket is None:
        content = "<p>This link has expired or was already used. Ask for a new one.</p>"
        return HttpResponse(PAGE.format(content=content), status=400)
    found = support.find(ticket.user_id)
    if found is None:
        return HttpResponse(PAGE.format(content="<p>The user does not exist.</p>"), status=404)
    if request.method == "POST":
        password = request.POST.get("password", "")
        if len(password) < 8:
            content = "<p>Password is too weak: use at least 8 characters.</p>"
            return HttpResponse(PAGE.format(content=content), status=400)
        support.use_password_ticket(ticket)
        return HttpResponse(PAGE.format(content="<p>Password changed successfully.</p>"))
    email = escape(str(found.profile.get("email", "")))
    form = (
        f"<p>Enter a new password for {email}.</p>"
        '<form method="post"><label for="password">New password</label>'
        '<input id="password" name="password" type="password" required minlength="8">'
        '<button type="submit">Reset password</button></form>'
    )
    return HttpResponse(PAGE.format(content=form))


# /users/{id}/authentication-methods ------------------------------------------------------------

METHODS_FORBIDDEN = "Insufficient scope, expected any of: read:authentication_methods"


@management_api(scopes=("read:authentication_methods",), group="other", forbidden=METHODS_FORBIDDEN)
def list_methods(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        page = _int(request, "page", 0, None) or 0
        per_page = _int(request, "per_page", 0, 100)
        include_totals = _bool(request, "include_totals")
    except BadQuery as problem:
        return _query_error(problem.message)
    methods = support.methods_of(user_id)
    if methods is None:
        return user_not_found()
    limit = 50 if per_page is None else per_page
    items = methods[page * limit : page * limit + limit]
    if not include_totals:
        return json_response(items)
    body: dict[str, Any] = {"authenticators": items, "start": page * limit, "limit": limit}
    if methods:
        body["total"] = len(methods)  # left out when the user has none (recorded)
    return json_response(body)


@management_api(
    scopes=("delete:authentication_methods",),
    group="other",
    forbidden=expected_any("delete:authentication_methods"),
)
def delete_methods(request: HttpRequest, user_id: str) -> HttpResponse:
    try:
        support.delete_methods(user_id)
    except support.ActionError as error:
        return _error(error)
    _sapi(request, "Delete All Authentication Methods for the Given User", 204)
    return no_content()


@management_api(scopes=("read:authentication_methods",), group="other", forbidden=METHODS_FORBIDDEN)
def get_method(request: HttpRequest, user_id: str, method_id: str) -> HttpResponse:
    try:
        return json_response(support.method_of(user_id, method_id))
    except support.ActionError as error:
        return _error(error)


@management_api(
    scopes=("delete:authentication_methods",),
    group="other",
    forbidden=expected_any("delete:authentication_methods"),
)
def delete_method(request: HttpRequest, user_id: str, method_id: str) -> HttpResponse:
    try:
        support.delete_method(user_id, method_id)
    except support.ActionError as error:
        return _error(error)
    _sapi(request, "Delete an Authentication Method by ID", 204)
    return no_content()


@management_api(
    scopes=("update:users",), group="other", forbidden="Insufficient scope; expected: update:users."
)
def invalidate_remember_browser(request: HttpRequest, user_id: str) -> HttpResponse:
    if not support.invalidate_remembered_browsers(user_id):
        return user_not_found()
    _sapi(request, "Invalidate All Remembered Browsers for Multi-factor Authentication (MFA)", 204)
    return no_content()


# Sessions and refresh tokens (Enterprise plans only) ---------------------------------------------

PLAN_MESSAGE = (
    "This feature is not available on your plan: session and refresh token management "
    "endpoints are available to tenants on Enterprise plans."
)


def _plan_refusal(request: HttpRequest) -> HttpResponse | None:
    if sandbox_switches(request)["tenant_plan"] != "enterprise":
        return api_error(403, PLAN_MESSAGE, "feature_not_enabled")
    return None


def _checkpoint_page(
    request: HttpRequest, items: list[dict[str, Any]] | None, key: str, totals_key: bool
) -> HttpResponse:
    try:
        take = _int(request, "take", 1, 100) or 50
        include_totals = _bool(request, "include_totals")
    except BadQuery as problem:
        return _query_error(problem.message)
    if items is None:
        return api_error(404, "User not found", "inexistent_user")
    start = 0
    if request.GET.get("from"):
        position = support.parse_cursor(request.GET["from"])
        if position is None:
            return _query_error("'from' is not a valid checkpoint")
        start = position
    page = items[start : start + take]
    body: dict[str, Any] = {key: page}
    if start + take < len(items):
        body["next"] = f"cur_{start + take:08d}"
    if totals_key and include_totals:
        body["total"] = len(items)
    return json_response(body)


@management_api(
    scopes=("read:sessions",),
    group="other",
    forbidden="Insufficient scope, expected any of: read:sessions",
)
def list_sessions(request: HttpRequest, user_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    return _checkpoint_page(request, support.sessions_of(user_id), "sessions", False)


@management_api(
    scopes=("delete:sessions",),
    group="other",
    forbidden="Insufficient scope; expected: delete:sessions",
)
def delete_sessions(request: HttpRequest, user_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    if not support.delete_sessions(user_id):
        return api_error(404, "User not found", "inexistent_user")
    _sapi(request, "Delete Sessions for User", 202)
    return json_response({}, status=202)


@management_api(
    scopes=("read:refresh_tokens",),
    group="other",
    forbidden="Insufficient scope, expected: read:refresh_tokens",
)
def list_refresh_tokens(request: HttpRequest, user_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    return _checkpoint_page(request, support.tokens_of(user_id), "tokens", True)


@management_api(
    scopes=("delete:refresh_tokens",),
    group="other",
    forbidden="Insufficient scope; expected: delete:refresh_tokens",
)
def delete_refresh_tokens(request: HttpRequest, user_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    if not support.delete_tokens(user_id):
        return api_error(404, "User not found", "inexistent_user")
    _sapi(request, "Delete Refresh Tokens for a User", 202)
    return json_response({}, status=202)


REVOKE_FORBIDDEN = "Insufficient scope; expected: delete:sessions"
REVOKE_SCOPES = ("delete:sessions", "delete:refresh_tokens")


def _all_scopes(request: HttpRequest) -> HttpResponse | None:
    # These need both scopes, where `management_api` checks for any one.
    if not set(REVOKE_SCOPES) <= granted_scopes(request):
        return api_error(403, REVOKE_FORBIDDEN, "insufficient_scope")
    return None


@management_api(scopes=REVOKE_SCOPES, group="other", forbidden=REVOKE_FORBIDDEN)
def revoke_access(request: HttpRequest, user_id: str) -> HttpResponse:
    refused = _all_scopes(request) or _plan_refusal(request)
    if refused is not None:
        return refused
    body = _body(request)
    if body is None:
        return _invalid_json()
    extra = [key for key in body if key not in ("session_id", "preserve_refresh_tokens")]
    if extra:
        return api_error(
            400,
            f"Payload validation error: 'Additional properties not allowed: {', '.join(extra)}'.",
            "invalid_body",
        )
    session_id = body.get("session_id")
    preserve = body.get("preserve_refresh_tokens", False)
    if (session_id is not None and not isinstance(session_id, str)) or not isinstance(
        preserve, bool
    ):
        return api_error(
            400,
            "Payload validation error: 'session_id' is a string and "
            "'preserve_refresh_tokens' a boolean.",
            "invalid_body",
        )
    support.revoke_access(user_id, session_id, preserve)
    _sapi(request, "Revokes Selected Resources from a User", 202, body)
    return json_response({}, status=202)


def _no_session() -> HttpResponse:
    return api_error(404, "The session does not exist.", "inexistent_session")


@management_api(
    scopes=("read:sessions",),
    group="other",
    forbidden="Insufficient scope, expected any of: read:sessions",
)
def get_session(request: HttpRequest, session_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    found = support.session(session_id)
    return _no_session() if found is None else json_response(found)


@management_api(
    scopes=("delete:sessions",),
    group="other",
    forbidden="Insufficient scope; expected: delete:sessions",
)
def delete_session(request: HttpRequest, session_id: str) -> HttpResponse:
    refused = _plan_refusal(request)
    if refused is not None:
        return refused
    # Refresh tokens survive the deletion of their session (Auth0's docs).
    support.end_session(session_id, drop_tokens=False)
    _sapi(request, "Delete Session", 202)
    return json_response({}, status=202)


@csrf_exempt
@login_not_required
def one_session(request: HttpRequest, session_id: str) -> HttpResponse:
    if request.method == "GET":
        return get_session(request, session_id)
    if request.method == "DELETE":
        return delete_session(request, session_id)
    return method_not_allowed()


@csrf_exempt
@login_not_required
@management_api(scopes=REVOKE_SCOPES, group="other", forbidden=REVOKE_FORBIDDEN)
def revoke_session(request: HttpRequest, session_id: str) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed()
    refused = _all_scopes(request) or _plan_refusal(request)
    if refused is not None:
        return refused
    if not support.end_session(session_id, drop_tokens=True):
        return _no_session()
    _sapi(request, "Revokes a Session", 202)
    return json_response({}, status=202)


# Logs --------------------------------------------------------------------------------------------

LOGS_FORBIDDEN = "Insufficient scope; expected any of: read:logs, read:logs_users."


def _sorted(events: list[dict[str, Any]], sort: str | None) -> list[dict[str, Any]]:
    field, direction = (sort or "date:-1").split(":")
    return sorted(
        events,
        key=lambda e: (json.dumps(e.get(field), sort_keys=True), e["log_id"]),
        reverse=direction == "-1",
    )


def _log_page(request: HttpRequest, events: list[dict[str, Any]]) -> HttpResponse:
    try:
        page = _int(request, "page", 0, None) or 0
        per_page = _int(request, "per_page", 1, 100)
        include_totals = _bool(request, "include_totals")
        sort = request.GET.get("sort")
        if sort is not None and not LOG_SORT.match(sort):
            raise BadQuery(
                f"'String does not match pattern {LOG_SORT.pattern}: {sort}' on property sort"
            )
    except BadQuery as problem:
        return _query_error(problem.message)
    limit = 50 if per_page is None else per_page
    start = page * limit
    if start >= LOG_WINDOW:
        return api_error(400, PAGING_MESSAGE, "invalid_paging")
    items = _sorted(events, sort)[start : min(start + limit, LOG_WINDOW)]
    if not include_totals:
        return json_response(items)
    # Log Search v3: `total` is the page's count, like `length`.
    return json_response(
        {"start": start, "limit": limit, "length": len(items), "logs": items, "total": len(items)}
    )


@management_api(scopes=("read:logs", "read:logs_users"), group="logs", forbidden=LOGS_FORBIDDEN)
def user_logs(request: HttpRequest, user_id: str) -> HttpResponse:
    # An unknown user has no events: [] (Auth0 lists no 404 here).
    return _log_page(request, log_reads.for_user(user_id))


def _log_query(q: str) -> list[tuple[str, str]]:
    """`field:value` terms joined by AND: the part of Auth0's log search the sandbox knows."""
    conditions: list[tuple[str, str]] = []
    for term in re.split(r"\s+AND\s+", q.strip()):
        match = LOG_TERM.match(term.strip())
        if match is None:
            raise BadQuery(
                f"The search query string has an error: the sandbox understands field:value "
                f"terms joined by AND, not {term!r}"
            )
        field = match.group("field")
        if field not in LOG_SEARCH_FIELDS:
            raise BadQuery(f'The search query string has an error: unknown field "{field}"')
        value = match.group("quoted")
        value = re.sub(r"\\(.)", r"\1", value) if value is not None else match.group("bare")
        conditions.append((field, value))
    return conditions


@csrf_exempt
@login_not_required
@management_api(scopes=("read:logs", "read:logs_users"), group="logs", forbidden=LOGS_FORBIDDEN)
def search_logs(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed()
    q = request.GET.get("q") or request.GET.get("search") or ""
    try:
        conditions = _log_query(q) if q.strip() else []
    except BadQuery as problem:
        return api_error(400, problem.message, "invalid_query_string")
    return _log_page(request, log_reads.search(conditions))


# Authentication API: the password reset email ------------------------------------------------

RESET_SENT = "We've just sent you an email to reset your password."
# Every plan: burst 10, then 1 a minute, per IP address and email address.
RESET_EMAIL_LIMIT = Limit(10, 1)


@csrf_exempt
@login_not_required
def change_password_email(request: HttpRequest) -> HttpResponse:
    """POST /dbconnections/change_password: Auth0 emails a reset link (the sandbox sends none).

    No bearer token. The same answer for an unknown address (Auth0's definition: "the response
    is the same for security"); a known user's log gets `scpr`.
    """
    if request.method != "POST":
        return method_not_allowed()
    body = _body(request)
    if body is None:
        return _invalid_json()
    email, connection = body.get("email"), body.get("connection")
    if not isinstance(email, str) or not email or not isinstance(connection, str) or not connection:
        return _auth_error(400, "invalid_request", "Missing required parameters: email, connection")
    row = Connection.objects.using(SANDBOX_DB).filter(name=connection).first()
    if row is None:
        return _auth_error(400, "invalid_request", "connection not found")
    if row.strategy != "auth0":
        return _auth_error(400, "invalid_request", "Connection must be a database connection")
    ip = request.META.get("REMOTE_ADDR", "")
    if faults.current()["rate_limit_plan"] != "off":
        decision = buckets.take_keyed(f"reset:{ip}:{email.lower()}", RESET_EMAIL_LIMIT)
        if not decision.allowed:
            response = _auth_error(429, "too_many_requests", "Too many requests")
            for name, value in decision.headers().items():
                response[name] = value
            return response
    for profile in (
        TenantUser.objects.using(SANDBOX_DB).filter(email=email).values_list("profile", flat=True)
    ):
        user = json.loads(profile)
        if (user.get("identities") or [{}])[0].get("connection") == connection:
            tenant_logs.append(
                "scpr",
                user=user,
                connection={"id": row.id, "name": row.name},
                ip=ip,
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
                description="",
            )
    return HttpResponse(RESET_SENT, content_type="text/html; charset=utf-8")


def _auth_error(status: int, error: str, description: str) -> HttpResponse:
    """The Authentication API's error shape (`error`, `error_description`)."""
    return HttpResponse(
        json.dumps({"error": error, "error_description": description}),
        status=status,
        content_type=JSON_CONTENT_TYPE,
    )
