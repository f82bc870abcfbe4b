"""In a real browser, mostly by keyboard: a lead turns a search into a bulk block run, previews
it and asks for approval; a second lead approves; a real Celery worker blocks the users on a
real sandbox server; the result file and Undo are offered. The pages pass axe at 390 and
1280 px and scroll no sideways."""

from __future__ import annotations

import gzip
import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.bulk import previewed, tenant, use_tenant  # noqa: F401 (fixtures)
from tests.fixtures.celery import wait_for
from tests.fixtures.exact_exports import job_file
from tests.fixtures.page_checks import fits_width, violations
from tests.fixtures.sandbox import SandboxServer, instant_sandbox, point_dashboard_at
from tests.fixtures.screenshots import docs_screenshot
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
    second_lead: User,
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
    docs_screenshot(page, "bulk-run-preview", show=page.locator("#bulk-preview"))
    page.get_by_role("button", name="Request approval").click()
    assert "You cannot approve your own run" in page.locator("#pending-note").inner_text()
    run = BulkRun.objects.get()
    assert run.status == BulkRunStatus.PENDING

    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, second_lead)
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
        assert run.approved_by_label == second_lead.username
        assert other.get_by_role("link", name="Result file (CSV)").is_visible()
        assert other.get_by_role("button", name="Undo this run").is_visible()

        problems: list[str] = []
        for width in (390, 1280):
            other.set_viewport_size({"width": width, "height": 900})
            for url in (new_url, run_url, f"{live_server.url}{BULK}/"):
                other.goto(url)
                problems += [f"{url} at {width} px: {v}" for v in violations(other)]
                if not fits_width(other):
                    problems.append(f"{url} scrolls sideways at {width} px")
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


# --- a list of emails sets a metadata key, and Undo takes it away ----------------------------

# The walk lists 5,000 emails; paced at Enterprise's 16 calls a second (a read and a
# write per user, twice with the undo) that is 22 minutes, so the suite lists 300 (above the
# approval threshold, about 80 s of pacing) and `BULK_WALK_USERS=5000` runs the walk in full.
LISTED = int(os.environ.get("BULK_WALK_USERS", "300"))
RUN_PAGE = re.compile(r"/bulk/\d+/$")
KEY = "contract"


@pytest.fixture(scope="module")
def list_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with instant_sandbox(
        tmp_path_factory.mktemp("bulk-list-sandbox"), users=LISTED + 600, seed=23
    ) as server:
        yield server


def app_metadata_of_everyone(server: SandboxServer) -> dict[str, dict[str, Any]]:
    """Every user's app_metadata as the sandbox holds it now (its own export job)."""
    fields = [{"name": "user_id"}, {"name": "email"}, {"name": "app_metadata"}]
    with server.api() as api:
        data = gzip.decompress(job_file(api, {"format": "json", "fields": fields}))
    users = [orjson.loads(line) for line in data.splitlines()]
    return {u["user_id"]: {"email": u.get("email"), **(u.get("app_metadata") or {})} for u in users}


def wait_until(run_id: int, status: str, timeout: float) -> BulkRun:
    run: BulkRun = wait_for(
        lambda: BulkRun.objects.filter(pk=run_id, status=status).first(), timeout, every=0.5
    )
    return run


def assert_clean_at_both_widths(page: Any) -> None:
    """A page showing errors at its fields passes axe and scrolls no sideways."""
    problems: list[str] = []
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        problems += [f"at {width} px: {v}" for v in violations(page)]
        if not fits_width(page):
            problems.append(f"{page.url} scrolls sideways at {width} px")
    assert problems == [], "\n".join(problems)


def refused_at_the_field(page: Any, new_url: str) -> None:
    """An empty list, a malformed line and a query the evaluator refuses, each said at its
    field by keyboard (the page passing axe and scrolling no sideways)."""
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(new_url)
    source_list = page.get_by_label("The users of a list (user ids or email addresses)")
    select = page.get_by_role("button", name="Select the users")
    bad_lists = {
        b"": "The list is empty",
        b"jane@example.com\nnot an address\n": "line 2: \u201cnot an address\u201d",
    }
    for data, said in bad_lists.items():
        source_list.check()
        page.get_by_label("List of users").set_input_files(
            {"name": "users.txt", "mimeType": "text/plain", "buffer": data}
        )
        select.focus()
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert said in page.locator("#bulk-select").inner_text()
    assert_clean_at_both_widths(page)
    page.get_by_label("Every user a search query matches").check()
    page.get_by_label("Search query (Lucene)").fill("email:(a")
    select.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "cannot select users exactly" in page.locator("#bulk-select").inner_text()


def approve_in(context: Any, url: str) -> None:
    """A second lead opens the run and approves it by keyboard."""
    other = context.new_page()
    other.set_default_timeout(TIMEOUT_MS)
    other.goto(url)
    other.get_by_role("button", name="Approve and start").focus()
    with other.expect_navigation():
        other.keyboard.press("Enter")
    other.close()


