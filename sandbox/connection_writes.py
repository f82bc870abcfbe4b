"""`POST /api/v2/connections`, `PATCH` and `DELETE /api/v2/connections/{id}`, as Auth0 answers
them (go-auth0's recordings of every strategy, the definition's CreateConnectionRequestContent
and UpdateConnectionRequestContent). The reads are in `sandbox.connections_api`."""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import tenant_logs
from sandbox.connections_api import connection_json, get_connection, list_connections
from sandbox.http import (
    api_error,
    expected_any,
    granted_scopes,
    json_response,
    json_type,
    management_api,
    method_not_allowed,
    shape_refused,
    strict_json,
)
from sandbox.models import Connection, TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.users import now_iso

# The definition's CreateConnectionRequestContent (additionalProperties: false) and the type of
# each property; an update takes the same but `name` and `strategy`, and `options` and
# `enabled_clients` may be null there.
CREATE_TYPES = {
    "name": "string",
    "display_name": "string",
    "strategy": "string",
    "options": "object",
    "enabled_clients": "array",
    "is_domain_connection": "boolean",
    "show_as_button": "boolean",
    "realms": "array",
    "metadata": "object",
    "authentication": "object",
    "connected_accounts": "object",
}
UPDATE_TYPES = {k: v for k, v in CREATE_TYPES.items() if k not in ("name", "strategy")}
NULLABLE_ON_UPDATE = frozenset({"options", "enabled_clients"})
MAX_METADATA_KEYS = 10
MAX_METADATA_VALUE = 255
# The definition's ConnectionAuthenticationPurpose and ConnectionConnectedAccountsPurpose.
PURPOSES: dict[str, dict[str, str]] = {
    "authentication": {"active": "boolean"},
    "connected_accounts": {"active": "boolean", "cross_app_access": "boolean"},
}
# Set as given and answered back: kept in `Connection.properties`.
PROPERTIES = (
    "enabled_clients",
    "show_as_button",
    "realms",
    "metadata",
    "authentication",
    "connected_accounts",
)
# The definition's `strategy` enum.
STRATEGIES = frozenset(
    (
        "ad",
        "adfs",
        "amazon",
        "apple",
        "dropbox",
        "bitbucket",
        "auth0-oidc",
        "auth0",
        "baidu",
        "bitly",
        "box",
        "custom",
        "daccount",
        "dwolla",
        "email",
        "evernote-sandbox",
        "evernote",
        "exact",
        "facebook",
        "fitbit",
        "github",
        "google-apps",
        "google-oauth2",
        "instagram",
        "ip",
        "line",
        "linkedin",
        "oauth1",
        "oauth2",
        "office365",
        "oidc",
        "okta",
        "paypal",
        "paypal-sandbox",
        "pingfederate",
        "planningcenter",
        "salesforce-community",
        "salesforce-sandbox",
        "salesforce",
        "samlp",
        "sharepoint",
        "shopify",
        "shop",
        "sms",
        "soundcloud",
        "thirtysevensignals",
        "twitter",
        "untappd",
        "vkontakte",
        "waad",
        "weibo",
        "windowslive",
        "wordpress",
        "yahoo",
        "yandex",
    )
)
NAME_PATTERN = "^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$"
_NAME = re.compile(NAME_PATTERN)
# What Auth0 added to the options of a connection created without them (recorded: go-auth0
# TestConnectionManager_Create, one cassette a strategy, 2025); a strategy not here gets none.
STRATEGY_DEFAULTS: dict[str, dict[str, Any]] = {
    "auth0": {
        "mfa": {"active": True, "return_enroll_settings": True},
        "passwordPolicy": "good",
        "strategy_version": 2,
        "authentication_methods": {"password": {"enabled": True}, "passkey": {"enabled": False}},
        "passkey_options": {
            "challenge_ui": "both",
            "progressive_enrollment_enabled": True,
            "local_enrollment_enabled": True,
        },
        "brute_force_protection": True,
    },
    "ad": {"ips": None, "brute_force_protection": True},
    "adfs": {"thumbprints": []},
    "google-oauth2": {"email": True, "profile": True, "scope": ["email", "profile"]},
    "google-apps": {"email": True, "profile": True, "scope": ["email", "profile"]},
    "line": {"profile": True},
    "wordpress": {"profile": True},
    "windowslive": {"scope": [], "signin": True},
    "github": {"scope": []},
    "salesforce": {"scope": []},
    "facebook": {"scope": ""},
}
_ID_ALPHABET = string.ascii_letters + string.digits


def _invalid(message: str) -> HttpResponse:
    return api_error(400, f"Payload validation error: {message}", "invalid_body")


def _refused(message: str) -> HttpResponse:
    return api_error(400, message, "invalid_body")


