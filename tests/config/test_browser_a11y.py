"""axe-core (tests/vendor/axe.min.js, 4.14.1, MPL-2.0) finds no accessibility violations on the
main pages, at both widths."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.page_checks import violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

PAGES = {
    "search": "/t/userdesk-sandbox/users/?mode=builder&c-0-field=email&c-0-op=ends"
    "&c-0-value=%40example.com",
    "search, advanced": "/t/userdesk-sandbox/users/?q=email:a*",
    "no match": "/t/userdesk-sandbox/users/?q=email:nobody%40nowhere.example",
    "lookup": "/t/userdesk-sandbox/lookup/?email=nobody@example.com",
    "exports": "/t/userdesk-sandbox/exports/",
    "new export": "/t/userdesk-sandbox/exports/new/",
    "imports": "/t/userdesk-sandbox/exports/imports/",
    "new import": "/t/userdesk-sandbox/exports/imports/new/",
    "audit log": "/t/userdesk-sandbox/audit/",
    "password": "/password/",
}


def test_main_pages_have_no_axe_violations(
    browser: Any, live_server: Any, export_admin: User, use_sandbox: Any
) -> None:
    # The user page of a seeded user with problems to show (admin-blocked, brute-force blocked,
    # unverified, MFA) and of one without an email address.
    pages = dict(PAGES)
    with use_sandbox.api() as api:
        for name, query in (
            ("user page, blocked", "blocked:true"),
            ("user page, no email", "NOT _exists_:email"),
        ):
            found = api.get(
                "/api/v2/users", params={"q": query, "search_engine": "v3", "per_page": 1}
            ).json()
            pages[name] = f"/t/userdesk-sandbox/users/{found[0]['user_id']}/"
    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, export_admin)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in pages.items():
                page.goto(live_server.url + path)
                problems += [f"{name} at {width} px: {v}" for v in violations(page)]
        assert problems == []
    finally:
        context.close()
