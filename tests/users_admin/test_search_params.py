"""What the search page asks Auth0 for, observed at the lowest seam (httpx.MockTransport).

The sandbox answers these requests too (test_search.py); here the exact query string
is checked: only the shown columns are requested, with the chosen sort and page size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client

from management_api import use_transport
from tests.fixtures.search import builder_params

pytestmark = pytest.mark.usefixtures("fresh_cache")

USERS = [
    {
        "user_id": "auth0|1",
        "email": "a@example.com",
        "identities": [{"connection": "db", "provider": "auth0"}],
    },
    {"user_id": "github|2", "email": "b@example.com", "identities": [{"connection": "github"}]},
]


@pytest.fixture
def seen(settings: Any) -> Iterator[list[httpx.Request]]:
    settings.AUTH0_BASE_URL = "https://tenant.example.test"
    requests: list[httpx.Request] = []

    def tenant(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        if request.url.path == "/api/v2/connections":
            return httpx.Response(200, json=[{"id": "con_1234567890abcdef", "name": "db"}])
        return httpx.Response(
            200, json={"start": 0, "limit": 25, "length": 2, "users": USERS, "total": 2}
        )

    with use_transport(httpx.MockTransport(tenant)):
        yield requests


def test_only_shown_columns_are_requested_with_sort_and_page_size(
    agent_client: Client, seen: list[httpx.Request]
) -> None:
    params = builder_params(
        {"field": "email", "op": "starts", "value": "a"},
        columns=["email", "identities"],  # type: ignore[arg-type]
        sort="last_login",
        direction="1",
        per_page="25",
        page="3",
    )
    response = agent_client.get("/t/userdesk-sandbox/users/", params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    search = next(r for r in seen if r.url.path == "/api/v2/users")
    assert dict(search.url.params) == {
        "search_engine": "v3",
        "q": "email:a*",
        "page": "3",
        "per_page": "25",
        "include_totals": "true",
        "fields": "user_id,email,identities",
        "include_fields": "true",
        "sort": "last_login:1",
    }
    html = response.content.decode()
    assert "a@example.com" in html
    assert "github" in html


def test_the_full_page_shows_builder_and_results(
    agent_client: Client, seen: list[httpx.Request]
) -> None:
    params = builder_params({"field": "email", "op": "starts", "value": "a"}, connection="db")
    response = agent_client.get("/t/userdesk-sandbox/users/", params)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<option value="db" selected>db</option>' in html
    assert "2 users match" in html
    assert 'href="/t/userdesk-sandbox/users/auth0%7C1/?from=' in html


def test_an_answer_in_place_refreshes_recent_searches_and_the_rows_in_error(
    agent_client: Client, seen: list[httpx.Request]
) -> None:
    """The results-only answer (htmx) carries, out of band, the recent searches it changed and,
    when a row is refused, the builder with the error at that row; a full page carries neither
    twice."""
    url, hx = "/t/userdesk-sandbox/users/", {"HX-Request": "true", "HX-Target": "results"}
    found = agent_client.get(
        url, builder_params({"field": "email", "op": "starts", "value": "a"}), headers=hx
    ).content.decode()
    assert '<section id="recent-searches" hx-swap-oob="true">' in found
    assert "email:a*</a>" in found
    assert 'id="builder"' not in found
    reversed_range = {"field": "logins_count", "op": "between", "value": "50", "value2": "10"}
    refused = agent_client.get(url, builder_params(reversed_range), headers=hx).content.decode()
    assert '<fieldset id="builder" class="builder stack" hx-swap-oob="true">' in refused
    assert "from 50 down to 10" in refused
    # The value in error names the row's error list (read with it by a screen reader).
    assert '<ul class="errorlist row-errors" id="c-0-errors">' in refused
    value = re.search(r'<input type="number" name="c-0-value"[^>]*>', refused)
    assert value is not None
    assert 'aria-describedby="c-0-errors"' in value.group(0)
    assert 'aria-invalid="true"' in value.group(0)
    assert 'id="recent-searches"' not in refused  # nothing was searched
    too_long = {"mode": "advanced", "q": "x" * 4001, "c-TOTAL_FORMS": "1", "c-INITIAL_FORMS": "0"}
    advanced = agent_client.get(url, too_long, headers=hx).content.decode()
    assert "4,001 characters" in advanced
    assert 'id="builder"' not in advanced  # no builder on the page to swap
    full = agent_client.get(url, builder_params(reversed_range)).content.decode()
    assert "hx-swap-oob" not in full
    assert full.count('id="builder"') == 1
