"""The sandbox's roles, permissions, organizations and single refresh tokens: Auth0's shapes,
status codes, errors and `sapi` events, and the official auth0-python SDK on them unmodified."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import quote

import pytest
from auth0.management import BadRequestError, NotFoundError

from tests.fixtures.python_sdk import sdk_client as _client
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.support_cases import seeded


def enc(user_id: str) -> str:
    return quote(user_id, safe="")


def with_roles(server: SandboxServer) -> list[dict[str, Any]]:
    return seeded(
        server,
        "SELECT DISTINCT u.user_id FROM sandbox_userrole r "
        "JOIN sandbox_tenantuser u ON u.id = r.user_id ORDER BY u.id",
    )


def members(server: SandboxServer) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        return db.execute(
            "SELECT m.organization_id, u.user_id FROM sandbox_membership m "
            "JOIN sandbox_tenantuser u ON u.id = m.user_id ORDER BY m.id"
        ).fetchall()


@pytest.fixture(autouse=True)
def _unthrottled(use_sandbox: SandboxServer) -> None:
    """These tests call more than the 10-call burst of Auth0's "other endpoints" bucket
    (`use_sandbox` resets the switches afterwards)."""
    use_sandbox.set_faults(rate_limit_plan="off")


def test_the_seed_gives_roles_permissions_and_organizations(sandbox_server: SandboxServer) -> None:
    users = with_roles(sandbox_server)
    assert len(users) >= 5
    with sandbox_server.api() as api:
        everyone = api.get("/api/v2/roles", params={"include_totals": "true", "per_page": 20})
        permissions = api.get(f"/api/v2/users/{enc(users[0]['user_id'])}/permissions").json()
    assert everyone.status_code == 200
    assert set(everyone.json()) == {"roles", "start", "limit", "total"}
    assert everyone.json()["total"] > 20  # more than one page
    assert all(
        set(p["sources"][0]) == {"source_id", "source_name", "source_type"} for p in permissions
    )
    assert {s["source_type"] for p in permissions for s in p["sources"]} >= {"ROLE"}
    assert members(sandbox_server)


def test_roles_are_assigned_and_removed_with_204_and_sapi(
    sandbox_server: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    path = f"/api/v2/users/{enc(fresh_user['user_id'])}/roles"
    with sandbox_server.api() as api:
        role = api.get("/api/v2/roles", params={"name_filter": "EDIT"}).json()[0]
        assert role["name"] == "editor"
        empty = api.get(path, params={"include_totals": "true"}).json()
        assert empty == {"roles": [], "start": 0, "limit": 50, "total": 0}
        added = api.post(path, json={"roles": [role["id"]]})
        assert (added.status_code, added.content) == (204, b"")
        twice = api.post(path, json={"roles": [role["id"]]})
        assert twice.status_code == 204
        assert api.get(path).json() == [role]
        assert api.get(path, params={"page": 1}).json() == []  # past the end: empty
        unknown = api.post(path, json={"roles": ["rol_doesNotExist0000"]})
        assert unknown.status_code == 400
        extra = api.post(path, json={"roles": [role["id"]], "x": 1})
        assert extra.json()["message"].startswith("Payload validation error")
        assert api.post(path, json={"roles": []}).status_code == 400
        gone = api.request("DELETE", path, json={"roles": [role["id"]]})
        assert gone.status_code == 204
        assert api.get(path).json() == []
        logs = api.get("/api/v2/logs", params={"q": 'type:"sapi"', "per_page": 20}).json()
    descriptions = [e["description"] for e in logs]
    assert "Assign Roles to a User" in descriptions
    assert "Removes Roles from a User" in descriptions


def test_permissions_say_where_each_comes_from(
    sandbox_server: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    base = f"/api/v2/users/{enc(fresh_user['user_id'])}"
    with sandbox_server.api() as api:
        viewer = api.get("/api/v2/roles", params={"name_filter": "viewer"}).json()[0]
        api.post(f"{base}/roles", json={"roles": [viewer["id"]]})
        direct = {
            "resource_server_identifier": "https://api.userdesk-demo.example/",
            "permission_name": "read:reports",
        }
        created = api.post(f"{base}/permissions", json={"permissions": [direct]})
        assert (created.status_code, created.json()) == (201, {})
        listed = api.get(f"{base}/permissions", params={"include_totals": "true"}).json()
        bad = api.post(f"{base}/permissions", json={"permissions": [{"permission_name": "x"}]})
    reports = next(p for p in listed["permissions"] if p["permission_name"] == "read:reports")
    assert reports["sources"] == [
        {"source_id": "", "source_name": "", "source_type": "DIRECT"},
        {"source_id": viewer["id"], "source_name": "viewer", "source_type": "ROLE"},
    ]
    assert bad.status_code == 400


def test_organization_member_roles_and_removal(sandbox_server: SandboxServer) -> None:
    org_id, user_id = members(sandbox_server)[-1]
    roles_path = f"/api/v2/organizations/{org_id}/members/{enc(user_id)}/roles"
    with sandbox_server.api() as api:
        orgs = api.get(f"/api/v2/users/{enc(user_id)}/organizations").json()
        assert org_id in [o["id"] for o in orgs]
        assert {"id", "name", "display_name", "branding"} <= set(orgs[0])
        analyst = api.get("/api/v2/roles", params={"name_filter": "analyst"}).json()[0]
        assert api.post(roles_path, json={"roles": [analyst["id"]]}).status_code == 204
        assert analyst in api.get(roles_path).json()
        assert api.request("DELETE", roles_path, json={"roles": [analyst["id"]]}).status_code == 204
        assert analyst not in api.get(roles_path).json()
        removed = api.request(
            "DELETE", f"/api/v2/organizations/{org_id}/members", json={"members": [user_id]}
        )
        assert removed.status_code == 204
        after = api.get(f"/api/v2/users/{enc(user_id)}/organizations").json()
        unknown = api.request(
            "DELETE", "/api/v2/organizations/org_nope/members", json={"members": [user_id]}
        )
    assert org_id not in [o["id"] for o in after]
    assert unknown.status_code == 404


def test_one_refresh_token_is_read_and_deleted(sandbox_server: SandboxServer) -> None:
    with sqlite3.connect(f"file:{sandbox_server.db_path}?mode=ro", uri=True) as db:
        (token_id,) = db.execute(
            "SELECT id FROM sandbox_refreshtoken ORDER BY id LIMIT 1"
        ).fetchone()
    with sandbox_server.api() as api:
        token = api.get(f"/api/v2/refresh-tokens/{token_id}")
        assert token.status_code == 200
        assert token.json()["id"] == token_id
        gone = api.delete(f"/api/v2/refresh-tokens/{token_id}")
        assert (gone.status_code, gone.content) == (204, b"")
        again = api.get(f"/api/v2/refresh-tokens/{token_id}")
    assert again.status_code == 404
    assert again.json()["message"] == "The refresh token does not exist."


def test_the_sdk_works_on_roles_permissions_and_organizations(
    sandbox_server: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    sdk = _client(sandbox_server)
    user_id = fresh_user["user_id"]
    found = list(sdk.roles.list(name_filter="admin"))
    assert [r.name for r in found] == ["admin"]
    everyone = list(sdk.roles.list())
    assert len(everyone) > 50  # the pager walked past the first page
    sdk.users.roles.assign(user_id, roles=[found[0].id])
    assert [r.id for r in sdk.users.roles.list(user_id)] == [found[0].id]
    permissions = list(sdk.users.permissions.list(user_id))
    assert permissions
    assert all(p.resource_server_identifier for p in permissions)
    sdk.users.roles.delete(user_id, roles=[found[0].id])
    assert list(sdk.users.roles.list(user_id)) == []
    assert list(sdk.users.organizations.list(user_id)) == []
    org_id, member = members(sandbox_server)[0]
    assert org_id in [o.id for o in sdk.users.organizations.list(member)]
    assert list(sdk.organizations.members.roles.list(org_id, member)) is not None
    with pytest.raises(BadRequestError):
        sdk.users.roles.assign(
            user_id, roles=["rol_doesNotExist0000"], request_options={"max_retries": 0}
        )
    with pytest.raises(NotFoundError):
        sdk.refresh_tokens.get("rt_doesnotexist")
    assert json.dumps(fresh_user)  # the user is deleted by the fixture


def test_organization_members_page_by_offset_and_by_checkpoint(
    sandbox_server: SandboxServer,
) -> None:
    org_id = members(sandbox_server)[0][0]
    path = f"/api/v2/organizations/{org_id}/members"
    with sandbox_server.api() as api:
        offset = api.get(path, params={"include_totals": "true", "fields": "user_id,roles"}).json()
        first = api.get(path, params={"take": 2}).json()
        second = api.get(path, params={"take": 2, "from": first["next"]}).json()
        too_far = api.get(path, params={"page": 20, "per_page": 50})
        bad = api.get(path, params={"fields": "user_id,password"})
    assert set(offset) == {"members", "start", "limit", "total"}
    assert all(set(m) == {"user_id", "roles"} for m in offset["members"])
    assert offset["total"] >= 3
    assert "roles" not in first["members"][0]  # not sent unless `fields` asks
    assert [m["user_id"] for m in first["members"] + second["members"]] == [
        m["user_id"] for m in offset["members"][:4]
    ]
    assert too_far.status_code == 400
    assert too_far.json()["errorCode"] == "invalid_paging"
    assert bad.status_code == 400
    sdk_members = [m.user_id for m in _client(sandbox_server).organizations.members.list(org_id)]
    assert sdk_members == [m["user_id"] for m in offset["members"]]
