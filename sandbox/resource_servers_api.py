"""`POST /api/v2/resource-servers`, `GET` and `DELETE /api/v2/resource-servers/{id}`: the
tenant's APIs, whose scopes are the permissions `POST /users/{id}/permissions` may give. Shapes
from the definition's CreateResourceServerRequestContent and go-auth0's recordings."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote

from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import tenant_logs
from sandbox.access_models import ResourceServer, UserPermission
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
from sandbox.routers import SANDBOX_DB

# The definition's CreateResourceServerRequestContent (additionalProperties: false): each
# property's JSON types.
PROPERTIES: dict[str, tuple[str, ...]] = {
    "name": ("string",),
    "identifier": ("string",),
    "scopes": ("array",),
    "signing_alg": ("string",),
    "signing_secret": ("string",),
    "allow_offline_access": ("boolean",),
    "allow_online_access": ("boolean",),
    "token_lifetime": ("integer",),
    "token_dialect": ("string",),
    "skip_consent_for_verifiable_first_party_clients": ("boolean",),
    "enforce_policies": ("boolean",),
    "token_encryption": ("object", "null"),
    "consent_policy": ("string", "null"),
    "authorization_details": ("array", "null"),
    "proof_of_possession": ("object", "null"),
    "subject_type_authorization": ("object",),
    "authorization_policy": ("object", "null"),
    # Not in the definition's request, but sent by go-auth0 and kept by Auth0 (recorded).
    "token_lifetime_for_web": ("integer",),
}
ENUMS = {
    "signing_alg": ("HS256", "RS256", "RS512", "PS256"),
    "token_dialect": (
        "access_token",
        "access_token_authz",
        "rfc9068_profile",
        "rfc9068_profile_authz",
    ),
}
MAX_TOKEN_LIFETIME = 2_592_000
# What Auth0 answers for what the request left out (recorded: a request with only name,
# identifier, scopes and two booleans got these), in the order Auth0 sends them.
DEFAULTS: dict[str, Any] = {
    "signing_alg": "RS256",
    "allow_offline_access": False,
    "token_lifetime": 86400,
    "token_lifetime_for_web": 7200,
    "skip_consent_for_verifiable_first_party_clients": False,
}
# The nested objects the definition closes (additionalProperties: false): their fields' types
# and required fields.
SHAPES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "authorization_policy": ({"policy_id": "string"}, ("policy_id",)),
    "token_encryption": (
        {"format": "string", "encryption_key": "object"},
        ("format", "encryption_key"),
    ),
    "proof_of_possession": (
        {"mechanism": "string", "required": "boolean", "required_for": "string"},
        ("mechanism", "required"),
    ),
}
ENCRYPTION_KEY = (
    {"name": "string", "alg": "string", "kid": "string", "pem": "string"},
    ("alg", "pem"),
)


def _invalid(message: str) -> HttpResponse:
    return api_error(400, f"Payload validation error: {message}", "invalid_body")


def _checked(body: Any) -> HttpResponse | None:
    """The definition's checks, in its order: type, extra keys, required, each property."""
    if not isinstance(body, dict):
        return _invalid(f"'Expected type object but found type {json_type(body)}'.")
    extra = sorted(set(body) - set(PROPERTIES))
    if extra:
        return _invalid(f"'Additional properties not allowed: {','.join(extra)}'.")
    if "identifier" not in body:
        return _invalid("'Missing required property: identifier'.")
    for name, kinds in PROPERTIES.items():
        if name in body and json_type(body[name]) not in kinds:
            return _invalid(
                f"'Expected type {kinds[0]} but found type {json_type(body[name])}' on "
                f"property {name}."
            )
    for name, allowed in ENUMS.items():
        if name in body and body[name] not in allowed:
            return _invalid(f"'No enum match for: \"{body[name]}\"' on property {name}.")
    if not 1 <= len(body["identifier"]) <= 600:
        return _invalid("'String length must be between 1 and 600' on property identifier.")
    name = body.get("name", "")
    if len(name) > 200 or "<" in name or ">" in name:
        return _invalid(f"'String does not match pattern ^[^<>]+$: {name}' on property name.")
    if not 0 <= body.get("token_lifetime", 0) <= MAX_TOKEN_LIFETIME:
        return _invalid(
            f"'Value must be between 0 and {MAX_TOKEN_LIFETIME}' on property token_lifetime."
        )
    for name, (fields, required) in SHAPES.items():
        why = shape_refused(name, body.get(name), fields, required)
        if why:
            return _invalid(f"{why}.")
    encryption = body.get("token_encryption") or {}
    why = shape_refused(
        "token_encryption.encryption_key", encryption.get("encryption_key"), *ENCRYPTION_KEY
    )
    if why:
        return _invalid(f"{why}.")
    return _scopes_refused(body.get("scopes", []))


