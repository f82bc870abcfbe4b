"""The Management API client against the sandbox server: tokens shared across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

import management_api
from management_api.http import _token_cache_key
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import Upstream

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import management_api
for letter in "MNP":
    management_api.search_users(f"name:{letter}*", per_page=5)
print(management_api.stats.by_path["/oauth/token"], management_api.stats.by_path["/api/v2/users"])
"""


@pytest.fixture
def shared_var(settings: Any, tmp_path: Path) -> Path:
    """A var dir whose file cache this process and its children share."""
    var = tmp_path / "var"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(var / "cache"),
        }
    }
    return var


def child(server: SandboxServer, var: Path) -> subprocess.Popen[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "AUTH0_BASE_URL"}
    }
    env.update(
        USERDESK_VAR_DIR=str(var),
        AUTH0_DOMAIN=server.domain,
        AUTH0_CLIENT_ID=server.client_id,
        AUTH0_CLIENT_SECRET=server.client_secret,
        AUTH0_BASE_URL=server.base_url,
        AUTH0_AUDIENCE=server.audience,
        # The same tenant as this process's (its token's cache key holds the slug).
        AUTH0_TENANT_SLUG=management_api.current_tenant().slug,
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def counts(process: subprocess.Popen[str]) -> tuple[int, int]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    tokens, searches = out.split()[-2:]
    return int(tokens), int(searches)


def test_one_token_request_serves_several_processes(
    use_sandbox: SandboxServer, shared_var: Path
) -> None:
    assert counts(child(use_sandbox, shared_var)) == (1, 3)
    here = Upstream()
    for letter in "QRS":
        management_api.search_users(f"name:{letter}*", per_page=5)
    assert here.tokens == 0
    assert here.searches == 3
    assert counts(child(use_sandbox, shared_var)) == (0, 3)


def test_processes_starting_together_fetch_the_token_once(
    use_sandbox: SandboxServer, shared_var: Path
) -> None:
    children = [child(use_sandbox, shared_var) for _ in range(3)]
    results = [counts(process) for process in children]
    assert sum(tokens for tokens, _ in results) == 1
    assert all(searches == 3 for _, searches in results)


def test_a_rejected_token_is_replaced_once(use_sandbox: SandboxServer, shared_var: Path) -> None:
    cache.set(_token_cache_key(), "not-a-valid-token", 3600)
    counter = Upstream()
    page = management_api.search_users("name:T*", per_page=5)
    assert page.total is not None
    assert counter.tokens == 1
    assert counter.searches == 2  # the 401, then the retry with the new token
    assert cache.get(_token_cache_key()) != "not-a-valid-token"


def test_wrong_credentials_are_a_permanent_error_without_the_secret(
    use_sandbox: SandboxServer, shared_var: Path, settings: Any
) -> None:
    settings.AUTH0_CLIENT_SECRET = "wrong-secret-do-not-show"
    with pytest.raises(management_api.PermanentError) as caught:
        management_api.search_users("")
    assert "client credentials" in str(caught.value)
    assert "wrong-secret-do-not-show" not in f"{caught.value} {caught.value.args}"


def test_endpoints_against_the_sandbox(use_sandbox: SandboxServer, shared_var: Path) -> None:
    connections = management_api.list_connections()
    assert {"Username-Password-Authentication", "google-oauth2", "github"} <= {
        c["name"] for c in connections
    }
    page = management_api.search_users("user_id:github*", per_page=3, fields=["user_id"])
    assert len(page.users) == 3
    assert all(set(user) == {"user_id"} for user in page.users)
    user_id = page.users[0]["user_id"]
    user = management_api.get_user(user_id)
    assert user is not None
    assert user["user_id"] == user_id
    assert management_api.get_user("github|0") is None
    if user.get("email"):
        found = management_api.users_by_email(user["email"])
        assert user_id in {u["user_id"] for u in found}
