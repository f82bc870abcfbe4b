"""Roles, permissions, organizations and single sessions/refresh tokens of the sandbox tenant.

Each function takes plain values and returns what the API answers, or raises
`support.ActionError` with Auth0's status, message and errorCode; the views in
`sandbox.access_api` add the HTTP envelope. Writes append the events Auth0 would.
"""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from django.db import transaction

from sandbox import tenant_logs
from sandbox.access_models import (
    Membership,
    Organization,
    ResourceServer,
    Role,
    UserPermission,
    UserRole,
)
from sandbox.models import TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.support import ActionError, Found, find, users_now
from sandbox.support_models import RefreshToken

# Auth0's entity limits (docs: entity-limit-policy).
MAX_ROLES_PER_USER = 50
MAX_PERMISSIONS_PER_USER = 1000
MAX_ROLES_PER_MEMBER = 50


def _payload(message: str) -> ActionError:
    return ActionError(400, f"Payload validation error: {message}.", "invalid_body")


def ids_in(body: Any, key: str) -> list[str]:
    """`{"<key>": ["...", ...]}` as the definitions require it: only that key, a non-empty
    array of non-empty strings."""
    if not isinstance(body, dict):
        raise _payload("'Expected type object but found type array'")
    extra = [k for k in body if k != key]
    if extra:
        raise _payload(f"'Additional properties not allowed: {', '.join(extra)}'")
    if key not in body:
        raise _payload(f"'Missing required property: {key}'")
    values = body[key]
    if not isinstance(values, list):
        raise _payload(f"'Expected type array but found type {type(values).__name__}' on {key}")
    if not values:
        raise _payload(f"'Array is too short (0), minimum 1' on property {key}")
    if not all(isinstance(v, str) and v for v in values):
        raise _payload(f"'Expected a non-empty string' on property {key}")
    return list(dict.fromkeys(values))


def _user(user_id: str) -> Found:
    found = find(user_id)
    if found is None:
        raise ActionError(404, "The user does not exist.", "inexistent_user")
    return found


# Roles ------------------------------------------------------------------------------------------


def role_json(role: Role) -> dict[str, Any]:
    return {"id": role.id, "name": role.name, "description": role.description}


def roles(name_filter: str | None) -> list[dict[str, Any]]:
    """The tenant's roles by name; `name_filter` matches a part of the name, any letter case
    (Auth0's docs say case-insensitive; substring or prefix is not settled)."""
    rows = Role.objects.using(SANDBOX_DB).order_by("name")
    if name_filter:
        rows = rows.filter(name__icontains=name_filter)
    return [role_json(r) for r in rows]


def _role(role_id: str) -> Role:
    found = Role.objects.using(SANDBOX_DB).filter(id=role_id).first()
    if found is None:
        # Recorded without an errorCode (go-auth0 TestRoleManager_Delete).
        raise ActionError(404, "The role does not exist.")
    return found


def role(role_id: str) -> dict[str, Any]:
    return role_json(_role(role_id))


ROLE_PROPERTIES = ("name", "description")
_ROLE_ID_ALPHABET = string.ascii_letters + string.digits


def _role_body(body: Any, required: tuple[str, ...]) -> dict[str, str]:
    """CreateRoleRequestContent / UpdateRoleRequestContent: `name` and `description`, strings,
    nothing else."""
    if not isinstance(body, dict):
        raise _payload("'Expected type object but found type array'")
    extra = sorted(set(body) - set(ROLE_PROPERTIES))
    if extra:
        raise _payload(f"'Additional properties not allowed: {','.join(extra)}'")
    for name in required:
        if name not in body:
            raise _payload(f"'Missing required property: {name}'")
    for name in ROLE_PROPERTIES:
        if name in body and not isinstance(body[name], str):
            raise _payload(f"'Expected type string but found type {type(body[name]).__name__}'")
    if "name" in body and not body["name"].strip():
        raise _payload("'String is too short (0 chars), minimum 1' on property name")
    return {name: body[name] for name in ROLE_PROPERTIES if name in body}


def _name_taken(name: str, but: str = "") -> None:
    if Role.objects.using(SANDBOX_DB).filter(name=name).exclude(id=but).exists():
        raise ActionError(409, "The role already exists.", "conflict")


