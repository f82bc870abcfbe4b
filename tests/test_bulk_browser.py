"""In a real browser, mostly by keyboard: a lead turns a search into a bulk block run, previews
it and asks for approval; a second lead approves; a real Celery worker blocks the users on a
real sandbox server; the result file and Undo are offered. The pages pass axe at 390 and
1280 px and scroll no sideways."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from staff.permissions import SUPPORT_LEAD_GROUP
from tests.fixtures.browser import TIMEOUT_MS
from tests.fixtures.personas import make_staff
from tests.test_browser_a11y import violations
from tests.test_browser_search import sign_in
from tests.test_bulk_select import tenant, use_tenant  # noqa: F401 (fixtures)
from tests.test_exports_exact_browser import no_sideways_scroll
from users_admin.models import BulkRun, BulkRunStatus

# The bulk pages of the test tenant.
BULK = "/t/userdesk-sandbox/bulk"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_cache")]


def test_a_lead_blocks_a_search_s_users_with_a_second_lead_s_approval(
    live_server: Any,
    page: Any,
    browser: Any,
    celery_worker: Any,
    use_tenant: Any,  # noqa: F811
    support_lead: User,
    settings: Any,
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 2
    settings.AUTH0_RATE_LIMIT_PLAN = "enterprise"
    settings.BULK_INTERACTIVE_RESERVE = 0.0
    q = "app_metadata.plan:enterprise"
    sign_in(page.context, live_server, support_lead)
    page.goto(f"{live_server.url}/users/?mode=advanced&q={q}")
    page.get_by_role("link", name="Bulk run on every matching user").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{BULK}/new/?*")
    new_url = page.url
    assert page.get_by_label("Search query (Lucene)").input_value() == q
    page.get_by_role("button", name="Select the users").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{BULK}/*/")
    run_url = page.url
    page.locator("#run-counts").wait_for(timeout=TIMEOUT_MS * 2)

    page.get_by_label("Block", exact=True).check()
    page.get_by_label("Reason").fill("Ticket 77: compromised plan")
    page.get_by_label("Ticket reference").fill("T-77")
    page.keyboard.press("Enter")  # submits the action form: Preview
    page.locator("#bulk-preview").wait_for(timeout=TIMEOUT_MS * 2)
    assert "sign them out everywhere too" in page.locator("#preview-warnings").inner_text()
    page.get_by_role("button", name="Request approval").click()
    assert "You cannot approve your own run" in page.locator("#pending-note").inner_text()
    run = BulkRun.objects.get()
    assert run.status == BulkRunStatus.PENDING

    second = make_staff("second-lead@userdesk.test", SUPPORT_LEAD_GROUP)
    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, second)
        other = context.new_page()
        other.set_default_timeout(TIMEOUT_MS)
        other.goto(run_url)
        assert (
            "Ticket 77: compromised plan (ticket T-77)"
            in other.locator("#bulk-preview").inner_text()
        )
        other.get_by_role("button", name="Approve and start").focus()
        other.keyboard.press("Enter")
        other.wait_for_function(
            "() => (document.querySelector('#run-progress') || {}).innerText?.includes('Finished')",
            polling=200,
            timeout=TIMEOUT_MS * 2,
        )
        run.refresh_from_db()
        assert run.status == BulkRunStatus.DONE
        assert run.approved_by_label == second.username
        assert other.get_by_role("link", name="Result file (CSV)").is_visible()
        assert other.get_by_role("button", name="Undo this run").is_visible()

        problems: list[str] = []
        for width in (390, 1280):
            other.set_viewport_size({"width": width, "height": 900})
            for url in (new_url, run_url, f"{live_server.url}{BULK}/"):
                other.goto(url)
                problems += [f"{url} at {width} px: {v}" for v in violations(other)]
                if not no_sideways_scroll(other):
                    problems.append(f"{url} scrolls sideways at {width} px")
        assert problems == [], "\n".join(problems)
    finally:
        context.close()