def _type_error(name: str, value: Any, expected: str, nullable: bool) -> HttpResponse | None:
    kinds = {"string": str, "object": dict, "array": list, "boolean": bool}
    if isinstance(value, kinds[expected]) or (nullable and value is None):
        return None
    return _invalid(
        f"'Expected type {expected} but found type {json_type(value)}' on property {name}."
    )


def _checked(
    body: Any, types: dict[str, str], required: tuple[str, ...], nullable: frozenset[str]
) -> HttpResponse | None:
    """The definition's checks, in its order: type, extra keys, required, each property."""
    if not isinstance(body, dict):
        return _invalid(f"'Expected type object but found type {json_type(body)}'.")
    extra = sorted(set(body) - set(types))
    if extra:
        return _invalid(f"'Additional properties not allowed: {','.join(extra)}'.")
    for name in required:
        if name not in body:
            return _invalid(f"'Missing required property: {name}'.")
    for name, kind in types.items():
        if name in body:
            refused = _type_error(name, body[name], kind, name in nullable)
            if refused is not None:
                return refused
    for listed in ("realms", "enabled_clients"):
        if any(not isinstance(item, str) for item in body.get(listed) or []):
            return _invalid(f"'Expected an array of strings' on property {listed}.")
    why = _metadata_refused(body.get("metadata") or {})
    if why:
        return _invalid(f"{why}.")
    for purpose, fields in PURPOSES.items():
        why = shape_refused(purpose, body.get(purpose), fields, ("active",))
        if why:
            return _invalid(f"{why}.")
    if "name" in body:
        name = body["name"]
        if len(name) > 128:
            return _invalid(
                f"'String is too long ({len(name)} chars), maximum 128' on property name."
            )
        if not _NAME.match(name):
            return _invalid(
                f"'String does not match pattern {NAME_PATTERN}: {name}' on property name."
            )
    if len(body.get("display_name") or "") > 128:
        return _invalid("'String is too long, maximum 128' on property display_name.")
    return None


def _metadata_refused(metadata: dict[str, Any]) -> str:
    """The definition's ConnectionsMetadata: at most 10 keys, each a string of at most 255
    characters or null."""
    if len(metadata) > MAX_METADATA_KEYS:
        return f"'Too many properties ({len(metadata)}), maximum {MAX_METADATA_KEYS}' on metadata"
    for key, value in metadata.items():
        if value is not None and not isinstance(value, str):
            return f"'Expected type string but found type {json_type(value)}' on metadata.{key}"
        if isinstance(value, str) and len(value) > MAX_METADATA_VALUE:
            return f"'String is too long, maximum {MAX_METADATA_VALUE}' on metadata.{key}"
    return ""


def _attributes_refused(options: dict[str, Any]) -> HttpResponse | None:
    """A database connection's `attributes` (flexible identifiers), checked as Auth0 checked
    them (recorded: TestConnectionManager_CreateDBConnectionWithDifferentOptions)."""
    attributes = options.get("attributes")
    if not isinstance(attributes, dict):
        return None
    for other in ("requires_username", "validation"):
        if other in options:
            return _refused(f"Cannot set both options.attributes and options.{other}")
    settings = {name: value for name, value in attributes.items() if isinstance(value, dict)}
    if not any((value.get("identifier") or {}).get("active") for value in settings.values()):
        return _refused("attributes must contain one active identifier")
    for name, value in settings.items():
        signup = value.get("signup") or {}
        if value.get("profile_required") and signup.get("status") != "required":
            return _refused(f"attribute {name} must also be required on signup")
    return None


def _kept(body: dict[str, Any], key: str) -> bool:
    """Whether a given property is stored as given: not null, and realms not empty (an empty
    list, or none, makes the connection's name its realm)."""
    if body.get(key) is None:
        return False
    return key != "realms" or bool(body[key])


def _new_id() -> str:
    return "con_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


def _logged(request: HttpRequest, description: str, status: int, body: Any, answer: Any) -> None:
    tenant_logs.api_write(
        request,
        description,
        status=status,
        body=body,
        response_body=answer,
        scopes=granted_scopes(request),
    )


