"""In a real browser, through an independent OpenID Connect provider (panva's oidc-provider).

Nothing of the flow is stood in for: chromium follows the redirects, the provider shows its own
sign-in page, and the dashboard exchanges the code, fetches the JWKS and userinfo over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from staff import audit
from staff.models import AuditEvent
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP
from staff.roles import current_roles
from tests.fixtures.browser import collect_console_errors, nav_names
from tests.fixtures.oidc_provider import PASSWORD, OIDCProvider

pytestmark = pytest.mark.browser


def recheck_due(page: Any) -> None:
    """As if OIDC_RECHECK_SECONDS had passed since the session was last checked."""
    (cookie,) = [c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    session = SessionStore(session_key=cookie["value"])
    session["oidc_id_token_expiration"] = 0
    session.save()


def sign_in_at_provider(page: Any, login: str) -> None:
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.get_by_label("Username").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")


def test_staff_sign_in_through_the_provider_roles_follow_the_claim_and_disabled_is_refused(
    live_server: Any,
    page: Any,
    idp: OIDCProvider,
    use_sandbox: Any,
    transactional_db: None,
) -> None:
    errors = collect_console_errors(page)
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))
    page.goto(f"{live_server.url}/sign-in/")
    # The provider leads; the password form is the break-glass below it.
    assert page.locator("main a, main button").first.inner_text() == "Sign in with Test IdP"

    # First sign-in: the staff member is created with the role their groups map to.
    sign_in_at_provider(page, "alice")
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/users/")
    expect(page.locator(".account")).to_contain_text("alice@example.org")
    assert nav_names(page)[0] == "Search users"
    assert "Exports" not in nav_names(page)
    alice = User.objects.get(username="alice@example.org")
    assert current_roles(alice) == {SUPPORT_GROUP}
    sign_in = AuditEvent.objects.get(action=audit.SIGN_IN, actor=alice)
    assert sign_in.details == {"method": "oidc", "provider": "Test IdP", "subject": "alice"}

    # The claim changes at the provider: at the next sign-in the role follows it.
    idp.change_account("alice", groups=["userdesk-exports"])
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/sign-in/")
    page.get_by_role("link", name="Sign in with Test IdP").click()  # the provider remembers her
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/users/")
    assert current_roles(alice) == {EXPORT_ADMIN_GROUP}
    assert "Exports" in nav_names(page)
    change = AuditEvent.objects.filter(action=audit.ROLE_CHANGED, target=alice.username).first()
    assert change is not None
    assert change.details["before"] == SUPPORT_GROUP
    assert change.details["after"] == EXPORT_ADMIN_GROUP

    # Sessions are re-checked with the provider; disabled there, she is signed out here.
    recheck_due(page)
    # Re-checked silently, still signed in.
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
    page.wait_for_url(f"{live_server.url}/t/userdesk-sandbox/exports/")
    expect(page.get_by_role("heading", name="Exports")).to_be_visible()
    assert any(url.startswith(f"{idp.issuer}/auth?") and "prompt=none" in url for url in visited)
    idp.change_account("alice", disabled=True)
    recheck_due(page)
    page.goto(f"{live_server.url}/t/userdesk-sandbox/exports/")
    page.wait_for_url(f"{live_server.url}/sign-in/")
    expect(page.get_by_role("alert")).to_contain_text("Your session at Test IdP has ended")

    # A disabled account is refused at sign-in, and no staff member is created for it.
    idp.change_account("bob", disabled=True)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/sign-in/")
    sign_in_at_provider(page, "bob")
    page.wait_for_url(f"{live_server.url}/sign-in/")
    expect(page.get_by_role("alert")).to_contain_text(
        "Test IdP refused the sign-in: This account is disabled."
    )
    assert not User.objects.filter(username="bob@example.org").exists()
    assert AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED).count() == 2
    ours = [error for error in errors if live_server.url in error or "Content Security" in error]
    assert ours == []