def _scopes_refused(scopes: list[Any]) -> HttpResponse | None:
    for scope in scopes:
        if not isinstance(scope, dict) or not isinstance(scope.get("value"), str):
            return _invalid("'Missing required property: value' on property scopes.")
        if set(scope) - {"value", "description"}:
            return _invalid("'Additional properties not allowed' on property scopes.")
    return None


def server_json(server: ResourceServer) -> dict[str, Any]:
    return {"id": server.id, **server.body}


def _answer_body(body: dict[str, Any]) -> dict[str, Any]:
    """The stored object: Auth0's order and defaults; an encryption key's PEM is never sent
    back (recorded)."""
    made: dict[str, Any] = {"name": body.get("name", body["identifier"])}
    made["identifier"] = body["identifier"]
    made["scopes"] = body.get("scopes", [])
    for key, value in DEFAULTS.items():
        made[key] = body.get(key, value)
    for key, value in body.items():
        if key not in made and key != "signing_secret":
            made[key] = value
    encryption = made.get("token_encryption")
    if isinstance(encryption, dict) and isinstance(encryption.get("encryption_key"), dict):
        public = {k: v for k, v in encryption["encryption_key"].items() if k != "pem"}
        made["token_encryption"] = {**encryption, "encryption_key": public}
    return made


def _find(server_id: str) -> ResourceServer | None:
    """By its id or by its identifier, as Auth0 takes either."""
    wanted = unquote(server_id)
    rows = ResourceServer.objects.using(SANDBOX_DB)
    return rows.filter(Q(id=wanted) | Q(identifier=wanted)).first()


@management_api(
    scopes=("create:resource_servers",),
    group="other",
    forbidden=expected_any("create:resource_servers"),
)
def create(request: HttpRequest) -> HttpResponse:
    try:
        body = strict_json(request.body or b"")
    except ValueError:
        return api_error(400, "Invalid request payload JSON format")
    refused = _checked(body)
    if refused is not None:
        return refused
    try:
        with transaction.atomic(using=SANDBOX_DB):
            server = ResourceServer.objects.using(SANDBOX_DB).create(
                id=secrets.token_hex(12), identifier=body["identifier"], body=_answer_body(body)
            )
    except IntegrityError:
        return api_error(
            409, "A resource server with the same identifier already exists", "conflict"
        )
    answer = server_json(server)
    tenant_logs.api_write(
        request,
        "Create a Resource Server",
        status=201,
        body=body,
        response_body=answer,
        scopes=granted_scopes(request),
    )
    return json_response(answer, status=201)


@management_api(
    scopes=("read:resource_servers",),
    group="other",
    forbidden=expected_any("read:resource_servers"),
)
def read(request: HttpRequest, server_id: str) -> HttpResponse:
    server = _find(server_id)
    if server is None:
        return api_error(404, "The resource server does not exist", "inexistent_resource_server")
    return json_response(server_json(server))


@management_api(
    scopes=("delete:resource_servers",),
    group="other",
    forbidden=expected_any("delete:resource_servers"),
)
def delete(request: HttpRequest, server_id: str) -> HttpResponse:
    """204 whether it existed or not (recorded: a second DELETE answered 204 too). Its
    permissions go from every user who held them."""
    server = _find(server_id)
    if server is not None:
        with transaction.atomic(using=SANDBOX_DB):
            UserPermission.objects.using(SANDBOX_DB).filter(
                resource_server_identifier=server.identifier
            ).delete()
            server.delete(using=SANDBOX_DB)
        tenant_logs.api_write(
            request,
            "Delete a Resource Server",
            status=204,
            body=None,
            response_body={},
            scopes=granted_scopes(request),
        )
    return HttpResponse(status=204)


@csrf_exempt
@login_not_required
def resource_servers(request: HttpRequest) -> HttpResponse:
    """`/api/v2/resource-servers`: POST creates one (the list is not emulated)."""
    return create(request) if request.method == "POST" else method_not_allowed()


@csrf_exempt
@login_not_required
def one_resource_server(request: HttpRequest, server_id: str) -> HttpResponse:
    """`/api/v2/resource-servers/{id}`: GET reads, DELETE deletes it."""
    view = {"GET": read, "DELETE": delete}.get(request.method or "")
    return view(request, server_id) if view else method_not_allowed()
