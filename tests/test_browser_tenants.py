"""The tenant band and switcher in a browser: at 390 and 1280 px the band
names the tenant and its environment (PRODUCTION unmistakable), the switcher opens the same kind
of page on the other tenant, nothing overflows, and axe finds no violations."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from management_api import Tenant
from tests import test_tenants
from tests.fixtures.browser import TIMEOUT_MS
from tests.test_browser_a11y import violations
from tests.test_browser_search import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

staging_server = test_tenants.staging_server
two_tenants = test_tenants.two_tenants


def test_the_band_and_switcher_at_both_widths(
    browser: Any, live_server: Any, support_lead: User, two_tenants: tuple[Tenant, Tenant]
) -> None:
    context = browser.new_context(bypass_csp=True)  # for axe alone, as in test_browser_a11y
    try:
        sign_in(context, live_server, support_lead)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_server.url}/t/staging/lookup/")
            band = page.locator(".tenant-band")
            assert band.inner_text().split() == ["Staging", "STAGING"]
            problems += [f"staging at {width} px: {v}" for v in violations(page)]

            page.locator(".tenant-switch summary").click()
            problems += [f"switcher open at {width} px: {v}" for v in violations(page)]
            page.get_by_role("link", name="Prod PRODUCTION").click()
            page.wait_for_url(f"{live_server.url}/t/prod/lookup/")  # the same kind of page
            band = page.locator(".tenant-band.production")
            assert "PRODUCTION" in band.inner_text()
            assert "Prod" in band.inner_text()
            assert band.bounding_box()["height"] >= 30
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{width} px: the page scrolls sideways by {overflow} px"
            problems += [f"production at {width} px: {v}" for v in violations(page)]

            page.goto(f"{live_server.url}/users/")  # the chooser
            assert page.get_by_role("link", name="Staging STAGING").is_visible()
            problems += [f"chooser at {width} px: {v}" for v in violations(page)]
        assert problems == []
    finally:
        context.close()
