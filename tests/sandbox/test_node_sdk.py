"""Conformance with the official node `auth0` SDK (7.1.0, pinned in
tests/sandbox/node/package-lock.json).

Its `ManagementClient` builds https URLs only; the per-resource clients (`auth0/users`,
`auth0/userBlocks`, ...) take a plain-http `baseUrl`. `tests/sandbox/node/
support_actions.js` calls every support-action endpoint through them and prints what came back;
`tests/sandbox/node/access.js` does the same for roles, permissions, organizations, one refresh
token, and linking and unlinking.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tests.fixtures.node_sdk import needs_node_sdk, run_node_script
from tests.fixtures.sandbox import SandboxServer, running_sandbox

pytestmark = needs_node_sdk


@pytest.fixture(scope="module")
def node_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("node-sdk")) as server:
        server.set_faults(rate_limit_plan="off")
        yield server


def _first_user_with(server: SandboxServer, table: str) -> str:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        (user_id,) = db.execute(
            f"SELECT u.user_id FROM {table} t JOIN sandbox_tenantuser u ON u.id = t.user_id "
            "ORDER BY t.rowid LIMIT 1"
        ).fetchone()
    return str(user_id)


def test_node_sdk_calls_every_support_action(node_sandbox: SandboxServer) -> None:
    ids = {
        "blocked": _first_user_with(node_sandbox, "sandbox_userblock"),
        "mfa": _first_user_with(node_sandbox, "sandbox_authenticationmethod"),
        "devices": _first_user_with(node_sandbox, "sandbox_refreshtoken"),
    }
    out = run_node_script("support_actions.js", node_sandbox, json.dumps(ids))

    assert out["updated"] == {"blocked": True, "user_metadata": {"size": 3, "shape": "round"}}
    assert out["blocksBefore"]
    assert out["blocksAfter"] == []
    assert out["byIdentifier"] == []
    assert "limit_wc" in out["logTypes"]
    assert "ublkdu" in out["logTypes"]
    assert out["job"] == {
        "type": "verification_email",
        "status": "pending",
        "read": "verification_email",
    }
    assert out["ticket"].startswith(f"{node_sandbox.base_url}/u/reset-password?ticket=")
    assert "totp" in out["methodTypes"]
    assert out["methodsAfter"] == 0
    assert out["sessions"] >= 1
    assert out["oneSession"] == ids["devices"]
    assert out["tokens"] >= 1
    assert (out["sessionsAfter"], out["tokensAfter"]) == (0, 0)
    assert out["connection"] == "Username-Password-Authentication"
    assert out["afterDelete"] == 404


def _first_member(server: SandboxServer) -> tuple[str, str]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        org, user_id = db.execute(
            "SELECT m.organization_id, u.user_id FROM sandbox_membership m "
            "JOIN sandbox_tenantuser u ON u.id = m.user_id ORDER BY m.id LIMIT 1"
        ).fetchone()
    return str(org), str(user_id)


def test_node_sdk_on_roles_organizations_refresh_tokens_and_identities(
    node_sandbox: SandboxServer,
) -> None:
    """tests/sandbox/node/access.js: the endpoints the access panels and linking call."""
    organization, member = _first_member(node_sandbox)
    ids = {
        "organization": organization,
        "member": member,
        "devices": _first_user_with(node_sandbox, "sandbox_refreshtoken"),
    }
    out = run_node_script("access.js", node_sandbox, json.dumps(ids))

    assert out["adminSearch"] == ["admin"]  # name_filter in any letter case
    assert out["rolesPage"] == {"size": 20, "total": 58, "start": 20}
    assert out["everyRole"] == 58  # the pager walked every page
    assert out["oneRole"] == "admin"
    assert out["missingRole"] == 404
    assert out["userRoles"] == ["admin"]
    assert out["permissions"] > 5  # paged past the first five
    assert out["permissionSources"] == ["ROLE"]
    assert out["userRolesAfter"] == 0
    assert out["unknownRole"] == 400
    assert out["memberOf"] is True
    assert out["members"] is True
    assert out["memberRoles"] == ["admin"]
    assert out["memberRolesAfter"] == 0
    assert out["orgsAfter"] == 0
    assert out["oneToken"] == {"id": True, "user": ids["devices"]}
    assert out["tokenAfter"] == 404
    assert len(out["linked"]) == 2
    assert out["secondaryGone"] == 404
    assert out["linkedAgain"] == 409
    assert out["remaining"] == 1
    assert out["unlinkedBack"].startswith("auth0|")
    assert out["primaryUnlink"] == 400
