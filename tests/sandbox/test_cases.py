"""`manage.py sandbox_cases` (a seeded user of each support case, found in the tenant's data)
and `manage.py sandbox_add_users` (the same addresses on a second tenant, once), read back
through the sandbox's Management API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from sandbox.cases import CASES
from tests.fixtures.sandbox import SandboxServer

LINKED = "Linked accounts"


def printed(server: SandboxServer, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.manage(*args).stdout.splitlines()]


def test_each_case_names_a_user_in_that_case(sandbox_server: SandboxServer) -> None:
    cases = {line["case"]: line for line in printed(sandbox_server, "sandbox_cases")}
    # The fixtures' 300-user tenant (seed 7) holds every case but a linked account (1 in 180).
    missing = {case.label for case in CASES} - set(cases)
    assert missing <= {LINKED}, missing
    assert {line["domain"] for line in cases.values()} == {sandbox_server.domain}

    def user(case: str) -> dict[str, Any]:
        user_id = quote(cases[case]["user_id"], safe="")
        with sandbox_server.api() as api:
            return dict(api.get(f"/api/v2/users/{user_id}").json())

    def listed(case: str, path: str) -> list[Any]:
        user_id = quote(cases[case]["user_id"], safe="")
        with sandbox_server.api() as api:
            return list(api.get(path.format(user_id)).json())

    assert listed("Blocked by brute-force protection", "/api/v2/user-blocks/{}")
    assert user("Blocked by an admin")["blocked"] is True
    assert user("Email not verified")["email_verified"] is False
    assert len(listed("Several MFA methods", "/api/v2/users/{}/authentication-methods")) >= 2
    assert listed("Sessions and refresh tokens", "/api/v2/users/{}/refresh-tokens")
    assert user("Never signed in").get("logins_count", 0) == 0
    assert "email" not in user("No email address")
    assert cases["No email address"]["email"] is None
    assert user("Google (social)")["identities"][0]["provider"] == "google-oauth2"
    assert user("GitHub (social)")["identities"][0]["provider"] == "github"
    assert user("Enterprise SSO (SAML)")["identities"][0]["provider"] == "samlp"
    if LINKED in cases:
        assert len(user(LINKED)["identities"]) >= 2
    # The shapes a new user walks through the workbench with, each printed too.
    google = user("Google account with a password duplicate")
    with sandbox_server.api() as api:
        found = api.get("/api/v2/users", params={"q": f'email:"{google["email"].lower()}"'}).json()
    assert {"google-oauth2", "Username-Password-Authentication"} <= {
        u["identities"][0]["connection"] for u in found if u["email_verified"]
    }
    three = user("Three identities (social and SMS linked in)")["identities"]
    assert len(three) == 3
    assert three[-1]["provider"] == "sms"
    assert user("Passwordless (SMS)")["identities"][0]["connection"] == "sms"
    assert user("Passwordless (email code)")["identities"][0]["connection"] == "email"
    assert len(json.dumps(user("Profile near the 10 KB limit"))) > 9 * 1024
    assert listed("Roles and organizations", "/api/v2/users/{}/roles")
    assert listed("Roles and organizations", "/api/v2/users/{}/organizations")
    three_devices = quote(cases["Signed in on three devices"]["user_id"], safe="")
    with sandbox_server.api() as api:
        sessions = api.get(f"/api/v2/users/{three_devices}/sessions").json()["sessions"]
    assert len(sessions) >= 3


def test_addresses_are_added_once_as_database_users(
    sandbox_server: SandboxServer, staging_server: SandboxServer
) -> None:
    cases = printed(sandbox_server, "sandbox_cases")
    email = next(line["email"] for line in cases if line["user_id"].startswith("auth0|"))

    (added,) = printed(staging_server, "sandbox_add_users", email)
    assert added["added"] is True
    (again,) = printed(staging_server, "sandbox_add_users", email)
    assert again == {**added, "added": False}

    with staging_server.api() as api:
        found = api.get("/api/v2/users-by-email", params={"email": email}).json()
    assert [user["user_id"] for user in found] == [added["user_id"]]
    assert found[0]["identities"][0]["connection"] == "Username-Password-Authentication"
