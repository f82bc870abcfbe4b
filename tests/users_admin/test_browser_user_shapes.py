"""Every shape of user the sandbox seeds opens on the user page at 390 and 1,280 px: axe-clean,
no sideways scroll, no console error, and no request leaving for another host."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.contrib.auth.models import User

from tests.fixtures.browser import TIMEOUT_MS, ConsoleErrors, sign_in
from tests.fixtures.page_checks import violations
from tests.fixtures.support_cases import brute_force_blocked, mfa_enrolled, with_devices

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "use_sandbox"),
]

# Each shape by the search that finds one in the seeded tenant.
SHAPES = {
    "blocked by an admin": "blocked:true",
    "no email": "NOT _exists_:email",
    "unverified database user": (
        'email_verified:false AND identities.connection:"Username-Password-Authentication"'
    ),
    "Google": 'identities.connection:"google-oauth2"',
    "GitHub": "identities.connection:github",
    "SAML": 'identities.connection:"acme-saml"',
    "never signed in": "NOT _exists_:last_login",
    "phone number": "_exists_:phone_number",
    "addresses in user_metadata": "_exists_:user_metadata.addresses",
    "script in the name": "name:*script*",
}


def shape_pages(use_sandbox: Any) -> dict[str, str]:
    ids: dict[str, str] = {}
    with use_sandbox.api() as api:
        for shape, query in SHAPES.items():
            found = api.get(
                "/api/v2/users", params={"q": query, "search_engine": "v3", "per_page": 1}
            ).json()
            assert found, f"the seed has no user {shape} ({query})"
            ids[shape] = found[0]["user_id"]
    for shape, pick in (
        ("brute-force blocked", brute_force_blocked),
        ("MFA enrolled", mfa_enrolled),
        ("signed in on devices", with_devices),
    ):
        ids[shape] = pick(use_sandbox)[0]["user_id"]
    return {
        shape: f"/t/userdesk-sandbox/users/{quote(user_id, safe='')}/"
        for shape, user_id in ids.items()
    }


def test_every_seeded_user_shape_opens_cleanly(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: Any
) -> None:
    pages = shape_pages(use_sandbox)
    context = browser.new_context(bypass_csp=True)
    try:
        sign_in(context, live_server, support_lead)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        console = ConsoleErrors(page)
        own = urlsplit(live_server.url).netloc
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: elsewhere.append(r.url) if urlsplit(r.url).netloc != own else None,
        )
        problems: list[str] = []
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            for shape, path in pages.items():
                response = page.goto(live_server.url + path)
                assert response is not None, (shape, path)
                assert response.status == 200, (shape, path)
                wide = page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    problems.append(f"{shape} at {width} px: {wide} px wide")
                problems += [f"{shape} at {width} px: {v}" for v in violations(page)]
        assert problems == []
        assert elsewhere == []
        assert console.errors == []
    finally:
        context.close()
