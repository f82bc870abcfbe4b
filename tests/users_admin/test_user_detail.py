"""The user detail page through HTTP against the sandbox tenant."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import Upstream

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def find_user(server: SandboxServer, q: str) -> dict[str, Any]:
    with server.api() as api:
        response = api.get("/api/v2/users", params={"search_engine": "v3", "q": q, "per_page": 1})
    response.raise_for_status()
    users = response.json()
    assert users, f"the seeded tenant has a user matching {q}"
    return dict(users[0])


def test_details_show_the_whole_profile(
    agent_client: Client, use_sandbox: SandboxServer, support_agent: Any
) -> None:
    user = find_user(use_sandbox, "_exists_:last_login AND _exists_:app_metadata.plan")
    response = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/")
    html = response.content.decode()
    assert response.status_code == 200
    for label in (
        "Email",
        "Phone",
        "User ID",
        "Created",
        "Updated",
        "Last login",
        "Logins",
        "Last IP",
        "Blocked",
    ):
        assert f"<dt>{label}</dt>" in html
    assert user["user_id"] in html
    for identity in user["identities"]:
        assert str(identity["connection"]) in html
        assert str(identity["provider"]) in html
    assert "app_metadata" in html
    assert "user_metadata" in html
    assert 'class="code raw-json"' in html
    event = AuditEvent.objects.get(action="users.view")
    assert event.target == user["user_id"]
    assert event.actor == support_agent


def test_ids_with_a_pipe_work_encoded_or_not(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    user = find_user(use_sandbox, "user_id:github*")
    assert agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").status_code == 200
    assert (
        agent_client.get(
            f"/t/userdesk-sandbox/users/{quote(user['user_id'], safe='')}/"
        ).status_code
        == 200
    )


def test_a_missing_user_is_a_styled_404(agent_client: Client) -> None:
    response = agent_client.get("/t/userdesk-sandbox/users/auth0|000000000000000000000000/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "User not found" in html
    assert "auth0|000000000000000000000000" in html
    assert 'class="topbar"' in html  # the site's own layout, not a bare error
    event = AuditEvent.objects.get(action="users.view")
    assert event.details["found"] is False


def test_values_are_escaped(agent_client: Client, use_sandbox: SandboxServer) -> None:
    user = find_user(use_sandbox, "name:*script*")
    html = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_raw_json_is_the_users_json(agent_client: Client, use_sandbox: SandboxServer) -> None:
    user = find_user(use_sandbox, "_exists_:app_metadata")
    html = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    raw = html.split(
        '<pre class="code raw-json" tabindex="0" aria-label="The profile as JSON">', 1
    )[1].split("</pre>", 1)[0]
    import html as html_lib

    assert json.loads(html_lib.unescape(raw))["user_id"] == user["user_id"]


def test_details_are_never_cached(agent_client: Client, use_sandbox: SandboxServer) -> None:
    user = find_user(use_sandbox, "user_id:google*")
    counter = Upstream()
    agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/")
    agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/")
    assert counter.path(f"/api/v2/users/{user['user_id']}") == 2


def test_a_busy_tenant_is_reported_plainly(
    agent_client: Client, use_sandbox: SandboxServer, settings: Any
) -> None:
    settings.AUTH0_MAX_RETRIES = 0
    use_sandbox.set_faults(rate_limit_share=1)
    response = agent_client.get("/t/userdesk-sandbox/users/auth0|abc/")
    assert response.status_code == 503
    assert "Auth0 is busy, try again in" in response.content.decode()


def every_user(server: SandboxServer) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    with server.api() as api:
        for page in range(10):
            response = api.get(
                "/api/v2/users",
                params={"search_engine": "v3", "per_page": 100, "page": page},
            )
            response.raise_for_status()
            batch = response.json()
            users.extend(batch)
            if len(batch) < 100:
                break
    return users


def test_a_user_without_email_opens(agent_client: Client, use_sandbox: SandboxServer) -> None:
    # The defect: the page answered 500 for GitHub, SMS and username-only users.
    user = find_user(use_sandbox, "NOT _exists_:email")
    response = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/")
    assert response.status_code == 200
    assert user["user_id"] in response.content.decode()


def test_a_user_without_a_login_count_is_not_shown_zero_logins(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    user = find_user(use_sandbox, "NOT _exists_:logins_count")
    html = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").content.decode()
    logins = html.split("<dt>Logins</dt><dd>", 1)[1].split("</dd>", 1)[0]
    assert logins.strip() != "0"
    assert "Auth0 has no count" in logins


def test_every_user_of_the_seeded_tenant_opens(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")
    users = every_user(use_sandbox)
    shapes = {user["user_id"].split("|", 1)[0] for user in users}
    assert {"auth0", "github", "google-oauth2", "samlp"} <= shapes, shapes
    failed = {}
    for user in users:
        status = agent_client.get(f"/t/userdesk-sandbox/users/{user['user_id']}/").status_code
        if status != 200:
            failed[user["user_id"]] = status
    assert not failed
