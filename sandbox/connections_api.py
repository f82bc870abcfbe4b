"""`GET /api/v2/connections` (offset paging with totals, checkpoint paging, filters) and
`GET /api/v2/connections/{id}`; the writes are in `sandbox.connection_writes`."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from sandbox.http import (
    api_error,
    json_response,
    management_api,
    method_not_allowed,
)
from sandbox.models import Connection

# The names `fields` may hold, from the definition's pattern (`sandbox/oas/emulated.yml`).
PICKABLE_FIELDS = (
    "name",
    "display_name",
    "strategy",
    "options",
    "id",
    "provisioning_ticket_url",
    "metadata",
    "show_as_button",
    "clients",
    "authentication",
    "connected_accounts",
    "cross_app_access_requesting_app",
    "cross_app_access_resource_app",
    "enabled_clients",
)
FIELDS_PATTERN = "^(({names}))(,(({names})))*$".format(names=")|(".join(PICKABLE_FIELDS))
FIELDS_DESCRIPTION = (
    "A comma separated list of fields to include or exclude (depending on include_fields) "
    "from the result, empty to retrieve all fields"
)
# Auth0 sends these whatever `fields` says (recorded: `fields=id` -> id and is_domain_connection;
# `fields=strategy,name` keeps the id too).
ALWAYS_SENT = ("id", "is_domain_connection")
# Enterprise strategies: recorded with `show_as_button`; those with a provisioning ticket (the
# address an administrator opens to set the connection up) also carry `provisioning_ticket_url`.
BUTTON_STRATEGIES = frozenset(
    {"samlp", "ad", "adfs", "google-apps", "oidc", "okta", "pingfederate", "waad"}
)
TICKET_STRATEGIES = frozenset({"samlp", "ad", "adfs", "google-apps", "pingfederate", "waad"})


def _ticket(connection: Connection) -> str:
    token = hashlib.sha256(connection.id.encode()).hexdigest()[:8]
    return f"https://{settings.SANDBOX_DOMAIN}/p/{connection.strategy}/{token}"


def connection_json(connection: Connection) -> dict[str, Any]:
    """A connection as Auth0 answered it in 2026 (go-auth0 recordings, keys in their order)."""
    body: dict[str, Any] = {
        "id": connection.id,
        "options": connection.options,
        "strategy": connection.strategy,
        "name": connection.name,
    }
    if connection.strategy in TICKET_STRATEGIES:
        body["provisioning_ticket_url"] = _ticket(connection)
    body["is_domain_connection"] = connection.is_domain_connection
    if connection.strategy in BUTTON_STRATEGIES:
        body["show_as_button"] = False
    # On every connection object since late 2025; Connected Accounts is off unless enabled.
    body["authentication"] = {"active": True}
    body["connected_accounts"] = {"active": False}
    # The sandbox has one application, enabled on every connection.
    body["enabled_clients"] = [settings.SANDBOX_CLIENT_ID]
    body["realms"] = [connection.name]
    if connection.display_name:
        body["display_name"] = connection.display_name
    # What the connection was created or changed with (sandbox.connection_writes).
    body.update(connection.properties)
    return body


def _query_error(message: str) -> JsonResponse:
    return api_error(400, f"Query validation error: {message}", "invalid_query_string")


def _int_param(request: HttpRequest, name: str, low: int, high: int) -> int | JsonResponse | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return _query_error(f"'Expected type integer but found type string' on property {name}")
    if value < low:
        return _query_error(f"'Value {value} is less than minimum {low}' on property {name}")
    if value > high:
        return _query_error(f"'Value {value} is greater than maximum {high}' on property {name}")
    return value


def _bool_param(request: HttpRequest, name: str, default: bool) -> bool | JsonResponse:
    raw = request.GET.get(name)
    if raw is None:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    return _query_error(f"'Expected type boolean but found type string' on property {name}")


def _checkpoint(position: int) -> str:
    return base64.urlsafe_b64encode(f"connections:{position}".encode()).decode().rstrip("=")


def _from_checkpoint(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, position = text.partition(":")
        return int(position) if kind == "connections" and int(position) >= 0 else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _pick(items: list[dict[str, Any]], request: HttpRequest) -> list[dict[str, Any]] | JsonResponse:
    include = _bool_param(request, "include_fields", True)
    if isinstance(include, JsonResponse):
        return include
    raw = request.GET.get("fields", "")
    if not raw:
        return items
    fields = raw.split(",")
    if any(name not in PICKABLE_FIELDS for name in fields):
        return _query_error(
            f"'String does not match pattern {FIELDS_PATTERN}: {raw}' on property fields "
            f"({FIELDS_DESCRIPTION})."
        )
    if include:
        kept = {*fields, *ALWAYS_SENT}
        return [{k: v for k, v in item.items() if k in kept} for item in items]
    return [{k: v for k, v in item.items() if k not in fields} for item in items]


@management_api(scopes=("read:connections",), group="connections")
def list_connections(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed()
    # Checked with either kind of paging, though checkpoint paging sends no totals.
    include_totals = _bool_param(request, "include_totals", False)
    if isinstance(include_totals, JsonResponse):
        return include_totals
    connections = Connection.objects.order_by("position", "name")
    strategies = [s for s in request.GET.getlist("strategy") if s]
    if strategies:
        connections = connections.filter(strategy__in=strategies)
    if request.GET.get("name"):
        connections = connections.filter(name=request.GET["name"])

    if "from" in request.GET or "take" in request.GET:
        take = _int_param(request, "take", 1, 100)
        if isinstance(take, JsonResponse):
            return take
        take = take or 50
        start = 0
        if request.GET.get("from"):
            checkpoint = _from_checkpoint(request.GET["from"])
            if checkpoint is None:
                return _query_error("'from' is not a valid checkpoint")
            start = checkpoint
        page = [connection_json(c) for c in connections[start : start + take + 1]]
        picked = _pick(page[:take], request)
        if isinstance(picked, JsonResponse):
            return picked
        body: dict[str, Any] = {"connections": picked}
        if len(page) > take:
            body["next"] = _checkpoint(start + take)
        return json_response(body)

    per_page = _int_param(request, "per_page", 1, 100)
    if isinstance(per_page, JsonResponse):
        return per_page
    page_number = _int_param(request, "page", 0, 1_000_000)
    if isinstance(page_number, JsonResponse):
        return page_number
    limit = per_page or 100
    start = (page_number or 0) * limit
    picked = _pick([connection_json(c) for c in connections[start : start + limit]], request)
    if isinstance(picked, JsonResponse):
        return picked
    if include_totals:
        return json_response(
            {"total": connections.count(), "start": start, "limit": limit, "connections": picked}
        )
    return json_response(picked)


@management_api(scopes=("read:connections",), group="connections")
def get_connection(request: HttpRequest, connection_id: str) -> HttpResponse:
    connection = Connection.objects.filter(id=connection_id).first()
    if connection is None:
        # Recorded without a full stop (TestConnectionManager_Delete.yaml).
        return api_error(404, "The connection does not exist", "inexistent_connection")
    picked = _pick([connection_json(connection)], request)
    if isinstance(picked, JsonResponse):
        return picked
    return json_response(picked[0])
