"""The official node `auth0` SDK (7.1.0, pinned in tests/sandbox/node/package-lock.json) through
a tenant's setup: `tests/sandbox/node/tenant_setup.js` creates, reads, changes and deletes
connections, roles and resource servers, and gives a user a resource server's scope, unmodified.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.node_sdk import needs_node_sdk, run_node_script
from tests.fixtures.sandbox import SandboxServer, running_sandbox

pytestmark = needs_node_sdk


@pytest.fixture(scope="module")
def setup_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("node-setup"), users=5, seed=4) as server:
        server.set_faults(rate_limit_plan="off")
        yield server


def test_node_sdk_creates_changes_and_deletes_tenant_setup(setup_sandbox: SandboxServer) -> None:
    out = run_node_script("tenant_setup.js", setup_sandbox)

    assert out["connections"] == {
        "db": {"strategy": "auth0", "realms": ["node-db"]},
        "saml": {"ticket": "string", "button": False},
        "patched": {"display_name": "Node database", "options": {"requires_username": True}},
        "read": "Node database",
        "deletedRead": 404,
    }
    assert out["role"] == {
        "name": "node-role",
        "description": "Changed by node",
        "id": "rol_",
        "deletedRead": 404,
    }
    assert out["server"] == {
        "signing_alg": "RS256",
        "token_lifetime": 86400,
        "read": "https://node.example.com/",
    }
    assert out["permissions"] == ["Node API: read:things"]
    assert out["permissionsAfter"] == 0
