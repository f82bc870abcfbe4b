"""OIDC sign-in against the sandbox tenant as the provider, a real HTTP server.

The test client plays the dashboard's side; an httpx client with a cookie jar plays the browser
at the provider (the sandbox's sign-in page). The code exchange, the JWKS lookup and userinfo
go from the dashboard to the sandbox over HTTP, as in `make run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox import oidc as sandbox_oidc
from staff import audit
from staff.models import AuditEvent, StaffIdentity
from staff.oidc import forget_discovery
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP
from staff.roles import current_roles, ensure_roles
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fixtures.client_addresses import an_address
from tests.fixtures.personas import PASSWORD, make_staff
from tests.fixtures.sandbox import SandboxServer

SUPPORT = "auth0|staff-support"
EXPORTS = "auth0|staff-exports"
VISITOR = "auth0|staff-visitor"
BLOCKED = "auth0|staff-blocked"
HOST = "localhost"


@pytest.fixture
def provider(use_sandbox: SandboxServer, settings: Any, db: None) -> Iterator[str]:
    issuer = f"{use_sandbox.base_url}/"
    settings.OIDC_ISSUER = issuer
    settings.OIDC_PROVIDER_NAME = "Auth0 (sandbox)"
    settings.OIDC_RP_CLIENT_ID = sandbox_oidc.CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = sandbox_oidc.CLIENT_SECRET
    settings.OIDC_ROLE_MAP = {
        "userdesk-support": SUPPORT_GROUP,
        "userdesk-exports": EXPORT_ADMIN_GROUP,
    }
    ensure_roles()
    forget_discovery()
    yield issuer
    forget_discovery()


def start(client: Client) -> str:
    """Press "Sign in with ...": the URL of the provider's authorize page."""
    response = client.get("/sign-in/oidc/")
    assert response.status_code == 302
    return str(response["Location"])


def pick_identity(browser: httpx.Client, authorize_url: str, sub: str) -> str:
    """At the sandbox's sign-in page, choose `sub` and continue: the callback URL it sends to."""
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    params = {name: values[0] for name, values in parse_qs(urlsplit(authorize_url).query).items()}
    answer = browser.post(authorize_url.split("?")[0], data={**params, "identity": sub})
    assert answer.status_code == 302, answer.text
    return str(answer.headers["location"])


def callback(client: Client, url: str) -> Any:
    parts = urlsplit(url)
    assert parts.path == "/sign-in/oidc/callback/"
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: Client, sub: str, browser: httpx.Client | None = None) -> Any:
    with httpx.Client() if browser is None else _keep(browser) as at_provider:
        return callback(client, pick_identity(at_provider, start(client), sub))


class _keep:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __enter__(self) -> httpx.Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        return None


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_the_sign_in_page_leads_with_the_provider(provider: str) -> None:
    html = Client().get("/sign-in/").content.decode()
    assert "Sign in with Auth0 (sandbox)" in html
    assert html.index("Sign in with Auth0 (sandbox)") < html.index('name="password"')


