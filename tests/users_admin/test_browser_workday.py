"""The search page in a real browser: the keyboard, feedback while searching, Back, narrow screens.

Every test here also fails on any console error (CSP violations included): the `page` fixture
checks at teardown.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from staff.models import AuditEvent
from staff.permissions import SUPPORT_GROUP
from tests.fixtures.browser import copied, record_copies, sign_in
from tests.fixtures.page_checks import assert_fits
from tests.fixtures.personas import make_staff

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

WIDTHS = (390, 1280)


@pytest.fixture
def agent_page(page: Any, live_server: Any, support_agent: User) -> Any:
    sign_in(page.context, live_server, support_agent)
    return page


def searches_sent(page: Any) -> list[str]:
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.url)
            if "/t/userdesk-sandbox/users/?" in request.url and request.headers.get("hx-request")
            else None
        ),
    )
    return sent


def test_enter_in_any_row_searches_and_removes_nothing(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    # the first row's value has the focus: an agent types at once
    expect(page.get_by_label("Value, row 1")).to_be_focused()
    page.keyboard.type("@example.com")
    page.get_by_label("Operator, row 1").select_option("ends")
    page.get_by_role("button", name="Add a condition").click()  # no CSP violation (issue: eight)
    expect(page.get_by_label("Field, row 2")).to_be_focused()
    page.get_by_label("Field, row 2").select_option("name")
    page.get_by_label("Operator, row 2").select_option("starts")
    page.get_by_label("Value, row 2").fill("A")
    page.get_by_label("Value, row 2").press("Enter")
    expect(page.locator("#results code")).to_have_text("email:*@example.com AND name:A*")
    expect(page.get_by_label("Field, row 2")).to_be_visible()
    expect(page.get_by_label("Value, row 1")).to_have_value("@example.com")


def test_a_running_search_shows_it_and_a_second_click_sends_nothing(
    agent_page: Any, live_server: Any
) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    sent = searches_sent(page)
    page.evaluate(
        """() => {
          window.seenWhileRunning = [];
          document.body.addEventListener("htmx:beforeSend", () => {
            const button = document.querySelector(".search-submit");
            window.seenWhileRunning.push({
              disabled: button.disabled,
              dimmed: document.querySelector("#results").classList.contains("htmx-request"),
              searching: getComputedStyle(document.querySelector(".searching")).visibility,
            });
          });
        }"""
    )
    page.get_by_label("Value, row 1").fill("@example.com")
    page.get_by_label("Operator, row 1").select_option("ends")
    # three clicks in one go, as an impatient agent does
    page.evaluate(
        """() => { const b = document.querySelector(".search-submit");
                   b.click(); b.click(); b.click(); }"""
    )
    expect(page.locator("#results code")).to_have_text("email:*@example.com")
    expect(page.locator(".search-submit")).to_be_enabled()
    assert len(sent) == 1
    assert page.evaluate("window.seenWhileRunning") == [
        {"disabled": True, "dimmed": True, "searching": "visible"}
    ]


def test_back_restores_the_form_with_the_results(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    value = page.get_by_label("Value, row 1")
    page.get_by_label("Operator, row 1").select_option("starts")
    value.fill("a")
    value.press("Enter")
    expect(page.locator("#results code")).to_have_text("email:a*")
    value.fill("b")
    value.press("Enter")
    expect(page.locator("#results code")).to_have_text("email:b*")
    page.go_back()
    expect(page.locator("#results code")).to_have_text("email:a*")
    expect(page.get_by_label("Value, row 1")).to_have_value("a")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results code")).to_have_text("email:a*")


def tab_to(page: Any, name: str) -> None:
    for _ in range(4):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == name:
            return
    raise AssertionError(f"Tab never reached {name}")


def test_a_number_and_a_date_range_by_keyboard_alone(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_label("Field, row 1").focus()
    page.keyboard.type("Logins")  # type-ahead in a closed menu
    expect(page.get_by_label("Field, row 1")).to_have_value("logins_count")
    # only the operators of a number are offered, "greater than" among them
    operator = page.get_by_label("Operator, row 1")
    expect(operator.locator("option:not([disabled])")).to_have_text(
        ["is", "greater than", "less than", "between", "exists", "does not exist"]
    )
    page.keyboard.press("Tab")
    page.keyboard.type("greater")
    expect(operator).to_have_value("gt")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Value, row 1")).to_have_attribute("type", "number")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.locator("#results code")).to_have_text("logins_count:{3 TO *]")

    page.get_by_role("button", name="Add a condition").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Field, row 2")).to_be_focused()
    page.keyboard.type("Created")
    page.keyboard.press("Tab")
    page.keyboard.type("between")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Value, row 2")).to_have_attribute("type", "date")
    page.keyboard.type("01012020")  # a date input takes its parts as typed digits
    tab_to(page, "c-1-value2")  # past the date input's calendar button
    page.keyboard.type("12312030")  # month, day, year in the en-US locale
    page.keyboard.press("Enter")
    expect(page.locator("#results code")).to_have_text(
        "logins_count:{3 TO *] AND created_at:[2020-01-01 TO 2030-12-31]"
    )


def test_ctrl_enter_searches_from_the_lucene_box(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_role("button", name="Advanced (Lucene)").click()
    box = page.get_by_label("Lucene query")
    box.fill("email:a*")
    box.press("Enter")  # a new line, not a search
    expect(page.locator("#results code")).to_have_count(0)
    box.press("Control+Enter")
    expect(page.locator("#results code")).to_have_text("email:a*")


def test_presets_copy_buttons_and_column_order(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.context.grant_permissions(["clipboard-write"])
    record_copies(page)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_role("link", name="Email not verified").click()
    expect(page.get_by_label("Field, row 1")).to_have_value("email_verified")
    expect(page.get_by_label("Operator, row 1")).to_have_value("false")
    expect(page.locator("#results code")).to_have_text("email_verified:false")

    page.get_by_role("button", name="Copy email_verified:false").click()
    assert copied(page) == "email_verified:false"
    first_email = page.locator('#results td[data-label="Email"] .copyable').first
    address = first_email.inner_text()
    page.get_by_role("button", name=f"Copy {address}").first.click()
    assert copied(page) == address

    page.get_by_text("Columns", exact=True).click()
    page.get_by_role("button", name="Move up Logins").click()
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results thead th")).to_have_text(
        ["Email", "Name", "Connection", "Logins", "Last login", "Details"]
    )


def test_a_search_saved_and_shared_opens_for_a_colleague(
    browser: Any, agent_page: Any, live_server: Any
) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_role("link", name="Blocked").click()
    expect(page.locator("#results code")).to_have_text("blocked:true")
    page.get_by_label("Save this search as").fill("Blocked users")
    page.get_by_label("Share with the team").check()
    page.get_by_label("Save this search as").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved “Blocked users”")
    expect(page.locator(".search-side")).to_contain_text("blocked:true")  # a recent search too

    context = browser.new_context()
    try:
        sign_in(context, live_server, make_staff("colleague@example.com", SUPPORT_GROUP))
        other = context.new_page()
        other.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
        saved = other.locator(".search-side").get_by_role("link", name="Blocked users")
        saved.click()
        expect(other.locator("#results code")).to_have_text("blocked:true")
        expect(other.get_by_label("Field, row 1")).to_have_value("blocked")
        expect(other.get_by_role("button", name="Delete saved search Blocked users")).to_have_count(
            0
        )
    finally:
        context.close()


def test_back_to_results_from_a_user(agent_page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    page = agent_page
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/")
    page.get_by_label("Value, row 1").fill("@example.com")
    page.get_by_label("Operator, row 1").select_option("ends")
    page.get_by_label("Per page").select_option("10")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#results").get_by_role("link", name="Page 2", exact=True).click()
    expect(page.locator("#results .pagination [aria-current=page]")).to_have_text("Page 2")
    page.locator("#results tbody tr").first.get_by_role("link", name=re.compile("Details")).click()
    page.get_by_role("link", name="← Back to results").click()
    expect(page.locator("#results .pagination [aria-current=page]")).to_have_text("Page 2")
    expect(page.get_by_label("Value, row 1")).to_have_value("@example.com")


# --- Widths ---------------------------------------------------------------------------------


def test_the_sign_in_page_fits_a_phone_and_a_laptop(page: Any, live_server: Any) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/sign-in/")
        assert_fits(page, f"sign-in at {width} px")


def test_every_main_page_fits_a_phone_and_a_laptop(
    page: Any, live_server: Any, export_admin: User
) -> None:
    from exports.models import Export

    sign_in(page.context, live_server, export_admin)
    AuditEvent.objects.create(
        actor=export_admin,
        actor_label=export_admin.get_username(),
        action="users.search",
        target="email:" + "averyveryverylongaddresspart" * 8 + "@example.com",
        details={"query": "x" * 300, "matches": 3},  # a cell of several pieces
    )
    for status in ("ready", "failed"):
        Export.objects.create(
            requested_by=export_admin,
            requested_by_label=export_admin.get_username(),
            status=status,
            connection_name="Username-Password-Authentication",
            fields=[{"name": "email"}, {"name": "user_id"}],
            row_count=299,
            compressed_size=12345,
            failure_reason="Auth0 refused the job: the connection does not exist." * 3,
        )
    pages = {
        "search": "/t/userdesk-sandbox/users/?q=email:*example.com&columns=email&columns=name"
        "&columns=user_id&columns=identities&columns=last_login&columns=logins_count&columns=created_at",
        "lookup": "/t/userdesk-sandbox/lookup/?email=nobody@example.com",
        "exports": "/t/userdesk-sandbox/exports/",
        "new export": "/t/userdesk-sandbox/exports/new/",
        "audit log": "/t/userdesk-sandbox/audit/",
        "password": "/password/",
    }
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            page.goto(live_server.url + path)
            assert_fits(page, f"{name} at {width} px")
        # a user's page, opened from the results
        page.goto(live_server.url + pages["search"])
        details = page.locator("#results tbody tr").first.get_by_role(
            "link", name=re.compile("Details")
        )
        box = details.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= width, f"Details is off-screen at {width} px"
        details.click()
        page.wait_for_url(re.compile(r"/t/userdesk-sandbox/users/[^?]+/"))
        assert_fits(page, f"user page at {width} px")


def test_the_user_page_copies_the_user_id_and_email(
    agent_page: Any, live_server: Any, use_sandbox: Any
) -> None:
    from playwright.sync_api import expect

    with use_sandbox.api() as api:
        user = api.get(
            "/api/v2/users", params={"q": "_exists_:email", "search_engine": "v3", "per_page": 1}
        ).json()[0]
    page = agent_page
    page.context.grant_permissions(["clipboard-write"])
    record_copies(page)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/users/{user['user_id']}/")
    page.get_by_role("button", name=f"Copy {user['user_id']}").click()
    assert copied(page) == user["user_id"]
    page.get_by_role("button", name=f"Copy {user['email']}").click()
    expect(page.get_by_role("button", name=f"Copy {user['email']}")).to_have_text("Copied")
    assert copied(page) == user["email"]