def test_a_list_of_5000_emails_sets_a_metadata_key_and_undo_removes_it(
    live_server: Any,
    page: Any,
    browser: Any,
    celery_worker: Any,
    list_tenant: SandboxServer,
    export_settings: Any,
    support_lead: User,
    second_lead: User,
    settings: Any,
) -> None:
    point_dashboard_at(settings, list_tenant)
    assert LISTED > settings.BULK_APPROVAL_THRESHOLD  # the default 100: a second lead approves
    settings.AUTH0_RATE_LIMIT_PLAN = "enterprise"
    settings.BULK_INTERACTIVE_RESERVE = 0.0
    before = app_metadata_of_everyone(list_tenant)
    assert not any(KEY in meta for meta in before.values())
    emails = Counter(str(meta["email"] or "").lower() for meta in before.values())
    chosen = [
        uid for uid, meta in before.items() if meta["email"] and emails[meta["email"].lower()] == 1
    ][:LISTED]
    assert len(chosen) == LISTED
    listed = "\n".join(str(before[uid]["email"]) for uid in chosen).encode()

    # Bad input is refused at its field, and no run exists (a context where axe may run).
    checking = browser.new_context(bypass_csp=True)
    try:
        sign_in(checking, live_server, support_lead)
        refused_at_the_field(checking.new_page(), f"{live_server.url}{BULK}/new/")
    finally:
        checking.close()
    assert not BulkRun.objects.exists()

    sign_in(page.context, live_server, support_lead)
    page.goto(f"{live_server.url}{BULK}/new/")
    source_list = page.get_by_label("The users of a list (user ids or email addresses)")
    file_field = page.get_by_label("List of users")
    select = page.get_by_role("button", name="Select the users")
    source_list.check()
    file_field.set_input_files(
        {"name": "customer-5000.txt", "mimeType": "text/plain", "buffer": listed}
    )
    select.focus()
    with page.expect_navigation(url=RUN_PAGE):
        page.keyboard.press("Enter")
    page.locator("#run-counts").wait_for(timeout=TIMEOUT_MS * 4)
    run = BulkRun.objects.get()
    run_url = f"{live_server.url}{BULK}/{run.pk}/"
    assert page.url == run_url
    assert (run.selected_count, run.unknown_count, run.ambiguous_count) == (LISTED, 0, 0)

    page.get_by_label("Set or remove metadata keys").check()
    page.get_by_label("Reason").fill("Ticket 88: the customer's contract")
    patch = page.get_by_label("Keys to set or remove (JSON)")
    patch.fill('{"contract": "acme-2026",}')  # not JSON
    patch.focus()
    page.get_by_role("button", name="Preview").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "JSON" in page.locator("#bulk-action").inner_text()
    run.refresh_from_db()
    assert run.status == BulkRunStatus.SELECTED  # nothing previewed, nothing requested
    page.get_by_label("Set or remove metadata keys").check()
    page.get_by_label("Reason").fill("Ticket 88: the customer's contract")
    page.get_by_label("Keys to set or remove (JSON)").fill('{"contract": "acme-2026"}')
    page.get_by_role("button", name="Preview").focus()
    page.keyboard.press("Enter")
    page.locator("#bulk-preview").wait_for(timeout=TIMEOUT_MS * 4)
    assert "Users it changes" in page.locator("#preview-counts").inner_text()
    assert '{"contract": "acme-2026"}' in page.locator("#preview-sample").inner_text()
    page.get_by_role("button", name="Request approval").click()
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.PENDING

    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, second_lead)
        approve_in(context, run_url)
        # At the tenant's pace: 16 calls a second, a read and a PATCH a user.
        run = wait_until(run.pk, BulkRunStatus.DONE, timeout=3600)
        assert run.outcomes == {"done": LISTED}
        after = app_metadata_of_everyone(list_tenant)
        assert {uid for uid, meta in after.items() if meta.get(KEY) == "acme-2026"} == set(chosen)

        page.goto(run_url)
        page.get_by_role("button", name="Undo this run").focus()
        with page.expect_navigation(url=RUN_PAGE):
            page.keyboard.press("Enter")
        undo = BulkRun.objects.get(parent=run)
        undo_url = f"{live_server.url}{BULK}/{undo.pk}/"
        assert page.url == undo_url
        page.locator("#bulk-preview").wait_for(timeout=TIMEOUT_MS * 4)
        assert "Undo of bulk run" in page.locator("#preview-counts").inner_text()
        page.get_by_role("button", name="Request approval").click()
        undo.refresh_from_db()
        assert undo.status == BulkRunStatus.PENDING
        approve_in(context, undo_url)
        undo = wait_until(undo.pk, BulkRunStatus.DONE, timeout=3600)
        assert undo.outcomes == {"done": LISTED}
        assert app_metadata_of_everyone(list_tenant) == before
    finally:
        context.close()


def test_ctrl_enter_in_the_query_box_selects_the_users(
    live_server: Any,
    page: Any,
    use_tenant: Any,  # noqa: F811
    support_lead: User,
) -> None:
    """As on the search page, Ctrl+Enter in the Lucene box presses the form's button (Enter
    starts a new line): here a query the evaluator refuses, said at its field."""
    sign_in(page.context, live_server, support_lead)
    page.goto(f"{live_server.url}{BULK}/new/")
    box = page.get_by_label("Search query (Lucene)")
    box.focus()
    page.keyboard.type("email:(a")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert "cannot select users exactly" in page.locator("#bulk-select").inner_text()
    assert not BulkRun.objects.exists()


def test_the_outcome_counts_and_skip_reasons_are_lists_without_markers(
    live_server: Any,
    page: Any,
    use_tenant: Any,  # noqa: F811
    support_lead: User,
) -> None:
    """`ul.plain` lists show no bullets: in the outcome counts' row a bullet sat over the
    count before it ("Done: 77" with a marker across its last digit)."""
    run = previewed(3)
    run.status = BulkRunStatus.DONE
    run.skip_counts = {"Already blocked": 1}
    run.save()
    sign_in(page.context, live_server, support_lead)
    page.goto(f"{live_server.url}{BULK}/{run.pk}/")
    styles = page.locator("#run-outcomes li, #skip-reasons li").evaluate_all(
        "els => els.map(e => getComputedStyle(e).listStyleType)"
    )
    assert len(styles) == 5
    assert set(styles) == {"none"}
