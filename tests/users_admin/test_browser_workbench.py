"""The locked-out playbook in a real browser: an agent diagnoses and unblocks a brute-force
blocked user and resends a verification email; a lead resets MFA; each step lands on the
user's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import sign_in, watched
from tests.fixtures.page_checks import no_sideways_scroll
from tests.fixtures.sandbox import SandboxServer, running_sandbox
from tests.fixtures.support_cases import brute_force_blocked, mfa_enrolled

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

REASON = "Ticket 5150: locked out since this morning"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    # A tenant of this module's own: the flows change seeded users other tests also pick.
    with running_sandbox(tmp_path_factory.mktemp("sandbox-workbench")) as server:
        yield server


def run_action(page: Any, button: str, expected: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name=button).first.click()
    reason = page.locator("#action-panel").get_by_label("Reason")
    expect(reason).to_be_visible()
    reason.fill(REASON)
    reason.press("Enter")  # Enter does the primary action
    expect(page.locator("#action-panel .outcome")).to_contain_text(expected)


def test_agent_unblocks_and_resends_then_a_lead_resets_mfa(
    browser: Any, live_server: Any, support_agent: User, support_lead: User, use_sandbox: Any
) -> None:
    from playwright.sync_api import expect

    blocked = brute_force_blocked(use_sandbox)[0]
    with use_sandbox.api() as api:
        unverified = api.post(
            "/api/v2/users",
            json={
                "connection": "Username-Password-Authentication",
                "email": "never.got.it@example.com",
                "password": "correct horse battery staple",
            },
        ).json()
        ips = [
            b["ip"]
            for b in api.get(f"/api/v2/user-blocks/{blocked['user_id']}").json()["blocked_for"]
        ]

    agent_context = browser.new_context()
    sign_in(agent_context, live_server, support_agent)
    page = agent_context.new_page()
    errors = watched(page)

    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{blocked['user_id']}/")
    status = page.locator(".status-panel")
    # The agent's role sees IP addresses masked: the block, not its address.
    expect(status).to_contain_text("Locked after too many failed sign-ins from •••••• (masked)")
    expect(status).not_to_contain_text(ips[0])
    for width in (390, 1280):
        no_sideways_scroll(page, width)
    run_action(page, "Clear brute-force blocks", "Brute-force blocks cleared")
    page.get_by_role("link", name="Reload the user").click()
    expect(page.locator(".status-panel")).not_to_contain_text("Locked after")
    expect(page.locator("#timeline")).to_contain_text("Brute-force blocks cleared")
    expect(page.locator("#timeline")).to_contain_text(REASON)

    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{unverified['user_id']}/")
    expect(page.locator(".status-panel")).to_contain_text("is not verified")
    run_action(page, "Resend the verification email", "Auth0 queued a verification email")
    # A support agent is not offered what only a lead may do.
    expect(page.get_by_role("link", name="Block this user")).to_have_count(0)
    assert not errors, errors
    agent_context.close()

    mfa = mfa_enrolled(use_sandbox)[0]
    lead_context = browser.new_context()
    sign_in(lead_context, live_server, support_lead)
    page = lead_context.new_page()
    errors = watched(page)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{mfa['user_id']}/")
    expect(page.locator(".status-panel")).to_contain_text("methods enrolled")
    run_action(page, "Remove MFA methods", "Every MFA method removed")
    page.get_by_role("link", name="Reload the user").click()
    expect(page.locator("#mfa-heading + p")).to_have_text("No MFA method enrolled.")
    expect(page.locator("#timeline")).to_contain_text("MFA methods removed")
    assert not errors, errors
    lead_context.close()
