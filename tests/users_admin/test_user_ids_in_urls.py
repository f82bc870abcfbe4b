"""A user id holding `/../` (a custom database, an import, a SAML NameID) is one URL segment.

Left as it was, `/users/auth0|a/../b/` reached the browser with its slashes, and the browser
collapsed the dot segments: links and action forms targeted another user. Each test below
creates such a user in the sandbox (`POST /api/v2/users` with a `user_id`) beside `auth0|b`,
the "other" user, who must stay untouched.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import resolve, reverse

from tests.fixtures.sandbox import SandboxServer, make_sandbox_server

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

DOTTED = "auth0|a/../b"
OTHER = "auth0|b"
REASON = "Ticket 2207: the id with dot segments"
# A URL that carries a user id (the search page, `/users/` and `/users/?...`, carries none).
USER_URL = re.compile(
    r'(?:href|action|hx-get|hx-post)="([^"]*/(?:users|actions|timeline)/[^"?][^"]*)"'
)


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    # A tenant of this module's own (its users are blocked here), searchable at once.
    server = make_sandbox_server(
        tmp_path_factory.mktemp("sandbox-user-ids"), users=20, SANDBOX_SEARCH_LAG_SECONDS="0"
    )
    try:
        with server.api() as api:
            for local_id, email in (("a/../b", "dotted@example.com"), ("b", "other@example.com")):
                created = api.post(
                    "/api/v2/users",
                    json={
                        "connection": "Username-Password-Authentication",
                        "user_id": local_id,
                        "email": email,
                        "password": "correct horse battery staple",
                    },
                )
                assert created.status_code == 201, created.text
        yield server
    finally:
        server.stop()


def blocked(server: SandboxServer, user_id: str) -> bool:
    with server.api() as api:
        answer = api.get("/api/v2/users", params={"q": f'user_id:"{user_id}"'})
        (profile,) = answer.json()
        return bool(profile.get("blocked"))


def target(url: str) -> tuple[str, str]:
    """The view and user id a URL reaches, as a server decodes its path once."""
    match = resolve(unquote(urlsplit(url).path))
    return str(match.view_name), str(match.kwargs.get("user_id"))


@pytest.mark.parametrize("user_id", [DOTTED, "samlp|corp|x/../../exports", "..", ".", "a%2Fb"])
def test_every_user_url_is_one_segment_that_decodes_to_the_id(user_id: str) -> None:
    for name, args in (
        ("users_admin:detail", [user_id]),
        ("users_admin:timeline", [user_id]),
        ("users_admin:action", ["block", user_id]),
    ):
        url = reverse(name, args=args)
        assert not {".", ".."} & set(url.split("/")), url
        assert target(url) == (name, user_id)


def test_an_ordinary_id_keeps_its_url() -> None:
    assert (
        reverse("users_admin:detail", args=["auth0|123"])
        == "/t/userdesk-sandbox/users/auth0%7C123/"
    )


def test_the_user_page_and_its_action_forms_name_the_dotted_id(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    page = lead_client.get(reverse("users_admin:detail", args=[DOTTED]))
    assert page.status_code == 200
    urls = USER_URL.findall(page.content.decode())
    assert len(urls) >= 3
    for url in urls:
        assert "/../" not in url
        assert target(url.replace("&amp;", "&"))[1] == DOTTED

    panel = lead_client.get(reverse("users_admin:action", args=["block", DOTTED]))
    html = panel.content.decode()
    assert f'<input type="hidden" name="user_id" value="{DOTTED}">' in html
    assert f'Acts on user <strong class="mono">{DOTTED}</strong>' in html
    for url in USER_URL.findall(html):
        assert target(url)[1] == DOTTED


def test_an_action_posted_for_another_user_than_the_page_is_refused(
    lead_client: Client, use_sandbox: SandboxServer
) -> None:
    url = reverse("users_admin:action", args=["block", OTHER])
    token = "6f1c1a7e-8a43-4bb2-9c3e-1d2a5e0c9b11"
    refused = lead_client.post(url, {"token": token, "reason": REASON, "user_id": DOTTED})
    assert refused.status_code == 400
    assert "Nothing was done: this form was for user" in refused.content.decode()
    fields = {"token": token, "reason": REASON, "user_id": DOTTED}
    in_panel = lead_client.post(url, fields, HTTP_HX_REQUEST="true")
    assert in_panel.status_code == 200  # htmx swaps only a 2xx into the panel
    assert "Nothing was done" in in_panel.content.decode()
    assert not blocked(use_sandbox, OTHER)
    assert not blocked(use_sandbox, DOTTED)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_dotted_user_is_opened_and_acted_on_and_the_other_stays_untouched(
    browser: Any, live_server: Any, support_lead: User, use_sandbox: SandboxServer
) -> None:
    from playwright.sync_api import expect

    from tests.fixtures.browser import sign_in

    context = browser.new_context()
    sign_in(context, live_server, support_lead)
    page = context.new_page()
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request))

    page.goto(
        f"{live_server.url}/t/userdesk-sandbox/users/?mode=advanced&q=email:dotted@example.com"
    )
    page.get_by_role("link", name=f"Details of {DOTTED}").click()
    expect(page.locator("h1")).to_be_visible()
    assert target(page.url) == ("users_admin:detail", DOTTED)
    # Every link of the page, as the browser resolved it, reaches the same user.
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    user_links = [href for href in hrefs if re.search(r"/(users|actions|timeline)/[^?]", href)]
    assert user_links
    for href in user_links:
        assert target(href)[1] == DOTTED, href

    page.get_by_role("link", name="Block this user").click()
    panel = page.locator("#action-panel")
    expect(panel).to_contain_text(f"Acts on user {DOTTED}")
    action = panel.locator("form").evaluate("form => form.action")
    assert target(action) == ("users_admin:action", DOTTED)
    panel.get_by_label("Reason").fill(REASON)
    panel.get_by_role("button", name="Block").click()
    expect(panel.locator(".outcome")).to_contain_text("Blocked")

    (post,) = [request for request in sent if request.method == "POST"]
    assert target(post.url) == ("users_admin:action", DOTTED)
    assert "user_id=auth0%7Ca%2F..%2Fb" in str(post.post_data)
    assert blocked(use_sandbox, DOTTED)
    assert not blocked(use_sandbox, OTHER)
    context.close()


@pytest.mark.django_db(transaction=True)
def test_under_waitress_the_encoded_id_reaches_the_same_user(
    support_lead: User, use_sandbox: SandboxServer
) -> None:
    """waitress, the production server, decodes `%2F` before routing, like the dev server."""
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        client = Client()
        client.force_login(support_lead)
        cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
        base = f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
        for view, args in (
            ("detail", [DOTTED]),
            ("timeline", [DOTTED]),
            ("action", ["block", DOTTED]),
        ):
            url = base + reverse(f"users_admin:{view}", args=args)
            page = httpx.get(url, cookies=cookies)
            assert page.status_code == 200, (url, page.status_code)
            assert DOTTED in page.text
        detail = httpx.get(base + reverse("users_admin:detail", args=[DOTTED]), cookies=cookies)
        assert "dotted@example.com" in detail.text
        assert "other@example.com" not in detail.text
    finally:
        server.close()
