"""Action panels by keyboard alone: every action of the user page opens with
Enter, the focus lands on the panel's first field, and a refused form focuses the field in
error."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

ACTIONS = 'a.button[hx-target="#action-panel"]'
# What a keyboard user lands on, in the panel's order: a field, else the panel's message.
FOCUSED = """() => {
  const card = document.querySelector('#action-panel .action-card');
  const active = document.activeElement;
  if (!card || !card.contains(active)) return 'outside: ' + active.outerHTML.slice(0, 80);
  const fields = [...card.querySelectorAll('form input, form select, form textarea')]
    .filter(f => f.type !== 'hidden' && !f.disabled && !f.readOnly);
  if (fields.length) return active === fields[0] ? 'first field' : 'not the first field';
  return active.matches('.outcome, .alert') ? 'message' : 'elsewhere: ' + active.tagName;
}"""


def user_page(use_sandbox: Any, query: str) -> str:
    with use_sandbox.api() as api:
        found = api.get(
            "/api/v2/users", params={"q": query, "search_engine": "v3", "per_page": 1}
        ).json()
    return f"/t/userdesk-sandbox/users/{found[0]['user_id']}/"


@pytest.mark.parametrize("query", ["blocked:true", "email_verified:false"])
def test_every_action_opens_by_keyboard_with_the_focus_on_its_first_field(
    page: Any, live_server: Any, support_lead: User, use_sandbox: Any, query: str
) -> None:
    from playwright.sync_api import expect

    sign_in(page.context, live_server, support_lead)
    page.goto(live_server.url + user_page(use_sandbox, query))
    names = page.locator(ACTIONS).all_inner_texts()
    assert names
    for index, name in enumerate(names):
        link = page.locator(ACTIONS).nth(index)
        link.focus()  # reachable by Tab: a link with an address, never tabindex=-1
        assert link.get_attribute("tabindex") in (None, "0")
        page.keyboard.press("Enter")
        expect(page.locator("#action-panel .action-card h2")).to_contain_text(name.strip()[:4])
        expect(page.locator("#action-panel .action-card :focus")).to_have_count(1)
        assert page.evaluate(FOCUSED) in ("first field", "message"), name


def test_a_refused_form_focuses_the_field_in_error(
    page: Any, live_server: Any, support_lead: User, use_sandbox: Any
) -> None:
    from playwright.sync_api import expect

    sign_in(page.context, live_server, support_lead)
    page.goto(live_server.url + user_page(use_sandbox, "blocked:true"))
    page.get_by_role("link", name="Unblock this user").first.focus()
    page.keyboard.press("Enter")
    reason = page.locator("#action-panel").get_by_label("Reason")
    expect(reason).to_be_focused()
    page.keyboard.type("no")  # too short to be a reason
    page.keyboard.press("Enter")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_be_focused()
