"""The tenant band and switcher in a browser: at 390 and 1280 px the band
names the tenant and its environment (PRODUCTION unmistakable), the switcher opens the same kind
of page on the other tenant, nothing overflows, and axe finds no violations."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User

from management_api import Tenant
from staff.models import AuditEvent, TenantRole
from staff.permissions import SUPPORT_GROUP, SUPPORT_LEAD_GROUP
from tests.fixtures.browser import TIMEOUT_MS, sign_in
from tests.fixtures.page_checks import violations
from tests.fixtures.personas import make_staff, role_group

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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


def test_each_tenant_seen_guarded_and_looked_up_across_as_staff_would(
    page: Any,
    live_server: Any,
    support_lead: User,
    two_tenants: tuple[Tenant, Tenant],
    fresh_user: dict[str, Any],
    staging_server: Any,
    settings: Any,
) -> None:
    """A member with Support on staging alone sees staging only, and a colleague's link to a
    staging user opens that user in staging's colour; a lead's lookup across tenants lists an
    address present on both; deleting on production asks for the tenant's name, at the field,
    and Enter sends the form."""
    from playwright.sync_api import expect

    settings.USERDESK_ALLOW_USER_DELETE = True
    email, prod_id = fresh_user["email"], fresh_user["user_id"]
    (line,) = staging_server.manage("sandbox_add_users", email).stdout.splitlines()
    staging_id = json.loads(line)["user_id"]
    url = live_server.url

    member = make_staff("staging.only@example.com", None)
    TenantRole.objects.create(user=member, tenant="staging", group=role_group(SUPPORT_GROUP))
    sign_in(page.context, live_server, member)
    page.goto(f"{url}/")
    page.wait_for_url(f"{url}/t/staging/**")
    expect(page.locator(".tenant-switch")).to_have_count(0)  # production is not offered
    page.goto(f"{url}/t/staging/users/{quote(staging_id, safe='')}/")  # a colleague's link
    band = page.locator(".tenant-band")
    expect(band).to_have_class(re.compile(r"\btenant-staging\b"))
    assert band.inner_text().split() == ["Staging", "STAGING"]
    expect(page.locator("main")).to_contain_text(email)

    page.context.clear_cookies()
    sign_in(page.context, live_server, support_lead)
    page.goto(f"{url}/t/staging/lookup/")
    page.get_by_role("textbox", name="Email address").fill(email)
    page.locator("input[name=every_tenant]").check()
    page.get_by_role("textbox", name="Email address").press("Enter")
    expect(page.locator("section[aria-labelledby=tenant-lookup-prod]")).to_contain_text(email)
    expect(page.locator("section[aria-labelledby=tenant-lookup-staging]")).to_contain_text(email)
    prod_link = page.locator(
        f"section[aria-labelledby=tenant-lookup-prod] a[href*='{quote(prod_id, safe='')}']"
    )
    prod_link.first.click()
    page.wait_for_url(f"{url}/t/prod/users/**")

    page.get_by_role("link", name="Delete this user").first.click()
    panel = page.locator("#action-panel")
    expect(panel.get_by_label("Type the tenant's name, Prod, to confirm")).to_be_visible()
    panel.get_by_label("Reason").fill("Ticket 42: asked to be forgotten")
    panel.get_by_label("Type the user's id to confirm").fill(prod_id)
    panel.get_by_label("Type the user's id to confirm").press("Enter")
    expect(panel).to_contain_text("Type Prod to confirm, on production.")
    assert AuditEvent.objects.filter(action="users.delete").count() == 0
    name = panel.get_by_label("Type the tenant's name, Prod, to confirm")
    name.fill("Prod")
    name.press("Enter")
    expect(panel.locator(".outcome")).to_be_visible()
    assert AuditEvent.objects.get(action="users.delete").target == prod_id
    with staging_server.api() as api:  # the same address on staging is untouched
        kept = api.get(f"/api/v2/users/{quote(staging_id, safe='')}")
    assert kept.status_code == 200


def test_an_action_refused_after_the_page_loaded_says_why_in_the_page(
    browser: Any, live_server: Any, two_tenants: tuple[Tenant, Tenant], fresh_user: dict[str, Any]
) -> None:
    """A tab left open while the member lost their role on the tenant: the action's htmx post
    is refused (403), and the page shows the refusal instead of doing nothing."""
    from playwright.sync_api import expect

    member = make_staff("prod.lead@example.com", None)
    role = TenantRole.objects.create(
        user=member, tenant="prod", group=role_group(SUPPORT_LEAD_GROUP)
    )
    context = browser.new_context()
    try:
        sign_in(context, live_server, member)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        # The browser logs the refused request itself; nothing else may be logged.
        logged = []
        page.on("console", lambda m: logged.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/t/prod/users/{quote(fresh_user['user_id'], safe='')}/")
        page.get_by_role("link", name="Block this user").first.click()
        reason = page.locator("#action-panel").get_by_label("Reason")
        expect(reason).to_be_visible()
        role.delete()
        reason.fill("Ticket 7: compromised")
        reason.press("Enter")
        expect(page.locator("main h1")).to_have_text("You don't have access to this page")
        expect(page.locator("main")).to_contain_text("ask an administrator to change your role")
        assert [text for text in logged if "403" not in text] == []
        assert len(logged) == 1, logged
    finally:
        context.close()
    assert not AuditEvent.objects.filter(action="users.block").exists()
