"""What the access panels read about a user's access (roles, permissions, organizations) and how
it says it: each permission with where it comes from, each session and refresh token in a
support agent's words."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from management_api.access import user_memberships, user_permissions, user_roles


def access_calls(user_id: str, reads: Iterable[str]) -> dict[str, Callable[[], Any]]:
    """The side calls for `reads`: "roles" (the roles and the permissions they and direct
    assignments give) and "organizations" (memberships with their organization roles)."""
    wanted = set(reads)
    calls: dict[str, Callable[[], Any]] = {}
    if "roles" in wanted:
        calls["roles"] = lambda: user_roles(user_id)
        calls["permissions"] = lambda: user_permissions(user_id)
    if "organizations" in wanted:
        calls["memberships"] = lambda: user_memberships(user_id)
    return calls


def permission_sources(permission: dict[str, Any]) -> list[str]:
    """Where a permission comes from: "directly", or "role <name>" per role that grants it."""
    found = []
    for source in permission.get("sources") or []:
        if not isinstance(source, dict):
            continue
        if str(source.get("source_type") or "").upper() == "DIRECT":
            found.append("assigned directly")
        else:
            found.append(f"role {source.get('source_name') or source.get('source_id')}")
    return found or ["assigned directly"]


def role_names(roles: Iterable[dict[str, Any]]) -> list[str]:
    return sorted(str(r.get("name") or r.get("id")) for r in roles)


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when Auth0 (or a stored event) gave an object there, else an empty one."""
    return value if isinstance(value, dict) else {}


def device_words(item: dict[str, Any]) -> str:
    """A session or refresh token's device: its browser and system, and the address."""
    device = as_dict(item.get("device"))
    agent = device.get("last_user_agent") or device.get("initial_user_agent") or "Unknown device"
    ip = device.get("last_ip") or device.get("initial_ip")
    return f"{agent} from {ip}" if ip else str(agent)


def clients_of(item: dict[str, Any]) -> str:
    clients = item.get("clients")
    if isinstance(clients, list):
        ids = [str(c.get("client_id")) for c in clients if isinstance(c, dict)]
        return ", ".join(ids) or "unknown"
    return str(item.get("client_id") or "unknown")


def audit_detail(action: str, details: dict[str, Any]) -> str:
    """What an access action changed, for its timeline row: the role, the organization (and
    its roles before and after), the session's device or the refresh token."""
    before = as_dict(details.get("before"))
    after = as_dict(details.get("after"))
    answer = as_dict(details.get("auth0"))
    if action in ("users.assign-role", "users.remove-role"):
        role = as_dict(answer.get("role"))
        return str(role.get("name") or "")
    if action == "users.remove-membership":
        return str(before.get("organization") or "")
    if action == "users.organization-roles":
        was = ", ".join(before.get("roles") or []) or "none"
        now = ", ".join(after.get("roles") or []) or "none"
        return f"{before.get('organization')}: {was} → {now}"
    if action == "users.revoke-session":
        return str(before.get("device") or "")
    if action == "users.revoke-refresh-token":
        return str(before.get("refresh_token") or "")
    if action == "users.view" and details.get("panel"):
        return f"{str(details['panel']).capitalize()} panel"  # an access panel opened
    return ""