def create_role(body: Any) -> dict[str, Any]:
    """POST /roles: a role with no permissions (the definition's note), answered 200."""
    values = _role_body(body, ("name",))
    with transaction.atomic(using=SANDBOX_DB):
        _name_taken(values["name"])
        made = Role.objects.using(SANDBOX_DB).create(
            id="rol_" + "".join(secrets.choice(_ROLE_ID_ALPHABET) for _ in range(16)),
            name=values["name"],
            description=values.get("description", ""),
        )
    return role_json(made)


def update_role(role_id: str, body: Any) -> dict[str, Any]:
    values = _role_body(body, ())
    with transaction.atomic(using=SANDBOX_DB):
        found = _role(role_id)
        if "name" in values:
            _name_taken(values["name"], but=role_id)
            found.name = values["name"]
        if "description" in values:
            found.description = values["description"]
        found.save(using=SANDBOX_DB)
    return role_json(found)


def delete_role(role_id: str) -> None:
    """The role goes, and with it every user's and member's assignment of it."""
    with transaction.atomic(using=SANDBOX_DB):
        found = _role(role_id)
        for membership in Membership.objects.using(SANDBOX_DB).all():
            if role_id in membership.roles:
                membership.roles = [r for r in membership.roles if r != role_id]
                membership.save(using=SANDBOX_DB)
        found.delete(using=SANDBOX_DB)


def user_roles(user_id: str) -> list[dict[str, Any]]:
    found = _user(user_id)
    rows = UserRole.objects.using(SANDBOX_DB).filter(user=found.user).select_related("role")
    return [role_json(r.role) for r in rows.order_by("role__name")]


def _known_roles(ids: list[str]) -> list[Role]:
    known = list(Role.objects.using(SANDBOX_DB).filter(id__in=ids))
    if len(known) != len(ids):
        missing = sorted(set(ids) - {r.id for r in known})
        raise ActionError(
            400, f"One or more roles do not exist: {', '.join(missing)}", "invalid_body"
        )
    return known


def assign_roles(user_id: str, ids: list[str]) -> None:
    found = _user(user_id)
    with transaction.atomic(using=SANDBOX_DB):
        known = _known_roles(ids)
        have = set(
            UserRole.objects.using(SANDBOX_DB)
            .filter(user=found.user)
            .values_list("role_id", flat=True)
        )
        new = [r for r in known if r.id not in have]
        if len(have) + len(new) > MAX_ROLES_PER_USER:
            raise ActionError(
                400, f"A user cannot have more than {MAX_ROLES_PER_USER} roles.", "too_many_roles"
            )
        UserRole.objects.using(SANDBOX_DB).bulk_create(
            [UserRole(user=found.user, role=r) for r in new]
        )


def remove_roles(user_id: str, ids: list[str]) -> None:
    found = _user(user_id)
    with transaction.atomic(using=SANDBOX_DB):
        _known_roles(ids)
        UserRole.objects.using(SANDBOX_DB).filter(user=found.user, role_id__in=ids).delete()


# Permissions ------------------------------------------------------------------------------------

DIRECT = {"source_id": "", "source_name": "", "source_type": "DIRECT"}
PERMISSION_KEYS = ("resource_server_identifier", "permission_name")


def user_permissions(user_id: str) -> list[dict[str, Any]]:
    """Direct permissions and those of directly assigned roles, each once with its `sources`
    (`DIRECT` with empty id and name, or the role's id and name with `ROLE`)."""
    found = _user(user_id)
    merged: dict[tuple[str, str], dict[str, Any]] = {}

    def add(item: dict[str, Any], source: dict[str, str]) -> None:
        key = (item["resource_server_identifier"], item["permission_name"])
        entry = merged.setdefault(
            key,
            {
                "permission_name": item["permission_name"],
                "description": item.get("description", ""),
                "resource_server_name": item.get("resource_server_name", ""),
                "resource_server_identifier": item["resource_server_identifier"],
                "sources": [],
            },
        )
        entry["sources"].append(source)

    for direct in UserPermission.objects.using(SANDBOX_DB).filter(user=found.user).order_by("id"):
        add(
            {
                "resource_server_identifier": direct.resource_server_identifier,
                "permission_name": direct.permission_name,
                "description": direct.description,
                "resource_server_name": direct.resource_server_name,
            },
            DIRECT,
        )
    rows = UserRole.objects.using(SANDBOX_DB).filter(user=found.user).select_related("role")
    for assigned in rows.order_by("role__name"):
        for item in assigned.role.permissions:
            add(
                item,
                {
                    "source_id": assigned.role.id,
                    "source_name": assigned.role.name,
                    "source_type": "ROLE",
                },
            )
    return sorted(
        merged.values(), key=lambda p: (p["resource_server_identifier"], p["permission_name"])
    )