@management_api(scopes=("create:connections",), group="other")
def create_connection(request: HttpRequest) -> HttpResponse:
    """A connection of any strategy the definition names, answered 201 as Auth0 answers it,
    with the options Auth0 adds for its strategy. The sandbox has one application: it is
    enabled on the new connection unless `enabled_clients` says otherwise."""
    try:
        body = strict_json(request.body or b"")
    except ValueError:
        return api_error(400, "Invalid request payload JSON format")
    refused = _checked(body, CREATE_TYPES, ("name", "strategy"), frozenset())
    if refused is not None:
        return refused
    if body["strategy"] not in STRATEGIES:
        return _invalid(
            f"'No enum match for: \"{body['strategy']}\"' on property strategy "
            "(The identity provider identifier for the connection)."
        )
    options = {**STRATEGY_DEFAULTS.get(body["strategy"], {}), **body.get("options", {})}
    if body["strategy"] == "auth0":
        refused = _attributes_refused(options)
        if refused is not None:
            return refused
    name = body["name"]
    if Connection.objects.filter(name=name).exists():
        return api_error(409, "A connection with the same name already exists", "conflict")
    last = Connection.objects.aggregate(last=Max("position"))["last"] or 0
    try:
        with transaction.atomic(using=SANDBOX_DB):
            connection = Connection.objects.create(
                id=_new_id(),
                name=name,
                display_name=body.get("display_name", ""),
                strategy=body["strategy"],
                options=options,
                is_domain_connection=body.get("is_domain_connection", False),
                position=last + 1,
                properties={key: body[key] for key in PROPERTIES if _kept(body, key)},
            )
    except IntegrityError:
        return api_error(409, "A connection with the same name already exists", "conflict")
    answer = connection_json(connection)
    _logged(request, "Create a Connection", 201, body, answer)
    return json_response(answer, status=201)


@management_api(
    scopes=("update:connections",), group="other", forbidden=expected_any("update:connections")
)
def update_connection(request: HttpRequest, connection_id: str) -> HttpResponse:
    """The given properties replace the connection's; `options`, when given, replaces the whole
    options object (the definition's note)."""
    try:
        body = strict_json(request.body or b"{}")
    except ValueError:
        return api_error(400, "Invalid request payload JSON format")
    refused = _checked(body, UPDATE_TYPES, (), NULLABLE_ON_UPDATE)
    if refused is not None:
        return refused
    connection = Connection.objects.filter(id=connection_id).first()
    if connection is None:
        return api_error(404, "The connection does not exist", "inexistent_connection")
    if body.get("options") is not None:
        if connection.strategy == "auth0":
            refused = _attributes_refused(body["options"])
            if refused is not None:
                return refused
        connection.options = body["options"]
    if "display_name" in body:
        connection.display_name = body["display_name"]
    if "is_domain_connection" in body:
        connection.is_domain_connection = body["is_domain_connection"]
    properties = {**connection.properties}
    for key in PROPERTIES:
        if _kept(body, key):
            properties[key] = body[key]
        elif key == "realms" and key in body:
            properties.pop(key, None)
    connection.properties = properties
    connection.save(using=SANDBOX_DB)
    answer = connection_json(connection)
    _logged(request, "Update a Connection", 200, body, answer)
    return json_response(answer)


def _users_of(name: str) -> list[int]:
    """The users whose primary identity is on the connection (read from their profiles: the
    search columns may lag behind a write)."""
    needle = json.dumps(name)
    rows = TenantUser.objects.using(SANDBOX_DB).filter(profile__contains=needle)
    found = []
    for pk, profile in rows.values_list("pk", "profile"):
        identities = json.loads(profile).get("identities") or [{}]
        if identities[0].get("connection") == name:
            found.append(pk)
    return found


@management_api(
    scopes=("delete:connections",), group="other", forbidden=expected_any("delete:connections")
)
def delete_connection(request: HttpRequest, connection_id: str) -> HttpResponse:
    """202 with `deleted_at` while the connection and its users go; 204 once it is gone (the
    definition's two answers). Auth0 deletes a connection's users with it; so does the sandbox,
    at once."""
    connection = Connection.objects.filter(id=connection_id).first()
    if connection is None:
        return HttpResponse(status=204)
    with transaction.atomic(using=SANDBOX_DB):
        TenantUser.objects.using(SANDBOX_DB).filter(pk__in=_users_of(connection.name)).delete()
        connection.delete(using=SANDBOX_DB)
    answer = {"deleted_at": now_iso()}
    _logged(request, "Delete a Connection", 202, None, answer)
    return json_response(answer, status=202)


@csrf_exempt
@login_not_required
def connections_collection(request: HttpRequest) -> HttpResponse:
    """`/api/v2/connections`: GET lists them, POST creates one."""
    if request.method == "POST":
        return create_connection(request)
    if request.method == "GET":
        return list_connections(request)
    return method_not_allowed()


@csrf_exempt
@login_not_required
def one_connection(request: HttpRequest, connection_id: str) -> HttpResponse:
    """`/api/v2/connections/{id}`: GET reads, PATCH changes, DELETE deletes it."""
    view = {"GET": get_connection, "PATCH": update_connection, "DELETE": delete_connection}
    if request.method not in view:
        return method_not_allowed()
    return view[request.method](request, connection_id)
