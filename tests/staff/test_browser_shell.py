"""In a real browser: sign in through the form, see the navigation, sign out."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP
from tests.fixtures.browser import collect_console_errors, nav_names
from tests.fixtures.personas import PASSWORD, make_staff

pytestmark = pytest.mark.browser


def test_export_admin_signs_in_sees_the_navigation_and_signs_out(
    live_server: Any, page: Any, transactional_db: None
) -> None:
    make_staff("admin@example.com", EXPORT_ADMIN_GROUP)
    errors = collect_console_errors(page)

    page.goto(f"{live_server.url}/t/userdesk-sandbox/audit/")
    assert page.url == f"{live_server.url}/sign-in/?next=/t/userdesk-sandbox/audit/"
    page.get_by_label("Email address").fill("Admin@Example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/audit/")
    assert page.get_by_role("heading", name="Audit log").is_visible()
    names = nav_names(page)
    assert names[0] == "Search users"
    assert names[-2:] == ["Exports", "Audit log"]
    assert page.locator('nav.nav a[aria-current="page"]').inner_text().strip() == "Audit log"
    assert "admin@example.com" in page.locator(".account").inner_text()

    # The first Tab reaches the skip link, so keyboard users can jump over the navigation.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/sign-in/")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    # No Content-Security-Policy violation or script error on any page.
    assert errors == []


def test_support_agent_sees_only_search_and_a_refusal_for_exports(
    live_server: Any, page: Any, transactional_db: None
) -> None:
    make_staff("agent@example.com", SUPPORT_GROUP)
    page.goto(f"{live_server.url}/sign-in/")
    page.get_by_label("Email address").fill("agent@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url(lambda url: "/sign-in/" not in url)
    assert "Exports" not in nav_names(page)
    assert "Audit log" not in nav_names(page)

    response = page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
    assert response.status == 403
    assert page.get_by_role("heading", name="You don't have access to this page").is_visible()


def test_wrong_password_keeps_the_visitor_on_the_form(
    live_server: Any, page: Any, transactional_db: None
) -> None:
    User.objects.create_user("agent@example.com", password=PASSWORD)
    page.goto(f"{live_server.url}/sign-in/")
    page.get_by_label("Email address").fill("agent@example.com")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("That email address and password do not match").is_visible()
    assert page.url.startswith(f"{live_server.url}/sign-in/")


def test_django_admin_works_under_the_csp_for_a_superuser(
    live_server: Any, page: Any, transactional_db: None
) -> None:
    root = User.objects.create_superuser("root@example.com", "root@example.com", PASSWORD)
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # The admin has no sign-in of its own: Userdesk's (audited), then back to the admin.
    page.goto(f"{live_server.url}/django-admin/login/")
    page.wait_for_url(f"{live_server.url}/sign-in/?next=/django-admin/")
    page.get_by_label("Email address").fill("root@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/django-admin/")
    page.goto(f"{live_server.url}/django-admin/auth/user/{root.pk}/change/")
    assert page.get_by_role("heading", name="Change user").is_visible()
    page.goto(f"{live_server.url}/django-admin/staff/auditevent/")
    assert page.get_by_role("heading", name="Select audit event to view").is_visible()
    assert violations == []
