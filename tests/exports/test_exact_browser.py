"""In a real browser, by keyboard: a search past Auth0's 1,000-result window becomes an exact
export from the search page's "Export all matching users", run by a real Celery worker
against a real sandbox server; the pages pass axe at 390 and 1280 px and scroll no sideways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from exports.models import Export
from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.exact_exports import DATABASE, api, oracle, tenant, use_tenant  # noqa: F401 (fixtures)
from tests.fixtures.page_checks import fits_width, violations

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("fresh_cache")]


def test_from_the_search_page_to_a_file_of_exactly_the_matching_users(
    live_server: Any,
    page: Any,
    browser: Any,
    celery_worker: Any,
    use_tenant: Any,  # noqa: F811
    api: Any,  # noqa: F811
    export_admin: User,
    export_settings: Path,
    settings: Any,
) -> None:
    settings.EXPORT_LEASE_SECONDS = 5
    sign_in(page.context, live_server, export_admin)
    page.goto(
        f"{live_server.url}/t/userdesk-sandbox/users/?q=NOT+blocked:true&connection={DATABASE}"
    )
    assert "1,000+ users match" in page.locator(".result-summary").inner_text()

    # Keyboard only: the button is a link, Enter follows it.
    page.get_by_role("link", name="Export all matching users").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/new/?*")
    builder_url = page.url
    query = page.get_by_label("Only the users this search matches")
    sent = f'(NOT blocked:true) AND identities.connection:"{DATABASE}"'
    assert query.input_value() == sent
    assert "Only the users matching" in page.locator("#exact-note").inner_text()

    # Enter in the query box starts the export (the form's first button).
    query.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/*/")
    detail_url = page.url
    page.wait_for_function(
        "() => document.querySelector('#export-status [data-status]').dataset.status === 'ready'",
        polling=200,
        timeout=TIMEOUT_MS * 4,
    )
    export = Export.objects.get()
    expected = oracle(api, sent)
    assert export.matched_count == len(expected) > 1000
    stages = page.locator(".exact-stages").inner_text()
    assert f"scanned {export.scanned_count:,} users, {len(expected):,} matches" in stages
    assert "eventually consistent" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="About this file (.txt)").is_visible()

    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, export_admin)
        checked = context.new_page()
        checked.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        for width in (390, 1280):
            checked.set_viewport_size({"width": width, "height": 900})
            for url in (builder_url, detail_url):
                checked.goto(url)
                problems += [f"{url} at {width} px: {v}" for v in violations(checked)]
                if not fits_width(checked):
                    wide = checked.evaluate(
                        "() => [...document.querySelectorAll('body *')].filter(e =>"
                        " e.getBoundingClientRect().right > window.innerWidth + 1 &&"
                        " e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)"
                        ".slice(0, 5).map(e => e.outerHTML.slice(0, 150))"
                    )
                    problems.append(f"{url} scrolls sideways at {width} px: {wide}")
        assert problems == [], "\n".join(problems)
    finally:
        context.close()