def _permissions_in(body: Any) -> list[tuple[str, str]]:
    if not isinstance(body, dict) or set(body) != {"permissions"}:
        raise _payload("'Expected exactly the property permissions'")
    items = body["permissions"]
    if not isinstance(items, list) or not items:
        raise _payload("'Array is too short (0), minimum 1' on property permissions")
    pairs = []
    for item in items:
        if not isinstance(item, dict) or set(item) != set(PERMISSION_KEYS):
            raise _payload(
                "'Each permission needs resource_server_identifier and permission_name, and "
                "nothing else' on property permissions"
            )
        if not all(isinstance(item[k], str) and item[k] for k in PERMISSION_KEYS):
            raise _payload("'Expected a non-empty string' on property permissions")
        pairs.append((item["resource_server_identifier"], item["permission_name"]))
    return list(dict.fromkeys(pairs))


def _catalogue() -> dict[tuple[str, str], dict[str, Any]]:
    """The permissions a user may be given: every scope of a resource server (seeded or made by
    POST /resource-servers), and every permission a role holds."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in Role.objects.using(SANDBOX_DB).all():
        for item in row.permissions:
            found[(item["resource_server_identifier"], item["permission_name"])] = item
    for server in ResourceServer.objects.using(SANDBOX_DB).all():
        for scope in server.body.get("scopes") or []:
            found[(server.identifier, scope["value"])] = {
                "resource_server_identifier": server.identifier,
                "permission_name": scope["value"],
                "description": scope.get("description", ""),
                "resource_server_name": server.body.get("name", ""),
            }
    return found


def assign_permissions(user_id: str, body: Any) -> None:
    found = _user(user_id)
    pairs = _permissions_in(body)
    catalogue = _catalogue()
    unknown = [f"{rs} {name}" for rs, name in pairs if (rs, name) not in catalogue]
    if unknown:
        raise ActionError(
            400,
            f"Permissions not defined by the resource server: {', '.join(unknown)}",
            "invalid_body",
        )
    with transaction.atomic(using=SANDBOX_DB):
        rows = UserPermission.objects.using(SANDBOX_DB).filter(user=found.user)
        have = {(p.resource_server_identifier, p.permission_name) for p in rows}
        new = [pair for pair in pairs if pair not in have]
        if len(have) + len(new) > MAX_PERMISSIONS_PER_USER:
            raise ActionError(
                400, "No more permissions can be assigned to this user.", "invalid_body"
            )
        UserPermission.objects.using(SANDBOX_DB).bulk_create(
            [
                UserPermission(
                    user=found.user,
                    resource_server_identifier=rs,
                    permission_name=name,
                    description=catalogue[(rs, name)].get("description", ""),
                    resource_server_name=catalogue[(rs, name)].get("resource_server_name", ""),
                )
                for rs, name in new
            ]
        )


def remove_permissions(user_id: str, body: Any) -> None:
    found = _user(user_id)
    for rs, name in _permissions_in(body):
        UserPermission.objects.using(SANDBOX_DB).filter(
            user=found.user, resource_server_identifier=rs, permission_name=name
        ).delete()


# Organizations ------------------------------------------------------------------------------------


def organization_json(org: Organization) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, **org.body}


def user_organizations(user_id: str) -> list[dict[str, Any]]:
    found = _user(user_id)
    rows = (
        Membership.objects.using(SANDBOX_DB).filter(user=found.user).select_related("organization")
    )
    return [organization_json(m.organization) for m in rows.order_by("organization__name")]


def _organization(org_id: str) -> Organization:
    org = Organization.objects.using(SANDBOX_DB).filter(id=org_id).first()
    if org is None:
        raise ActionError(404, "No organization found by that id.", "inexistent_organization")
    return org


def members(org_id: str) -> list[dict[str, Any]]:
    """GET /organizations/{id}/members: every member in membership order, with `roles`
    (`{id, name}`)."""
    org = _organization(org_id)
    rows = (
        Membership.objects.using(SANDBOX_DB)
        .filter(organization=org)
        .select_related("user")
        .order_by("created_at", "id")
    )
    names = dict(Role.objects.using(SANDBOX_DB).values_list("id", "name"))
    found = []
    for row in rows:
        profile = json.loads(row.user.profile)
        found.append(
            {
                "user_id": profile["user_id"],
                "email": profile.get("email"),
                "picture": profile.get("picture"),
                "name": profile.get("name"),
                "roles": [{"id": r, "name": names.get(r, r)} for r in row.roles],
            }
        )
    return found


def _member_ids(body: Any) -> list[str]:
    if not isinstance(body, dict) or "members" not in body:
        raise _payload("'Missing required property: members'")
    members = body["members"]
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise _payload("'Expected a non-empty array of user ids' on property members")
    return members


def add_members(org_id: str, body: Any) -> None:
    """POST /organizations/{id}/members: 204; a user already a member stays one."""
    org = _organization(org_id)
    ids = _member_ids(body)
    users = list(TenantUser.objects.using(SANDBOX_DB).filter(user_id__in=ids))
    if len(users) != len(set(ids)):
        raise ActionError(400, "One or more users do not exist.", "invalid_body")
    for user in users:
        Membership.objects.using(SANDBOX_DB).get_or_create(
            organization=org, user=user, defaults={"created_at": users_now()}
        )


def remove_members(org_id: str, body: Any) -> None:
    """DELETE /organizations/{id}/members: the memberships go, with their organization roles
    (a user who is no member is no error)."""
    org = _organization(org_id)
    members = _member_ids(body)
    Membership.objects.using(SANDBOX_DB).filter(
        organization=org, user__user_id__in=members
    ).delete()


def _membership(org_id: str, user_id: str) -> Membership | None:
    org = _organization(org_id)
    return (
        Membership.objects.using(SANDBOX_DB).filter(organization=org, user__user_id=user_id).first()
    )


def member_roles(org_id: str, user_id: str) -> list[dict[str, Any]]:
    membership = _membership(org_id, user_id)
    if membership is None:
        return []
    rows = Role.objects.using(SANDBOX_DB).filter(id__in=membership.roles).order_by("name")
    return [role_json(r) for r in rows]


def change_member_roles(org_id: str, user_id: str, ids: list[str], *, add: bool) -> None:
    """POST/DELETE …/members/{user_id}/roles. Auth0 answers 204 for a user who is not (yet) a
    member too (recorded); the sandbox then keeps nothing (whether Auth0 does is not known)."""
    with transaction.atomic(using=SANDBOX_DB):
        membership = _membership(org_id, user_id)
        _known_roles(ids)
        if membership is None:
            return
        current = list(membership.roles)
        if add:
            wanted = current + [i for i in ids if i not in current]
            if len(wanted) > MAX_ROLES_PER_MEMBER:
                raise ActionError(
                    409, "No more roles can be assigned to this organization member.", "conflict"
                )
        else:
            wanted = [i for i in current if i not in ids]
        membership.roles = wanted
        membership.save(using=SANDBOX_DB, update_fields=["roles"])


# One refresh token ----------------------------------------------------------------------------


def refresh_token(token_id: str) -> dict[str, Any]:
    row = RefreshToken.objects.using(SANDBOX_DB).filter(id=token_id).first()
    if row is None:
        raise ActionError(404, "The refresh token does not exist.", "inexistent_refresh_token")
    return dict(json.loads(row.body))


def delete_refresh_token(token_id: str) -> None:
    """DELETE /refresh-tokens/{id}: revoked; an unknown id is no error (none listed)."""
    row = RefreshToken.objects.using(SANDBOX_DB).filter(id=token_id).select_related("user").first()
    if row is None:
        return
    row.delete(using=SANDBOX_DB)
    profile = json.loads(row.user.profile)
    tenant_logs.append(
        "srrt", user=profile, details={"refresh_token_id": token_id, "at": users_now()}
    )
