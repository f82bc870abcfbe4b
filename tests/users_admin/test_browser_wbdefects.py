"""The user page in a real browser: "Edit again" in place with the draft and the
reason, the password link's Copy button, and a user page that asks no other host for anything
(initials avatar), axe-clean at both widths with its panels open."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import (
    TIMEOUT_MS,
    copied,
    record_copies,
    sign_in,
    watch_requests_and_errors,
)
from tests.fixtures.page_checks import assert_fits, violations
from tests.fixtures.support_cases import create_database_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

REASON = "Ticket 6001: the customer asked for a new theme"
GRAVATAR = "https://s.gravatar.com/avatar/0b1c2d?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Fa.png"


def with_picture(server: Any, user_id: str) -> None:
    with server.api() as api:
        api.patch(f"/api/v2/users/{quote(user_id, safe='')}", json={"picture": GRAVATAR})


def requests_for(page: Any, path: str) -> list[str]:
    """The GET requests the page sends, from now on, to URLs holding `path`."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.url) if request.method == "GET" and path in request.url else None
        ),
    )
    return sent


def test_edit_again_in_place_and_the_link_copies_with_no_request_elsewhere(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any, fresh_user: Any
) -> None:
    from playwright.sync_api import expect

    user_id = fresh_user["user_id"]
    with_picture(use_sandbox, user_id)
    context = browser.new_context()
    context.grant_permissions(["clipboard-write"], origin=live_server.url)
    record_copies(context)
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    elsewhere, errors = watch_requests_and_errors(page, live_server.url)

    user_page = f"{live_server.url}/t/userdesk-sandbox/users/{quote(user_id, safe='')}/"
    page.goto(user_page)
    expect(page.locator(".profile-head .avatar")).to_have_text("CA")
    expect(page.locator(".profile-head img")).to_have_count(0)

    opened = requests_for(page, "/actions/edit-metadata/")
    # A hurried double click asks once: a second request's answer would replace the draft.
    page.get_by_role("link", name="Edit user_metadata").dblclick()
    panel = page.locator("#action-panel")
    editor = panel.get_by_label("New value (JSON object)")
    expect(editor).to_be_visible()
    # Settled: the panel has put the focus on its first field. Typing before that would race
    # it (Playwright's text would land where the focus moved).
    expect(panel.get_by_label("Reason")).to_be_focused()
    draft = json.dumps({"theme": "light", "lang": "en", "beta": True}, indent=2)
    editor.fill(draft)
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_role("button", name="Show the changes").click()
    expect(panel.locator(".diff")).to_contain_text('"beta": true')
    assert len(opened) == 1, opened

    panel.get_by_role("button", name="Edit again").click()
    expect(editor).to_be_visible()
    assert page.url == user_page  # in place: the user page, the panel swapped
    assert json.loads(editor.input_value()) == json.loads(draft)
    expect(panel.get_by_label("Reason")).to_have_value(REASON)
    panel.get_by_role("button", name="Show the changes").click()
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator(".outcome")).to_contain_text("user_metadata saved.")

    page.goto(user_page)
    page.get_by_role("link", name="Send a password change link").click()
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_role("button", name="Create the link").click()
    link = panel.locator("#secret-link")
    expect(link).to_be_visible()
    copy = panel.get_by_role("button", name="Copy the password change link")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert copied(page) == link.input_value()

    assert elsewhere == [], elsewhere
    assert errors == [], errors
    context.close()


def test_the_user_page_and_its_panels_are_axe_clean_at_both_widths(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any, fresh_user: Any
) -> None:
    from playwright.sync_api import expect

    user_id = fresh_user["user_id"]
    with_picture(use_sandbox, user_id)
    context = browser.new_context(bypass_csp=True)  # for axe's script alone
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    # One request for the editor per click: a second answer swapped in over the draft typed
    # meanwhile would lose it.
    opened = requests_for(page, "/actions/edit-metadata/")
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{quote(user_id, safe='')}/")
        problems += [f"user page at {width}: {v}" for v in violations(page)]
        opened.clear()
        page.get_by_role("link", name="Edit app_metadata").click()
        panel = page.locator("#action-panel")
        editor = panel.get_by_label("New value (JSON object)")
        expect(editor).to_be_visible()
        expect(panel.get_by_label("Reason")).to_be_focused()  # settled, as above
        editor.fill(json.dumps({"plan": "gold", "seats": 3}))
        panel.get_by_label("Reason").fill(REASON)
        panel.get_by_role("button", name="Show the changes").click()
        expect(panel.get_by_role("button", name="Edit again")).to_be_visible()
        problems += [f"preview at {width}: {v}" for v in violations(page)]
        # Auth0 changes the key meanwhile: the three versions, and a choice per key.
        with use_sandbox.api() as api:
            api.patch(
                f"/api/v2/users/{quote(user_id, safe='')}",
                json={"app_metadata": {"seats": 40 + width}},
            )
        panel.get_by_role("button", name="Save").click()
        expect(panel.get_by_role("radio", name="Use yours")).to_be_visible()
        problems += [f"conflict at {width}: {v}" for v in violations(page)]
        panel.get_by_role("radio", name="Use yours").check()
        panel.get_by_role("button", name="Continue with these choices").click()
        expect(panel.locator(".diff")).to_be_visible()
        assert len(opened) == 1, opened
        page.goto(
            f"{live_server.url}/t/userdesk-sandbox/timeline/{quote(user_id, safe='')}/?page=x"
        )
        problems += [f"timeline page x at {width}: {v}" for v in violations(page)]
    assert problems == []
    context.close()


def test_an_action_page_about_a_long_address_fits_a_phone(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any
) -> None:
    """The action's heading names the user: an address with nowhere to break wraps anyway."""
    user = create_database_user(use_sandbox, f"lucaskowalski{uuid.uuid4().hex[:8]}@proton.example")
    context = browser.new_context(viewport={"width": 390, "height": 900})
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(
            f"{live_server.url}/t/userdesk-sandbox/actions/block/{quote(user['user_id'], safe='')}/"
        )
        assert_fits(page, "the block form at 390 px")
    finally:
        context.close()
        with use_sandbox.api() as api:
            api.delete(f"/api/v2/users/{quote(user['user_id'], safe='')}")
