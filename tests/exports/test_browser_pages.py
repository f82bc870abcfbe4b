"""QA sweep of every exports page in a real browser, as a new user meets them: the
builder (empty, prefilled from a search, with errors), an export's
page in each state, the history (empty, filtered, 50 rows), the cancel, delete and derive
confirmations and the template pages; each at 390 and 1280 px with no sideways page scroll,
axe clean, console clean (the `page` fixture), every tab stop's focus visible, and Enter doing
the page's primary action.

States are built in the database (a ready export by running its pipeline in this process
against the sandbox, the others by setting their status), so the sweep stays fast.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from exports import tasks
from exports.models import Export, ExportTemplate, Status
from management_api import connections
from tests.fixtures.browser import card_problems, sign_in
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.exports import fifty
from tests.fixtures.page_checks import axe_problems, checked_twin, fit_problems, violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox", "export_settings"),
]

WIDTHS = (390, 1280)
MAX_TAB_STOPS = 300


def database() -> dict[str, str]:
    return next(c for c in connections() if c["strategy"] == "auth0")


def ndjson_spec() -> dict[str, Any]:
    db = database()
    return {
        "format": "ndjson",
        "connection_id": db["id"],
        "connection_name": db["name"],
        "name": "Import-ready NDJSON of the database users",
        "fields": [{"name": "user_id"}, {"name": "email"}, {"name": "user_metadata"}],
    }


def ready(spec: dict[str, Any], user: User, **extra: Any) -> Export:
    export = drive(tasks.create_export(spec, requested_by=user, **extra).pk)
    assert export.status == Status.READY, export.failure_reason
    return export


def with_status(
    user: User, status: str, spec: dict[str, Any] | None = None, **fields: Any
) -> Export:
    export = tasks.create_export(spec or CSV_SPEC, requested_by=user)
    Export.objects.filter(pk=export.pk).update(status=status, **fields)
    return Export.objects.get(pk=export.pk)


# Each case: what to build, then the URL to sweep (relative), and the primary action (if the
# page has one): (what to focus, the URL pattern Enter leads to).
Case = Callable[[User], tuple[str, tuple[str, str] | None]]


def builder_empty(user: User) -> tuple[str, tuple[str, str] | None]:
    return "/t/userdesk-sandbox/exports/new/", ("#id_name", r"/t/userdesk-sandbox/exports/\d+/$")


def builder_from_search(user: User) -> tuple[str, tuple[str, str] | None]:
    db = database()
    url = (
        f"/t/userdesk-sandbox/exports/new/?connection={db['id']}"
        "&fields=email,user_id,last_login&q=email_verified:true"
    )
    return url, ("#id_match_query", r"/t/userdesk-sandbox/exports/\d+/$")


def builder_from_template(user: User) -> tuple[str, tuple[str, str] | None]:
    template = ExportTemplate.objects.create(owner=user, name="Weekly CRM sync", spec=ndjson_spec())
    return f"/t/userdesk-sandbox/exports/new/?template={template.pk}", (
        "#id_name",
        r"/t/userdesk-sandbox/exports/\d+/$",
    )


def export_queued(user: User) -> tuple[str, tuple[str, str] | None]:
    export = tasks.create_export(CSV_SPEC, requested_by=user)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_running(user: User) -> tuple[str, tuple[str, str] | None]:
    export = with_status(
        user, Status.RUNNING, auth0_job_id="job_x", percentage_done=40, time_left_seconds=90
    )
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_filtering(user: User) -> tuple[str, tuple[str, str] | None]:
    spec = {**CSV_SPEC, "match_query": "email_verified:true", "connection_id": database()["id"]}
    export = with_status(user, Status.FILTERING, spec, scanned_count=123456, matched_count=789)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_failed(user: User) -> tuple[str, tuple[str, str] | None]:
    reason = (
        "The file Auth0 served failed verification: line 12 is not a complete JSON object "
        "(it is cut short, damaged, nested too deeply or not JSON)"
    )
    export = with_status(user, Status.FAILED, failure_reason=reason)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_cancelled(user: User) -> tuple[str, tuple[str, str] | None]:
    export = with_status(user, Status.CANCELLED, failure_reason="Cancelled by admin@example.com")
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_ready_csv(user: User) -> tuple[str, tuple[str, str] | None]:
    export = ready({**CSV_SPEC, "name": "Every user, " + "very long name " * 4}, user)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_ready_ndjson_importable(user: User) -> tuple[str, tuple[str, str] | None]:
    export = ready(ndjson_spec(), user)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_ready_exact(user: User) -> tuple[str, tuple[str, str] | None]:
    spec = {**CSV_SPEC, "match_query": "email_verified:true", "connection_id": database()["id"]}
    export = ready(spec, user)
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_purged(user: User) -> tuple[str, tuple[str, str] | None]:
    export = ready(CSV_SPEC, user)
    export.file.delete(save=False)
    Export.objects.filter(pk=export.pk).update(status=Status.PURGED, file="")
    return f"/t/userdesk-sandbox/exports/{export.pk}/", None


def export_derivative(user: User) -> tuple[str, tuple[str, str] | None]:
    parent = ready(CSV_SPEC, user)
    conditions = [{"column": "email", "operator": "contains", "value": "@"}]
    child = ready(
        {**CSV_SPEC, "conditions": conditions}, user, parent=parent, filter_conditions=conditions
    )
    return f"/t/userdesk-sandbox/exports/{child.pk}/", None


def history_empty(user: User) -> tuple[str, tuple[str, str] | None]:
    # No filters while there is nothing to filter: the primary action is a new export.
    return "/t/userdesk-sandbox/exports/", (
        "main a.button.primary",
        r"/t/userdesk-sandbox/exports/new/$",
    )


def history_filtered(user: User) -> tuple[str, tuple[str, str] | None]:
    fifty(user)
    return "/t/userdesk-sandbox/exports/?q=customers&status=failed&sort=largest", (
        "#id_q",
        r"/t/userdesk-sandbox/exports/\?.*q=",
    )


def history_fifty(user: User) -> tuple[str, tuple[str, str] | None]:
    fifty(user)
    return "/t/userdesk-sandbox/exports/", ("#id_q", r"/t/userdesk-sandbox/exports/\?.*q=")


def history_bad_filters(user: User) -> tuple[str, tuple[str, str] | None]:
    fifty(user)
    return "/t/userdesk-sandbox/exports/?date_from=2024-02-01&date_to=2024-01-01", (
        "#id_q",
        r"/t/userdesk-sandbox/exports/\?.*q=",
    )


def cancel_confirmation(user: User) -> tuple[str, tuple[str, str] | None]:
    export = with_status(user, Status.RUNNING, auth0_job_id="job_y")
    return f"/t/userdesk-sandbox/exports/{export.pk}/cancel/", (
        "form .button.danger",
        rf"/t/userdesk-sandbox/exports/{export.pk}/$",
    )


def delete_confirmation(user: User) -> tuple[str, tuple[str, str] | None]:
    export = with_status(
        user,
        Status.FAILED,
        failure_reason="Auth0 refused the job",
        created_at=timezone.now() - timedelta(days=2),
    )
    return f"/t/userdesk-sandbox/exports/{export.pk}/delete/", (
        "form .button.danger",
        r"/t/userdesk-sandbox/exports/$",
    )


CASES: dict[str, Case] = {
    "builder, empty": builder_empty,
    "builder, from a search": builder_from_search,
    "builder, from a template": builder_from_template,
    "export, queued": export_queued,
    "export, running": export_running,
    "export, filtering": export_filtering,
    "export, failed": export_failed,
    "export, cancelled": export_cancelled,
    "export, ready CSV (not importable)": export_ready_csv,
    "export, ready NDJSON (importable)": export_ready_ndjson_importable,
    "export, ready exact": export_ready_exact,
    "export, purged": export_purged,
    "export, derivative": export_derivative,
    "history, empty": history_empty,
    "history, filtered": history_filtered,
    "history, 50 rows": history_fifty,
    "history, filters with errors": history_bad_filters,
    "cancel confirmation": cancel_confirmation,
    "delete confirmation": delete_confirmation,
}


def focus_problems(page: Any) -> list[str]:
    """Tab through the page from the top: every element that takes focus shows it."""
    problems: list[str] = []
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0); window.qaFocused = new WeakSet()")
    seen = 0
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        state = page.evaluate(
            """() => {
              const e = document.activeElement;
              if (!e || e === document.body || window.qaFocused.has(e)) return null;
              window.qaFocused.add(e);
              const s = getComputedStyle(e);
              const r = e.getBoundingClientRect();
              const path = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                (e.name ? '[name=' + e.name + ']' : '') + ' "' +
                (e.textContent || e.value || '').trim().slice(0, 40) + '"';
              return {path, outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
                      shadow: s.boxShadow !== 'none', size: r.width > 0 && r.height > 0,
                      visible: e.matches(':focus-visible')};
            }"""
        )
        if state is None:  # back round to the first, or out of the page
            break
        seen += 1
        if not state["visible"]:
            problems.append(f"{state['path']} has focus but not :focus-visible")
        if not state["size"]:
            problems.append(f"{state['path']} takes focus but has no size on screen")
        elif not (state["outline"] or state["shadow"]):
            problems.append(f"{state['path']} shows no focus")
    if not seen:
        problems.append("nothing on the page takes focus from the keyboard")
    return problems


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_exports_page_fits_is_axe_clean_and_works_by_keyboard(
    page: Any, live_server: Any, export_admin: User, case: str
) -> None:
    path, primary = CASES[case](export_admin)
    sign_in(page.context, live_server, export_admin)
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}{path}")
        problems += fit_problems(page, f"{case} at {width} px")
        if width == 390:
            problems += card_problems(page, f"{case} at {width} px")
        problems += [f"{case} at {width} px: {v}" for v in axe_problems(page, width)]
        problems += [f"{case} at {width} px: {p}" for p in focus_problems(page)]
    assert problems == []
    if primary is not None:
        target, leads_to = primary
        page.goto(f"{live_server.url}{path}")
        page.locator(target).first.focus()
        with page.expect_navigation(url=re.compile(leads_to)):
            page.keyboard.press("Enter")


def test_the_builder_with_errors_keeps_them_at_the_field_by_keyboard(
    page: Any, live_server: Any, export_admin: User
) -> None:
    sign_in(page.context, live_server, export_admin)
    with checked_twin(page) as checked:
        for width in WIDTHS:
            for tab in (page, checked):
                tab.set_viewport_size({"width": width, "height": 900})
                tab.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
                tab.locator("#id_limit").fill("0")
                tab.locator("#id_name").focus()
                with tab.expect_navigation():
                    tab.keyboard.press("Enter")
                # The message is at the field, and focus can reach it from the keyboard.
                limit_field = tab.locator(".field", has=tab.locator("#id_limit"))
                assert "greater than or equal to 1" in limit_field.inner_text()
            assert fit_problems(page, f"the builder with errors at {width} px") == []
            assert focus_problems(page) == []
            assert violations(checked) == []
    assert not Export.objects.exists()


def test_the_builders_errors_are_summed_up_at_the_top_and_each_link_finds_its_field(
    page: Any, live_server: Any, export_admin: User
) -> None:
    """A refused column title is found at once: a summary at the top links to the field and takes
    the focus (it was 1,850 px down at 1,280 px, off screen in a sideways table at 390 px)."""
    sign_in(page.context, live_server, export_admin)
    with checked_twin(page) as checked:
        for width in WIDTHS:
            for tab in (page, checked):
                tab.set_viewport_size({"width": width, "height": 900})
                tab.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
                email = tab.locator(
                    "li.field-row", has=tab.locator("label.mono", has_text=re.compile("^email$"))
                )
                email.locator("input.field-as").fill("=HYPERLINK()")
                tab.locator("#id_limit").fill("0")
                with tab.expect_navigation():
                    tab.locator("#submit-export").click()
            summary = page.locator("#error-summary")
            assert page.evaluate("document.activeElement.id") == "error-summary"
            box = summary.bounding_box()
            assert box is not None
            assert box["y"] >= 0
            assert box["y"] + 40 < 900
            links = summary.locator("a")
            assert links.count() == 2
            assert "Limit:" in links.nth(0).inner_text()
            assert "“=HYPERLINK()” starts with “=”" in links.nth(1).inner_text()
            # By keyboard: the second link takes the focus to the title's box, on screen.
            page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            focused = page.evaluate(
                """() => { const e = document.activeElement, r = e.getBoundingClientRect();
                  const wrap = e.closest('.table-wrap');
                  const w = wrap ? wrap.getBoundingClientRect() : {left: 0, right: innerWidth};
                  return {name: e.name, on: r.top >= 0 && r.bottom <= innerHeight &&
                          r.left >= Math.max(0, w.left) &&
                          r.right <= Math.min(innerWidth, w.right) + 1}; }"""
            )
            assert focused["name"].endswith("-export_as")
            assert focused["on"], f"the title's box is off screen at {width} px"
            assert fit_problems(page, f"the builder's error summary at {width} px") == []
            assert violations(checked) == []
    assert not Export.objects.exists()


def test_the_builders_import_note_follows_the_connection_without_a_reload(
    page: Any, live_server: Any, export_admin: User
) -> None:
    sign_in(page.context, live_server, export_admin)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
    verdict = page.locator("#import-outlook-verdict")
    assert "will not offer" in verdict.inner_text()
    page.locator("#id_connection").select_option(database()["id"])
    page.wait_for_function(
        "() => document.querySelector('#import-outlook-verdict').textContent.includes("
        "'will offer Import-ready')"
    )
    assert "It holds all connections" not in page.locator("#import-outlook").inner_text()


def test_a_filtered_export_is_built_by_keyboard_from_a_ready_ones_page(
    page: Any, live_server: Any, export_admin: User
) -> None:
    parent = ready(CSV_SPEC, export_admin)
    sign_in(page.context, live_server, export_admin)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{parent.pk}/")
    page.locator("#id_c-0-column").select_option("email")
    page.locator("#id_c-0-operator").select_option("contains")
    page.locator("#id_c-0-value").fill("@")
    with page.expect_navigation(url=re.compile(r"/t/userdesk-sandbox/exports/\d+/$")):
        page.keyboard.press("Enter")
    child = Export.objects.get(parent=parent)
    assert page.url.endswith(f"/t/userdesk-sandbox/exports/{child.pk}/")
    assert child.filter_conditions == [{"column": "email", "operator": "contains", "value": "@"}]
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/{child.pk}/")
        problems += fit_problems(page, f"the new filtered export at {width} px")
        problems += axe_problems(page, width)
        problems += focus_problems(page)
    assert problems == []


def test_enter_in_the_template_name_saves_a_template_and_starts_nothing(
    page: Any, live_server: Any, export_admin: User
) -> None:
    sign_in(page.context, live_server, export_admin)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/new/")
    page.locator("#id_template_title").fill("Monday's list")
    with page.expect_navigation(url=re.compile(r"/t/userdesk-sandbox/exports/new/\?template=\d+$")):
        page.keyboard.press("Enter")
    assert not Export.objects.exists()
    template = ExportTemplate.objects.get(owner=export_admin)
    assert template.name == "Monday's list"
    # From the saved template, Enter in a text box starts the export it describes.
    page.locator("#id_name").fill("From the template")
    with page.expect_navigation(url=re.compile(r"/t/userdesk-sandbox/exports/\d+/$")):
        page.keyboard.press("Enter")
    assert Export.objects.get().name == "From the template"
