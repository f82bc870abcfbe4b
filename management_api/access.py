"""The endpoints of a user's access: roles, permissions, organization memberships, and single
sessions and refresh tokens. One plain function per endpoint, as in `management_api.support`.

Assigning or removing the same roles twice leaves the same user (Auth0 answers 204 both times),
and revoking an ended session changes nothing more: all of these writes are safe to repeat.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .errors import PermanentError
from .http import api_request

PER_PAGE = 100
MAX_PAGES = 20  # 2,000 items: Auth0 caps a user at 50 roles and 1,000 direct permissions


def _id(value: str) -> str:
    return quote(value, safe="")


def _all_pages(path: str, key: str) -> list[dict[str, Any]] | None:
    """Every item of an offset-paged list (`include_totals`); None when Auth0 answers 404."""
    items: list[dict[str, Any]] = []
    for page in range(MAX_PAGES):
        body = api_request(
            "GET",
            path,
            params={"page": page, "per_page": PER_PAGE, "include_totals": "true"},
            none_on_404=True,
        )
        if body is None:
            return None if page == 0 else items
        batch = body if isinstance(body, list) else list(body.get(key) or [])
        items.extend(batch)
        total = body.get("total") if isinstance(body, dict) else None
        if len(batch) < PER_PAGE or (isinstance(total, int) and len(items) >= total):
            break
    return items


# --- Roles ------------------------------------------------------------------------------


def list_roles(name_filter: str = "", page: int = 0, per_page: int = 25) -> tuple[list[Any], int]:
    """GET /roles: one page of the tenant's roles whose name holds `name_filter` (any case),
    and how many match in all."""
    params: dict[str, Any] = {"page": page, "per_page": per_page, "include_totals": "true"}
    if name_filter:
        params["name_filter"] = name_filter
    body = api_request("GET", "/roles", params=params)
    if isinstance(body, list):
        return body, len(body)
    if not isinstance(body, dict):
        raise PermanentError("Auth0 answered the roles list with an unexpected shape")
    return list(body.get("roles") or []), int(body.get("total") or 0)


def get_role(role_id: str) -> dict[str, Any] | None:
    """GET /roles/{id}; None when there is no such role."""
    body = api_request("GET", f"/roles/{_id(role_id)}", none_on_404=True)
    return dict(body) if isinstance(body, dict) else None


def user_roles(user_id: str) -> list[dict[str, Any]] | None:
    """GET /users/{id}/roles: the roles assigned to the user directly (all pages)."""
    return _all_pages(f"/users/{_id(user_id)}/roles", "roles")


def assign_user_roles(user_id: str, role_ids: list[str]) -> None:
    """POST /users/{id}/roles: 204."""
    api_request(
        "POST", f"/users/{_id(user_id)}/roles", json={"roles": role_ids}, safe_to_repeat=True
    )


def remove_user_roles(user_id: str, role_ids: list[str]) -> None:
    """DELETE /users/{id}/roles: 204."""
    api_request("DELETE", f"/users/{_id(user_id)}/roles", json={"roles": role_ids})


def user_permissions(user_id: str) -> list[dict[str, Any]] | None:
    """GET /users/{id}/permissions: direct ones and those of directly assigned roles, each with
    its `sources` (DIRECT, or the role's id and name)."""
    return _all_pages(f"/users/{_id(user_id)}/permissions", "permissions")


# --- Organizations ------------------------------------------------------------------------


def user_memberships(user_id: str) -> list[dict[str, Any]] | None:
    """GET /users/{id}/organizations, and each organization's roles of the user
    (`member_roles`: GET /organizations/{id}/members/{user_id}/roles), one after the other."""
    organizations = _all_pages(f"/users/{_id(user_id)}/organizations", "organizations")
    if organizations is None:
        return None
    return [{**org, "member_roles": member_roles(str(org["id"]), user_id)} for org in organizations]


def member_roles(org_id: str, user_id: str) -> list[dict[str, Any]]:
    return _all_pages(f"/organizations/{_id(org_id)}/members/{_id(user_id)}/roles", "roles") or []


def remove_member(org_id: str, user_id: str) -> None:
    """DELETE /organizations/{id}/members: 204 (Auth0 applies it within seconds)."""
    api_request("DELETE", f"/organizations/{_id(org_id)}/members", json={"members": [user_id]})


def assign_member_roles(org_id: str, user_id: str, role_ids: list[str]) -> None:
    api_request(
        "POST",
        f"/organizations/{_id(org_id)}/members/{_id(user_id)}/roles",
        json={"roles": role_ids},
        safe_to_repeat=True,
    )


def remove_member_roles(org_id: str, user_id: str, role_ids: list[str]) -> None:
    api_request(
        "DELETE",
        f"/organizations/{_id(org_id)}/members/{_id(user_id)}/roles",
        json={"roles": role_ids},
    )


# --- One session, one refresh token (Enterprise plans) ---------------------------------------


def revoke_session(session_id: str) -> None:
    """POST /sessions/{id}/revoke: the session and its refresh tokens (202, asynchronous)."""
    api_request("POST", f"/sessions/{_id(session_id)}/revoke", safe_to_repeat=True)


def delete_refresh_token(token_id: str) -> None:
    """DELETE /refresh-tokens/{id}: 204 (recorded; the definition says 202)."""
    api_request("DELETE", f"/refresh-tokens/{_id(token_id)}")
