"""Email lookup through HTTP against the sandbox tenant."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import all_users, database_user
from tests.fixtures.search import Upstream, fragment_text

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def test_an_invalid_address_is_a_form_error_and_asks_nobody(agent_client: Client) -> None:
    counter = Upstream()
    response = agent_client.get("/t/userdesk-sandbox/lookup/", {"email": "not an address"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert counter.total == 0
    assert not AuditEvent.objects.filter(action="users.lookup").exists()


def test_the_empty_page_explains_consistency(agent_client: Client) -> None:
    html = agent_client.get("/t/userdesk-sandbox/lookup/").content.decode()
    assert "immediately consistent" in html


def test_an_exact_address_finds_its_user(
    agent_client: Client, use_sandbox: SandboxServer, support_agent: Any
) -> None:
    user = database_user(use_sandbox)
    response = agent_client.get("/t/userdesk-sandbox/lookup/", {"email": user["email"]})
    html = response.content.decode()
    assert user["user_id"] in html
    assert "Username-Password-Authentication" in html
    assert "lower-cased" not in html
    event = AuditEvent.objects.get(action="users.lookup")
    assert event.target == user["email"]
    assert event.actor == support_agent
    assert event.details["matches"] == 1


def test_capitals_fall_back_to_the_lower_cased_address(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    user = database_user(use_sandbox)
    typed = user["email"].upper()
    counter = Upstream()
    html = agent_client.get("/t/userdesk-sandbox/lookup/", {"email": typed}).content.decode()
    assert counter.path("/api/v2/users-by-email") == 2
    assert user["user_id"] in html
    text = fragment_text(html)
    assert f"Nobody has exactly {typed}" in text
    assert f"the lower-cased address {user['email']} was tried too" in text
    event = AuditEvent.objects.get(action="users.lookup")
    assert event.details["lowercased"] is True


def test_an_address_in_its_stored_case_needs_no_fallback(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    mixed = next(
        u for u in all_users(use_sandbox) if u.get("email") and u["email"] != u["email"].lower()
    )
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/lookup/", {"email": mixed["email"]}
    ).content.decode()
    assert counter.path("/api/v2/users-by-email") == 1
    assert mixed["user_id"] in html
    assert "lower-cased" not in html


def test_nobody_found_says_so(agent_client: Client) -> None:
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/lookup/", {"email": "Nobody.Here@Example.invalid"}
    ).content.decode()
    assert counter.path("/api/v2/users-by-email") == 2
    assert "No user has the address" in html
    assert "nobody.here@example.invalid" in html


def test_one_address_on_several_connections_shows_them_side_by_side(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for user in all_users(use_sandbox):
        if user.get("email"):
            by_email[user["email"]].append(user)
    address, users = next((a, u) for a, u in by_email.items() if len(u) > 1)
    html = agent_client.get("/t/userdesk-sandbox/lookup/", {"email": address}).content.decode()
    assert html.count('class="card lookup-result"') == len(users)
    for user in users:
        assert user["user_id"] in html
        assert user["identities"][0]["connection"] in html
        assert user["identities"][0]["provider"] in html
    assert "one per connection" in html


def test_lookups_are_never_cached(agent_client: Client, use_sandbox: SandboxServer) -> None:
    user = database_user(use_sandbox)
    counter = Upstream()
    agent_client.get("/t/userdesk-sandbox/lookup/", {"email": user["email"]})
    agent_client.get("/t/userdesk-sandbox/lookup/", {"email": user["email"]})
    assert counter.path("/api/v2/users-by-email") == 2


def test_a_busy_tenant_is_reported_plainly(
    agent_client: Client, use_sandbox: SandboxServer, settings: Any
) -> None:
    settings.AUTH0_MAX_RETRIES = 0
    use_sandbox.set_faults(error_share=1)
    html = agent_client.get(
        "/t/userdesk-sandbox/lookup/", {"email": "someone@example.com"}
    ).content.decode()
    assert "Auth0 is busy, try again in" in html
    assert "Traceback" not in html


def test_lookup_results_are_escaped(agent_client: Client, use_sandbox: SandboxServer) -> None:
    with use_sandbox.api() as api:
        found = api.get(
            "/api/v2/users",
            params={"search_engine": "v3", "q": "name:*script* AND _exists_:email", "per_page": 1},
        ).json()
    assert found, "the seeded tenant has a user whose name holds <script>"
    html = agent_client.get(
        "/t/userdesk-sandbox/lookup/", {"email": found[0]["email"]}
    ).content.decode()
    assert "&lt;script&gt;" in html
    assert "<script>" not in html


def test_an_address_stored_with_capitals_is_found_when_typed_in_lower_case(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    # The defect: users-by-email is case-sensitive, so this said "No user has the address".
    mixed = next(
        u for u in all_users(use_sandbox) if u.get("email") and u["email"] != u["email"].lower()
    )
    typed = mixed["email"].lower()
    response = agent_client.get("/t/userdesk-sandbox/lookup/", {"email": typed})
    html = response.content.decode()
    assert "No user has the address" not in html
    other = html.split('class="lookup-results other-case"', 1)[1]
    assert mixed["user_id"] in other
    assert "eventually consistent" in fragment_text(html)
    event = AuditEvent.objects.get(action="users.lookup")
    assert event.details["other_case"] >= 1


def test_a_failing_search_never_claims_nobody_has_the_address(
    agent_client: Client, use_sandbox: SandboxServer, settings: Any
) -> None:
    import httpx

    import management_api

    real = httpx.HTTPTransport()

    def handler(request: httpx.Request) -> httpx.Response:
        # The sandbox cannot fail one endpoint alone; fail only the search, at the socket.
        if request.url.path == "/api/v2/users":
            return httpx.Response(503, json={"statusCode": 503, "error": "Service Unavailable"})
        return real.handle_request(request)

    settings.AUTH0_MAX_RETRIES = 0
    with management_api.use_transport(httpx.MockTransport(handler)):
        html = agent_client.get(
            "/t/userdesk-sandbox/lookup/", {"email": "nobody.here@example.invalid"}
        ).content
    text = fragment_text(html.decode())
    assert "No user has the address" not in text
    assert "could not be checked" in text
