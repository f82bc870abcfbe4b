"""The search page through HTTP, against the sandbox tenant running as a real server."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.search import Upstream, builder_params, fragment_text

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

HX = {"HX-Request": "true"}
EXAMPLE_COM = {"field": "email", "op": "ends", "value": "@example.com"}


def result_rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def test_every_page_is_closed_to_outsiders(outsider_client: Client) -> None:
    for url in (
        "/t/userdesk-sandbox/users/",
        "/t/userdesk-sandbox/lookup/",
        "/t/userdesk-sandbox/users/auth0|abc/",
    ):
        assert outsider_client.get(url).status_code == 403


def test_export_admins_search_too(admin_client_: Client) -> None:
    response = admin_client_.get("/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM))
    assert response.status_code == 200
    assert result_rows(response.content.decode())


def test_the_empty_page_shows_the_builder_without_asking_auth0(agent_client: Client) -> None:
    counter = Upstream()
    response = agent_client.get("/t/userdesk-sandbox/users/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="builder"' in html
    assert 'name="c-0-field"' in html
    assert "eventually consistent" in html
    assert 'href="/t/userdesk-sandbox/lookup/"' in html
    assert counter.searches == 0
    # the connection filter lists the tenant's connections
    assert '<option value="google-oauth2">google-oauth2</option>' in html


def test_builder_search_shows_the_query_the_users_and_records_it(
    agent_client: Client, support_agent: Any
) -> None:
    params = builder_params(
        EXAMPLE_COM, {"field": "email_verified", "op": "true"}, columns="email", per_page="10"
    )
    response = agent_client.get("/t/userdesk-sandbox/users/", params)
    html = response.content.decode()
    assert response.status_code == 200
    assert "email:*@example.com AND email_verified:true" in fragment_text(html).replace(
        "&quot;", '"'
    )
    rows = result_rows(html)
    assert 0 < len(rows) <= 10
    for row in rows:
        assert "@example.com" in row.lower()
        assert "/t/userdesk-sandbox/users/" in row
    event = AuditEvent.objects.get(action="users.search")
    assert event.actor == support_agent
    assert event.target == "email:*@example.com AND email_verified:true"
    assert event.details["page"] == 0


def test_htmx_gets_only_the_results_fragment(agent_client: Client) -> None:
    response = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM), headers=HX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="results"')
    assert "<html" not in html
    assert 'id="builder"' not in html
    assert "HX-Request" in response["Vary"]
    assert (
        "HX-Request"
        in agent_client.get("/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM))["Vary"]
    )


def test_paging_walks_through_the_matches(agent_client: Client) -> None:
    base = builder_params(EXAMPLE_COM, columns="user_id", per_page="10", sort="created_at")
    first = agent_client.get("/t/userdesk-sandbox/users/", base).content.decode()
    second = agent_client.get(
        "/t/userdesk-sandbox/users/", {**base, "page": "1"}, headers=HX
    ).content.decode()
    total = int(re.search(r"(\d+) users? match", fragment_text(first)).group(1))  # type: ignore[union-attr]
    assert total > 10
    assert "Page 1 of" in fragment_text(first)
    assert "Page 2 of" in fragment_text(second)
    assert set(result_rows(first)).isdisjoint(result_rows(second))
    # the links carry the whole search, for htmx and without JavaScript alike
    next_links = re.findall(r'href="(\?[^"]*page=2[^"]*)"', second)
    assert next_links
    assert "c-0-value=%40example.com" in next_links[0]
    assert 'hx-push-url="true"' in second
    last_page = -(-total // 10) - 1
    last = agent_client.get(
        "/t/userdesk-sandbox/users/", {**base, "page": str(last_page)}
    ).content.decode()
    assert len(result_rows(last)) == total - last_page * 10
    assert 'rel="next"' not in last


@pytest.mark.parametrize(("direction", "reverse"), [("1", False), ("-1", True)])
def test_sort_either_direction(agent_client: Client, direction: str, reverse: bool) -> None:
    params = builder_params(
        EXAMPLE_COM, columns="created_at", sort="created_at", direction=direction, per_page="25"
    )
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    stamps = re.findall(r'<time datetime="([^"]+)"', html)
    assert len(stamps) > 5
    assert stamps == sorted(stamps, reverse=reverse)


def test_columns_are_the_fields_shown(agent_client: Client) -> None:
    params = builder_params(EXAMPLE_COM, columns=["last_ip", "logins_count"])  # type: ignore[arg-type]
    response = agent_client.get("/t/userdesk-sandbox/users/", params)
    html = response.content.decode()
    header = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "Last IP" in header
    assert "Logins" in header
    assert "Email" not in header
    assert "@example.com" not in "".join(result_rows(html))


def test_connection_filter_narrows_the_search(agent_client: Client) -> None:
    params = builder_params(columns="identities", connection="github", per_page="25")
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    assert "identities.connection:&quot;github&quot;" in html
    rows = result_rows(html)
    assert rows
    for row in rows:
        assert "github" in row


def test_the_same_search_within_the_ttl_costs_nothing_upstream(agent_client: Client) -> None:
    params = builder_params({"field": "name", "op": "starts", "value": "A"})
    counter = Upstream()
    first = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX)
    assert counter.searches == 1
    second = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX)
    assert counter.searches == 1
    assert result_rows(first.content.decode()) == result_rows(second.content.decode())
    assert "From a search" in second.content.decode()
    assert AuditEvent.objects.filter(action="users.search").count() == 2


def test_without_a_ttl_every_search_asks_auth0(agent_client: Client, settings: Any) -> None:
    settings.SEARCH_CACHE_SECONDS = 0
    params = builder_params({"field": "name", "op": "starts", "value": "B"})
    counter = Upstream()
    agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX)
    agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX)
    assert counter.searches == 2


def test_many_searches_cost_one_token_request(agent_client: Client) -> None:
    counter = Upstream()
    for letter in "CDEFG":
        params = builder_params({"field": "name", "op": "starts", "value": letter})
        assert agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).status_code == 200
    assert counter.searches == 5
    assert counter.tokens == 1


def test_adding_and_removing_rows_without_javascript(agent_client: Client) -> None:
    counter = Upstream()
    params = builder_params(EXAMPLE_COM, add_row="1")
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    assert 'name="c-TOTAL_FORMS" value="2"' in html
    assert 'name="c-1-field"' in html
    assert 'value="@example.com"' in html
    params = builder_params(EXAMPLE_COM, {"field": "name", "op": "is", "value": "Zed"})
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {**params, "remove_row": "0"}
    ).content.decode()
    assert 'name="c-TOTAL_FORMS" value="1"' in html
    assert 'value="Zed"' in html
    assert 'value="@example.com"' not in html
    assert counter.searches == 0


def test_htmx_row_edits_return_only_the_builder(agent_client: Client) -> None:
    params = builder_params(EXAMPLE_COM, add_row="1")
    response = agent_client.get(
        "/t/userdesk-sandbox/users/", params, HTTP_HX_TARGET="builder", headers=HX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<fieldset id="builder"')
    assert 'name="c-TOTAL_FORMS" value="2"' in html


def test_a_row_that_cannot_be_expressed_is_explained_and_not_sent(agent_client: Client) -> None:
    counter = Upstream()
    params = builder_params({"field": "name", "op": "ends", "value": "ab"})
    html = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
    assert "Row 1:" in html
    assert "at least 3 characters" in html
    assert counter.searches == 0


def test_metadata_paths_are_searchable(agent_client: Client) -> None:
    params = builder_params(
        {"field": "metadata", "path": "app_metadata.plan", "op": "is", "value": "gold"},
        columns="user_id",
    )
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    assert "app_metadata.plan:&quot;gold&quot;" in html
    assert result_rows(html)


def test_a_bad_metadata_path_is_a_form_error(agent_client: Client) -> None:
    params = builder_params({"field": "metadata", "path": "plan", "op": "is", "value": "x"})
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    assert "Type a path under app_metadata or user_metadata" in html


def test_advanced_mode_sends_raw_lucene(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {
            "mode": "advanced",
            "q": 'email.domain:"example.com"',
            "connection": "Username-Password-Authentication",
        },
    ).content.decode()
    assert "(email.domain:&quot;example.com&quot;) AND identities.connection:" in html
    assert result_rows(html)
    assert '<textarea name="q"' in html


def test_auth0s_message_for_a_bad_query_is_shown_at_the_query(agent_client: Client) -> None:
    response = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {"mode": "advanced", "q": "name:((("},
        headers=HX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    error = re.search(r'<p class="alert error query-error" role="alert">(.*?)</p>', html, re.S)
    assert error is not None
    assert error.group(1).strip()
    assert "Traceback" not in html
    event = AuditEvent.objects.get(action="users.search")
    assert event.details["outcome"] == "error"


def test_rate_limits_that_outlast_the_retries_say_when_to_come_back(
    agent_client: Client, use_sandbox: Any, settings: Any
) -> None:
    settings.AUTH0_MAX_RETRIES = 1
    use_sandbox.set_faults(rate_limit_share=1)
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM), headers=HX
    ).content.decode()
    assert re.search(r"Auth0 is busy, try again in \d+ seconds?\.", html)
    assert "Traceback" not in html
    assert counter.searches == 2  # the first try and one retry


def test_server_errors_that_outlast_the_retries_say_busy(
    agent_client: Client, use_sandbox: Any, settings: Any
) -> None:
    settings.AUTH0_MAX_RETRIES = 1
    settings.AUTH0_BACKOFF_CAP_SECONDS = 0.05
    use_sandbox.set_faults(error_share=1)
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM), headers=HX
    ).content.decode()
    assert re.search(r"Auth0 is busy, try again in \d+ seconds?\.", html)


def test_retries_ride_out_intermittent_429s_and_5xx(
    agent_client: Client, use_sandbox: Any, settings: Any
) -> None:
    settings.AUTH0_MAX_RETRIES = 12
    settings.AUTH0_DEADLINE_SECONDS = 30
    settings.AUTH0_BACKOFF_CAP_SECONDS = 0.1
    use_sandbox.set_faults(rate_limit_share=0.3, error_share=0.3)
    counter = Upstream()
    for letter in "HJKL":
        params = builder_params({"field": "name", "op": "starts", "value": letter})
        html = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
        assert "busy" not in html
        assert re.search(r"\d+ users? match", fragment_text(html))
    # every attempt, retries included, reached the server
    assert counter.searches >= 4
    assert sum(use_sandbox.requests_seen().values()) >= counter.searches


def test_a_history_restore_gets_the_whole_page(agent_client: Client) -> None:
    headers = {**HX, "HX-History-Restore-Request": "true"}
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM), headers=headers
    ).content
    assert b"<html" in html
    assert b'id="builder"' in html


def test_edit_as_lucene_carries_the_query_into_advanced_mode(agent_client: Client) -> None:
    params = builder_params({"field": "name", "op": "is", "value": 'Jo "J" Doe'})
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    link = re.search(r'href="([^"]*)">Edit as Lucene', html)
    assert link is not None
    advanced = agent_client.get(
        "/t/userdesk-sandbox/users/" + link.group(1).replace("&amp;", "&")
    ).content.decode()
    assert "Advanced (Lucene)</span>" in advanced
    assert "name:&quot;Jo \\&quot;J\\&quot; Doe&quot;</textarea>" in advanced


def test_result_rows_escape_every_value(agent_client: Client) -> None:
    params = builder_params(
        {"field": "name", "op": "contains", "value": "script"},
        columns=["name", "user_id", "identities", "last_login"],  # type: ignore[arg-type]
    )
    html = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in html
    assert "<script>" not in html


def test_settings_left_out_of_a_url_show_their_defaults(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params(EXAMPLE_COM)
    ).content.decode()
    assert '<option value="50" selected>50</option>' in html
    checked = re.findall(r'<input type="checkbox" name="columns" value="([^"]+)"[^>]*checked', html)
    # in the default order, the one results show
    assert checked == ["email", "name", "identities", "last_login", "logins_count"]