def test_the_authorize_request_carries_state_nonce_and_a_pkce_challenge(provider: str) -> None:
    url = start(Client(HTTP_HOST=HOST))
    assert url.startswith(f"{provider}authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [sandbox_oidc.CLIENT_ID]
    assert query["redirect_uri"] == [f"http://{HOST}/sign-in/oidc/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32


def test_first_sign_in_creates_the_staff_member_with_the_mapped_role(provider: str) -> None:
    client = Client(HTTP_HOST=HOST)
    response = sign_in(client, SUPPORT)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(username="support@userdesk.local")
    assert current_roles(user) == {SUPPORT_GROUP}
    assert not user.has_usable_password()
    page = client.get("/t/userdesk-sandbox/users/")
    assert page.status_code == 200
    # No password to change: the top bar does not offer it.
    assert 'href="/password/"' not in page.content.decode()
    assert client.get("/t/userdesk-sandbox/exports/").status_code == 403
    (event,) = events(audit.SIGN_IN)
    assert event.actor == user
    assert event.details == {"method": "oidc", "provider": "Auth0 (sandbox)", "subject": SUPPORT}
    (change,) = events(audit.ROLE_CHANGED)
    assert change.details["source"] == "claim"
    assert change.details["after"] == SUPPORT_GROUP


def test_the_first_sign_in_binds_the_subject_and_later_ones_find_the_member_by_it(
    provider: str,
) -> None:
    assert sign_in(Client(HTTP_HOST=HOST), SUPPORT).status_code == 302
    (identity,) = StaffIdentity.objects.all()
    assert (identity.user.username, identity.issuer, identity.subject) == (
        "support@userdesk.local",
        provider,
        SUPPORT,
    )
    (bound,) = events(audit.IDENTITY_BOUND)
    assert bound.details == {"provider": "Auth0 (sandbox)", "subject": SUPPORT}
    # The member was renamed in Userdesk: the subject still finds them, their email follows
    # the provider's, and no second account appears.
    User.objects.filter(pk=identity.user_id).update(username="s.agent@userdesk.local")
    client = Client(HTTP_HOST=HOST)
    assert sign_in(client, SUPPORT).status_code == 302
    user = User.objects.get(pk=identity.user_id)
    assert (user.username, user.email) == ("s.agent@userdesk.local", "support@userdesk.local")
    assert not User.objects.filter(username="support@userdesk.local").exists()
    assert client.get("/t/userdesk-sandbox/users/").status_code == 200
    assert len(events(audit.IDENTITY_BOUND)) == 1


def test_an_account_bound_to_another_subject_is_not_opened_by_its_email(provider: str) -> None:
    """The provider gave the address to someone else (a re-created account, a reused alias)."""
    owner = make_staff("support@userdesk.local", SUPPORT_GROUP)
    StaffIdentity.objects.create(user=owner, issuer=provider, subject="auth0|the-first-owner")
    client = Client(HTTP_HOST=HOST)
    response = sign_in(client, SUPPORT)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")
    page = client.get(response["Location"]).content.decode()
    assert "belongs to another account at Auth0 (sandbox)" in page
    assert client.get("/t/userdesk-sandbox/users/").status_code == 302
    assert not events(audit.SIGN_IN)
    assert StaffIdentity.objects.get(user=owner).subject == "auth0|the-first-owner"


def test_the_role_follows_the_claim_at_every_sign_in(provider: str) -> None:
    make_staff("support@userdesk.local", EXPORT_ADMIN_GROUP)
    client = Client(HTTP_HOST=HOST)
    assert sign_in(client, SUPPORT).status_code == 302
    user = User.objects.get(username="support@userdesk.local")
    assert current_roles(user) == {SUPPORT_GROUP}
    (change,) = events(audit.ROLE_CHANGED)
    assert change.details["before"] == EXPORT_ADMIN_GROUP
    assert change.details["after"] == SUPPORT_GROUP
    assert change.target == "support@userdesk.local"

    assert sign_in(Client(HTTP_HOST=HOST), EXPORTS).status_code == 302
    both = User.objects.get(username="exports@userdesk.local")
    assert current_roles(both) == {SUPPORT_GROUP, EXPORT_ADMIN_GROUP}


def test_no_role_in_the_claim_is_refused_and_ends_an_existing_members_access(
    provider: str,
) -> None:
    client = Client(HTTP_HOST=HOST)
    response = sign_in(client, VISITOR)
    assert response["Location"] == "/sign-in/"
    assert not User.objects.filter(username="visitor@userdesk.local").exists()
    page = client.get("/sign-in/").content.decode()
    assert "grants no Userdesk role" in page

    # A member whose claim lost its role: their open sessions lose access at once.
    member = make_staff("visitor@userdesk.local", SUPPORT_GROUP)
    already_in = Client()
    already_in.force_login(member)
    assert already_in.get("/t/userdesk-sandbox/users/").status_code == 200
    sign_in(Client(HTTP_HOST=HOST), VISITOR)
    assert current_roles(member) == set()
    assert already_in.get("/t/userdesk-sandbox/users/").status_code == 403
    failures = events(audit.SIGN_IN_FAILED)
    assert [event.details["method"] for event in failures] == ["oidc", "oidc"]
    assert "no longer grants a Userdesk role" in failures[1].details["reason"]
    (change,) = events(audit.ROLE_CHANGED)
    assert change.details["after"] == "(none)"


def test_a_blocked_account_is_refused_by_the_provider(provider: str) -> None:
    client = Client(HTTP_HOST=HOST)
    response = sign_in(client, BLOCKED)
    assert response["Location"] == "/sign-in/"
    assert "refused the sign-in: user is blocked" in client.get("/sign-in/").content.decode()
    assert not User.objects.filter(username="blocked@userdesk.local").exists()
    (failure,) = events(audit.SIGN_IN_FAILED)
    assert failure.details["error"] == "unauthorized"


def test_a_callback_this_browser_did_not_start_is_refused(provider: str) -> None:
    # From an address of its own: such callbacks are audited a bounded number of times per
    # address, counted in a cache other tests may share (Redis).
    client = Client(HTTP_HOST=HOST, REMOTE_ADDR=an_address())
    with httpx.Client() as browser:
        url = pick_identity(browser, start(Client(HTTP_HOST=HOST)), SUPPORT)
    start(client)  # this browser has a sign-in of its own in progress, with another state
    response = callback(client, url)
    assert response["Location"] == "/sign-in/"
    assert not User.objects.filter(username="support@userdesk.local").exists()
    assert "not started in this browser" in events(audit.SIGN_IN_FAILED)[0].details["reason"]


def test_a_code_is_used_once(provider: str) -> None:
    client = Client(HTTP_HOST=HOST)
    with httpx.Client() as browser:
        url = pick_identity(browser, start(client), SUPPORT)
    query = parse_qs(urlsplit(url).query)
    body = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "client_id": sandbox_oidc.CLIENT_ID,
        "client_secret": sandbox_oidc.CLIENT_SECRET,
        "redirect_uri": f"http://{HOST}/sign-in/oidc/callback/",
    }
    # Without the PKCE verifier the sandbox refuses the code; the real callback then fails too.
    refused = httpx.post(f"{provider}oauth/token", data=body)
    assert refused.status_code == 403
    assert refused.json()["error"] == "invalid_grant"
    assert callback(client, url)["Location"] == "/sign-in/"


def recheck_due(client: Client) -> None:
    """As if OIDC_RECHECK_SECONDS had passed since the last check with the provider."""
    session = client.session
    session["oidc_id_token_expiration"] = 0
    session.save()


def test_the_session_is_rechecked_and_ends_when_the_provider_has_no_session(
    provider: str,
) -> None:
    client = Client(HTTP_HOST=HOST)
    with httpx.Client() as browser:
        assert sign_in(client, SUPPORT, browser).status_code == 302
        assert client.get("/t/userdesk-sandbox/users/").status_code == 200
        recheck_due(client)
        recheck = client.get("/t/userdesk-sandbox/users/")
        assert recheck.status_code == 302
        location = str(recheck["Location"])
        assert location.startswith(f"{provider}authorize?")
        assert parse_qs(urlsplit(location).query)["prompt"] == ["none"]
        # The provider still knows this browser: a code comes back and the session goes on.
        answer = browser.get(location)
        assert answer.status_code == 302
        assert (
            callback(client, answer.headers["location"])["Location"] == "/t/userdesk-sandbox/users/"
        )
    assert "_auth_user_id" in client.session
    assert (
        client.get("/t/userdesk-sandbox/users/").status_code == 200
    )  # checked: not due again for a while

    # The htmx request of a page whose re-check is due is sent there by HX-Redirect.
    recheck_due(client)
    hx = client.get("/t/userdesk-sandbox/users/", HTTP_HX_REQUEST="true")
    assert hx.status_code == 200
    assert hx["HX-Redirect"].startswith(f"{provider}authorize?")

    # A browser the provider no longer knows (signed out, account gone): login_required.
    location = str(client.get("/t/userdesk-sandbox/users/")["Location"])
    with httpx.Client() as stranger:
        answer = stranger.get(location)
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["login_required"]
    assert callback(client, answer.headers["location"])["Location"] == "/sign-in/"
    assert "_auth_user_id" not in client.session
    assert client.get("/t/userdesk-sandbox/users/").status_code == 302
    assert len(events(audit.SIGN_OUT)) == 1


def test_password_sign_in_can_be_switched_off(provider: str, settings: Any) -> None:
    make_staff("agent@example.com", SUPPORT_GROUP)
    password_client = Client()
    signed_in = password_client.post(
        "/sign-in/", {"username": "agent@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    assert password_client.get("/t/userdesk-sandbox/users/").status_code == 200

    settings.PASSWORD_SIGN_IN = False
    # The session the password opened ends at once.
    assert password_client.get("/t/userdesk-sandbox/users/").status_code == 302
    page = Client().get("/sign-in/").content.decode()
    assert "Sign in with Auth0 (sandbox)" in page
    assert 'name="password"' not in page
    refused = Client().post("/sign-in/", {"username": "agent@example.com", "password": PASSWORD})
    assert refused.status_code == 200
    assert "Password sign-in is switched off" in refused.content.decode()


def test_an_unreachable_provider_is_a_message_and_passwords_still_work(
    provider: str, settings: Any
) -> None:
    from tests.fixtures.processes import free_port

    settings.OIDC_ISSUER = f"http://127.0.0.1:{free_port()}/"
    client = Client()
    response = client.get("/sign-in/oidc/", follow=True)
    assert "could not be reached" in response.content.decode()
    make_staff("agent@example.com", SUPPORT_GROUP)
    signed_in = client.post("/sign-in/", {"username": "agent@example.com", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert events(audit.SIGN_IN)[0].details == {"method": "password"}


def test_the_sandbox_still_grants_client_credentials_on_the_same_endpoint(
    provider: str, sandbox_server: SandboxServer
) -> None:
    assert sandbox_server.token()
    configuration = httpx.get(f"{provider}.well-known/openid-configuration").json()
    assert configuration["issuer"] == provider
    keys = httpx.get(configuration["jwks_uri"]).json()["keys"]
    assert [(key["kty"], key["alg"]) for key in keys] == [("RSA", "RS256")]


def test_a_role_map_naming_an_unknown_role_fails_the_checks(settings: Any) -> None:
    from django.core.checks import run_checks

    settings.OIDC_ROLE_MAP = {"userdesk-support": SUPPORT_GROUP, "admins": "Superhero"}
    errors = [error for error in run_checks() if error.id == "staff.E001"]
    assert len(errors) == 1
    assert "Superhero" in errors[0].msg


def test_a_deleted_role_group_is_recreated_when_a_claim_grants_it(provider: str) -> None:
    from django.contrib.auth.models import Group

    Group.objects.filter(name=SUPPORT_GROUP).delete()
    client = Client(HTTP_HOST=HOST)
    sign_in(client, SUPPORT)
    assert current_roles(User.objects.get(username="support@userdesk.local")) == {SUPPORT_GROUP}
    assert client.get("/t/userdesk-sandbox/users/").status_code == 200


@pytest.mark.browser
def test_the_sandbox_sign_in_page_asks_for_nothing_the_sandbox_lacks(
    provider: str, browser: Any
) -> None:
    """`make run`'s "Sign in with Auth0 (sandbox)" page names its icon (none) itself, so the
    browser probes no /favicon.ico, which the sandbox answers 404: a console error on the way
    in. A browser of its own: a browser probes a host's icon once."""
    fresh = browser.browser_type.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        page = fresh.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(start(Client(HTTP_HOST=HOST)))
        page.wait_for_load_state("networkidle")
        assert page.get_by_role("button", name="Continue").is_visible()
        assert errors == []
    finally:
        fresh.close()
