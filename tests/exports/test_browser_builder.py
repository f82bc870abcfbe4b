"""The export builder used by keyboard only, as a new export admin would:
a 40-field NDJSON export and a 30-field CSV export at 390 and 1,280 px, found with the field
search, reordered with the picked list's arrows (the focus stays on the arrow), started with
Enter; no sideways scroll, no field hidden under the sticky summary, axe and console clean
(the `page` fixture), under the page's CSP."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from exports.models import Export
from tests.fixtures.browser import sign_in
from tests.fixtures.page_checks import checked_twin, fit_problems, violations
from tests.fixtures.screenshots import WIDTH, docs_screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox", "export_settings"),
]

BUILDER = "/t/userdesk-sandbox/exports/new/"
# The builder's own picks on a new form (exports.views._prefill).
DEFAULTS = [
    "user_id",
    "email",
    "email_verified",
    "name",
    "identities[0].connection",
    "created_at",
    "last_login",
]
MAX_TABS = 400


def active(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => { const e = document.activeElement, r = e.getBoundingClientRect();
          const bar = document.getElementById('builder-summary').getBoundingClientRect();
          const label = e.id ? document.querySelector(`label[for="${e.id}"]`) : null;
          return {id: e.id, name: e.name || '', aria: e.getAttribute('aria-label') || '',
                  label: label ? label.textContent.trim() : '', checked: !!e.checked,
                  top: r.top, bottom: r.bottom, right: r.right, barTop: bar.top}; }"""
    )


def tab_to(page: Any, wanted: Any, *, back: bool = False) -> dict[str, Any]:
    """Press Tab (Shift+Tab) until the focused element is the one wanted."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        state = active(page)
        if wanted(state):
            return state
    raise AssertionError("the keyboard never reached the wanted control")


def on_screen(page: Any, state: dict[str, Any], what: str) -> None:
    width = page.evaluate("innerWidth")
    assert state["top"] >= 0, f"{what} is above the window"
    assert state["bottom"] <= state["barTop"] + 1, f"{what} is under the sticky summary"
    assert state["right"] <= width, f"{what} is off to the right"


def pick(page: Any, name: str, title: str = "") -> None:
    """From the field search: find the field, tick it with Space, give it a title, and go back."""
    assert active(page)["id"] == "field-filter"
    page.keyboard.press("Control+a")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    state = active(page)
    assert state["label"] == name, f"Enter in the search went to {state['label']!r}, not {name!r}"
    on_screen(page, state, name)
    assert not state["checked"]
    page.keyboard.press("Space")
    assert active(page)["checked"]
    if title:
        page.keyboard.press("Tab")
        assert active(page)["name"].endswith("-export_as")
        page.keyboard.type(title)
    tab_to(page, lambda s: s["id"] == "field-filter", back=True)


def listed(page: Any, *, csv: bool) -> list[str]:
    """The fields the builder lists (by group), leaving out whole objects for CSV."""
    rows = ".field-row:not(.is-object)" if csv else ".field-row"
    return [
        name
        for name in page.locator(f"{rows} label.mono").all_inner_texts()
        if name not in DEFAULTS
    ]


def build(page: Any, live_server: Any, *, csv: bool, count: int, width: int) -> Export:
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_server.url}{BUILDER}")
    wanted = listed(page, csv=csv)[: count - len(DEFAULTS)]
    assert len(wanted) == count - len(DEFAULTS), "the sandbox lists too few fields"

    # The skip link leads to the fields; the next stop is the field search.
    tab_to(
        page,
        lambda s: (
            s["aria"] == ""
            and page.evaluate("document.activeElement.getAttribute('href')") == "#fields"
        ),
    )
    page.keyboard.press("Enter")
    assert active(page)["id"] == "fields"
    page.keyboard.press("Tab")
    for index, name in enumerate(wanted):
        pick(page, name, title=f"Column {index}" if index % 5 == 0 else "")
    assert page.locator("#field-count").inner_text() == str(count)

    # Show only the picked fields: every picked one is listed, nothing else.
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "field-show"
    page.keyboard.press("ArrowDown")  # "Picked fields"
    assert page.locator(".field-row:visible").count() == count
    assert fit_problems(page, f"the builder at {width} px") == []
    if csv and width == WIDTH:
        docs_screenshot(page, "export-builder", show=page.locator("#fields"))

    # Reorder by keyboard: created_at up twice, the focus staying on its arrow.
    tab_to(page, lambda s: s["aria"] == "Move created_at up")
    page.keyboard.press("Enter")
    assert active(page)["aria"] == "Move created_at up"
    page.keyboard.press("Enter")
    state = active(page)
    assert state["aria"] == "Move created_at up"
    assert "created_at is now 4 of" in page.locator("#order-status").inner_text()

    # The format, then the name; Enter in the name starts the export.
    tab_to(page, lambda s: s["name"] == "format", back=True)
    if not csv:
        page.keyboard.press("ArrowDown")
        assert page.locator("input[name=format]:checked").input_value() == "ndjson"
    blocked = page.locator("#submit-blocked")
    assert blocked.is_hidden(), blocked.inner_text()
    tab_to(page, lambda s: s["id"] == "id_name")
    page.keyboard.type(f"{count} fields at {width} px")
    with page.expect_navigation(url=re.compile(r"/t/userdesk-sandbox/exports/\d+/$")):
        page.keyboard.press("Enter")
    export = Export.objects.get(name=f"{count} fields at {width} px")
    names = [field["name"] for field in export.fields]
    expected = [*DEFAULTS, *wanted]
    expected.remove("created_at")
    expected.insert(3, "created_at")
    assert names == expected
    titled = {f["name"]: f.get("export_as") for f in export.fields if f.get("export_as")}
    assert titled == {
        "user_id": "Id",
        "identities[0].connection": "Connection",
        **{name: f"Column {index}" for index, name in enumerate(wanted) if index % 5 == 0},
    }
    return export


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize(("fmt", "count"), [("ndjson", 40), ("csv", 30)])
def test_a_big_export_is_built_by_keyboard(
    page: Any, live_server: Any, export_admin: User, fmt: str, count: int, width: int
) -> None:
    """40 fields for NDJSON, CSV's most (30) for CSV."""
    sign_in(page.context, live_server, export_admin)
    export = build(page, live_server, csv=fmt == "csv", count=count, width=width)
    assert export.format == fmt


def test_the_field_search_and_the_groups_are_axe_clean_and_fit(
    page: Any, live_server: Any, export_admin: User
) -> None:
    sign_in(page.context, live_server, export_admin)
    with checked_twin(page) as checked:
        for width in (390, 1280):
            for tab in (page, checked):
                tab.set_viewport_size({"width": width, "height": 800})
                tab.goto(f"{live_server.url}{BUILDER}")
                groups = tab.locator(".field-group legend").all_inner_texts()
                assert [g.split(" (")[0] for g in groups][:4] == [
                    "Profile",
                    "Identities",
                    "app_metadata",
                    "user_metadata",
                ]
                tab.locator("#field-filter").fill("consent")
                assert (
                    tab.locator(".field-group:visible legend")
                    .all_inner_texts()[0]
                    .startswith("user_metadata")
                )
                shown = tab.locator(".field-row:visible label.mono").all_inner_texts()
                assert shown
                assert all("consent" in name for name in shown)
                assert re.fullmatch(
                    rf"{len(shown)} of \d+ fields shown\.",
                    tab.locator("#field-filter-count").inner_text(),
                )
            assert fit_problems(page, f"the filtered builder at {width} px") == []
            assert violations(checked) == []
