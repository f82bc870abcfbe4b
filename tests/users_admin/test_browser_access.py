"""The access items in a real browser, as a lead: give and take a role, remove an
organization membership, end one session of three; each on the timeline with its reason, the
page axe-clean at 390 and 1,280 px; a Support agent is offered none of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import sign_in, watched
from tests.fixtures.page_checks import no_sideways_scroll, violations
from tests.fixtures.sandbox import SandboxServer, running_sandbox
from tests.fixtures.sandbox_api import enc
from tests.fixtures.support_cases import ACME, DEVICES, with_devices

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]
REASON = "Ticket 7001: the laptop was stolen"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("sandbox-access")) as server:
        yield server


def confirm(page: Any, expected: str) -> None:
    from playwright.sync_api import expect

    reason = page.locator("#action-panel").get_by_label("Reason")
    reason.fill(REASON)
    reason.press("Enter")  # Enter does the primary action
    expect(page.locator("#action-panel .outcome")).to_contain_text(expected)


def open_panel(page: Any, name: str) -> None:
    """Open an access panel from the keyboard: its body loads and takes the focus."""
    from playwright.sync_api import expect

    summary = page.locator(f"#{name} > summary")
    summary.focus()
    summary.press("Enter")
    expect(page.locator(f"#{name} .access-summary")).to_be_focused()


def test_a_lead_changes_access_and_an_agent_is_offered_none(
    browser: Any,
    live_server: Any,
    support_lead: User,
    support_agent: User,
    use_sandbox: SandboxServer,
    signed_in_thrice: dict[str, Any],
) -> None:
    from playwright.sync_api import expect

    user_id = signed_in_thrice["user_id"]
    with use_sandbox.api() as api:
        added = api.post(f"/api/v2/organizations/{ACME}/members", json={"members": [user_id]})
        assert added.status_code == 204
    url = f"{live_server.url}/t/userdesk-sandbox/users/{enc(user_id)}/"

    context = browser.new_context()
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    errors = watched(page)
    page.goto(url)
    for name in ("sessions", "roles", "organizations"):
        expect(page.locator(f"#{name} .access-summary")).to_have_count(0)  # read when opened
        open_panel(page, name)
    expect(page.locator("#sessions")).to_contain_text("3 sessions and 3 refresh tokens.")
    for width in (390, 1280):
        no_sideways_scroll(page, width)

    # Give a role: the search box takes the focus, Enter searches, the list narrows.
    page.get_by_role("link", name="Assign a role").click()
    search = page.locator("#role-search-q")
    expect(search).to_be_focused()
    search.fill("edit")
    search.press("Enter")
    expect(page.locator("#action-panel")).to_contain_text("1 role matches “edit”")
    page.get_by_label("editor (Changes projects)").check()
    confirm(page, "Role editor assigned")
    # "Reload the user" opens the roles panel again, read at once.
    page.locator("#action-panel").get_by_role("link", name="Reload the user").click()
    expect(page.locator("#roles .access-summary")).to_be_focused()
    expect(page.locator("#roles")).to_contain_text("update:projects")

    # Take it again: the panel opens with its radio focused.
    page.get_by_role("link", name="Remove editor").click()
    expect(page.locator("#action-panel input[name=role]").first).to_be_focused()
    confirm(page, "Role editor removed")

    page.goto(url)
    open_panel(page, "organizations")
    # Organization roles from the tenant's whole list: a role ticked, by keyboard, on one
    # search stays ticked through the next.
    page.get_by_role("link", name="Change roles acme").click()
    search = page.locator("#role-search-q")
    expect(search).to_be_focused()
    search.fill("zephyr")
    search.press("Enter")
    zephyr = page.get_by_label("zephyr-reader (Reader of project Zephyr)")
    zephyr.focus()
    zephyr.press("Space")
    search.fill("apollo")
    search.press("Enter")
    expect(page.locator("#action-panel")).to_contain_text("2 roles match “apollo”")
    expect(zephyr).to_be_checked()
    confirm(page, "Organization roles in acme are now: zephyr-reader.")

    page.goto(url)
    open_panel(page, "organizations")
    page.get_by_role("link", name="Remove from organization acme").click()
    confirm(page, "Removed from acme")

    page.goto(url)
    open_panel(page, "sessions")
    agent, ip = DEVICES[1]
    page.get_by_role("link", name=f"End this session {agent} from {ip}").click()
    confirm(page, "2 other sessions stay signed in")

    page.goto(url)
    open_panel(page, "sessions")
    expect(page.locator("#sessions")).to_contain_text("2 sessions")
    timeline = page.locator("#timeline")
    for entry in (
        "Role assigned",
        "Role removed",
        "Removed from an organization",
        "One session ended",
    ):
        expect(timeline).to_contain_text(entry)
    expect(timeline).to_contain_text(REASON)
    for width in (390, 1280):
        no_sideways_scroll(page, width)
    assert errors == []
    context.close()

    # The walk above spent the plan's rate: the test's own call below is not what is tested.
    use_sandbox.set_faults(rate_limit_plan="off")
    with use_sandbox.api() as api:  # a member again, for the organization roles panel
        added = api.post(f"/api/v2/organizations/{ACME}/members", json={"members": [user_id]})
        assert added.status_code == 204
    # axe runs as an injected script, which the CSP refuses: a context that bypasses it.
    axe_context = browser.new_context(bypass_csp=True)
    sign_in(axe_context, live_server, support_lead)
    axe_page = axe_context.new_page()
    axe_page.goto(url)
    for width in (390, 1280):
        axe_page.set_viewport_size({"width": width, "height": 900})
        assert violations(axe_page) == [], width  # the panels closed
    for name in ("roles", "organizations", "sessions"):
        open_panel(axe_page, name)
    for width in (390, 1280):
        axe_page.set_viewport_size({"width": width, "height": 900})
        assert violations(axe_page) == [], width
    axe_page.get_by_role("link", name="Assign a role").click()
    expect(axe_page.locator("#role-search-q")).to_be_focused()
    assert violations(axe_page) == []
    axe_page.get_by_role("link", name="Change roles acme").click()
    expect(axe_page.locator("#action-panel")).to_contain_text("Organization roles")
    for width in (390, 1280):
        axe_page.set_viewport_size({"width": width, "height": 900})
        assert violations(axe_page) == [], width
    axe_context.close()

    agent_context = browser.new_context()
    sign_in(agent_context, live_server, support_agent)
    agent_page = agent_context.new_page()
    agent_page.goto(url)
    for name in ("roles", "organizations", "sessions"):
        open_panel(agent_page, name)
    expect(agent_page.locator("#sessions")).to_contain_text("2 sessions")
    for text in (
        "Assign a role",
        "Remove editor",
        "Change roles",
        "End this session",
        "Revoke this token",
    ):
        expect(agent_page.get_by_role("link", name=text)).to_have_count(0)
    agent_context.close()


def test_a_session_form_keeps_auth0s_long_client_ids_inside_its_panel_on_a_phone(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: SandboxServer
) -> None:
    """A seeded user's sessions name Auth0's 32-character client id, one word wider than a
    phone's panel: the choices, and the user id in the heading, wrap inside the card."""
    from playwright.sync_api import expect

    user_id = with_devices(use_sandbox)[0]["user_id"]
    context = browser.new_context(viewport={"width": 390, "height": 900})
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    errors = watched(page)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{enc(user_id)}/")
    open_panel(page, "sessions")
    page.locator("#sessions a.action-revoke-session").first.click()
    card = page.locator("#action-panel .action-card")
    expect(card.locator("input[name=session]").first).to_be_focused()
    spilled = card.evaluate(
        """card => { const right = card.getBoundingClientRect().right
            - parseFloat(getComputedStyle(card).paddingRight);
          return [...card.querySelectorAll('h2, h2 *, label, legend, p')]
            .filter(e => e.getBoundingClientRect().width > 0 && e.scrollWidth > e.clientWidth + 1
              || e.getBoundingClientRect().right > right + 1)
            .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 60)); }"""
    )
    assert spilled == []
    no_sideways_scroll(page, 390)
    assert errors == []
    context.close()
