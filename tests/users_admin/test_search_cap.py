"""The 1,000-result window, against a sandbox tenant holding more users than that."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.fixtures.sandbox import SandboxServer, make_sandbox_server
from tests.fixtures.search import Upstream, builder_params, fragment_text

pytestmark = pytest.mark.usefixtures("fresh_cache", "big_tenant")


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = make_sandbox_server(tmp_path_factory.mktemp("big-sandbox"), users=2500, seed=11)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def big_tenant(big_sandbox: SandboxServer, settings: Any) -> SandboxServer:
    settings.AUTH0_BASE_URL = big_sandbox.base_url
    settings.AUTH0_DOMAIN = big_sandbox.domain
    settings.AUTH0_CLIENT_ID = big_sandbox.client_id
    settings.AUTH0_CLIENT_SECRET = big_sandbox.client_secret
    settings.AUTH0_AUDIENCE = big_sandbox.audience
    return big_sandbox


EVERYONE = builder_params(columns=["email", "identities"], per_page="100")  # type: ignore[arg-type]


def test_the_count_reads_1000_plus_at_the_cap_with_an_export_button(admin_client_: Client) -> None:
    html = admin_client_.get("/t/userdesk-sandbox/users/", EVERYONE).content.decode()
    text = fragment_text(html)
    assert "1,000+ users match" in text
    assert "only the first 1,000" in text
    assert "Export all matching users" in html


def test_the_export_button_carries_the_search(admin_client_: Client) -> None:
    params = {**EVERYONE, "connection": "Username-Password-Authentication"}
    html = admin_client_.get("/t/userdesk-sandbox/users/", params).content.decode()
    if "1,000+ users match" not in fragment_text(html):
        pytest.fail("the database connection should hold over 1,000 of the 2,500 users")
    link = html.split("Export all matching users")[0].rsplit('href="', 1)[1].split('"', 1)[0]
    url = urlsplit(link.replace("&amp;", "&"))
    assert url.path == "/t/userdesk-sandbox/exports/new/"
    query = parse_qs(url.query)
    assert query["connection"][0].startswith("con_")
    assert query["fields"] == ["user_id,email,identities[0].connection"]
    assert query["q"] == ['identities.connection:"Username-Password-Authentication"']


def test_support_agents_are_told_who_can_export(agent_client: Client) -> None:
    html = agent_client.get("/t/userdesk-sandbox/users/", EVERYONE).content.decode()
    assert "1,000+ users match" in fragment_text(html)
    assert "Export all matching users" not in html
    assert "Exports are run by an export admin" in html


def test_the_last_reachable_page_has_no_next(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {**EVERYONE, "page": "9"}
    ).content.decode()
    assert "Page 10 of 10" in fragment_text(html)
    assert 'rel="next"' not in html
    assert html.count("<tr>") == 101  # header + 100 users


def test_pages_past_the_window_are_refused_before_asking_auth0(agent_client: Client) -> None:
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {**EVERYONE, "page": "10"}
    ).content.decode()
    assert "only pages through the first 1,000" in html
    assert counter.searches == 0


def test_an_exact_count_under_the_cap(agent_client: Client, tmp_path: Path) -> None:
    params = builder_params(
        {"field": "identities.connection", "op": "is", "value": "acme-saml"}, per_page="10"
    )
    text = fragment_text(agent_client.get("/t/userdesk-sandbox/users/", params).content.decode())
    assert "1,000+" not in text
    assert " users match" in text


def test_numbered_page_links_stop_at_the_1000_window(agent_client: Client) -> None:
    import re

    params = builder_params(per_page="10", page="97")
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", params, HTTP_HX_REQUEST="true"
    ).content.decode()
    numbers = re.findall(r'<span class="visually-hidden">Page </span>(\d+)</', html)
    assert numbers == ["1", "96", "97", "98", "99", "100"]  # 1,000 reachable, 10 a page
    assert "page=100" not in html
