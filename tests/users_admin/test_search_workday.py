"""Through HTTP: the search page an agent works in all day (defects and features)."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from staff.permissions import SUPPORT_GROUP
from tests.fixtures.personas import make_staff
from tests.fixtures.search import Upstream, builder_params
from users_admin.models import RecentSearch, SavedSearch

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

HX = {"HX-Request": "true"}


def sent_query(html: str) -> str:
    found = re.search(r'<code class="mono" data-copy="([^"]*)"', html)
    assert found is not None, "no query shown"
    return unescape(found.group(1))


def cells(html: str, label: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for c in re.findall(rf'<td data-label="{label}"[^>]*>(.*?)</td>', html, re.S)
    ]


def link(html: str, text: str) -> str:
    found = re.search(rf'href="([^"]*)"[^>]*>{re.escape(text)}', html)
    assert found is not None, f"no link {text!r}"
    return unescape(found.group(1))


# --- Defects -------------------------------------------------------------------------------


def test_edit_as_lucene_does_not_double_the_connection_filter(agent_client: Client) -> None:
    params = builder_params(
        {"field": "email", "op": "ends", "value": "@example.com"},
        connection="Username-Password-Authentication",
    )
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    advanced = agent_client.get(
        "/t/userdesk-sandbox/users/" + link(html, "Edit as Lucene")
    ).content.decode()
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", advanced, re.S)
    assert textarea is not None
    assert "identities.connection" not in textarea.group(1)
    assert '<option value="Username-Password-Authentication" selected>' in advanced
    # searching from there narrows once, and switching the connection menu narrows to the new one
    query = parse_qs(urlsplit(link(html, "Edit as Lucene")).query)
    searched = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {**{k: v[-1] for k, v in query.items()}, "connection": "google-oauth2"},
    ).content.decode()
    assert sent_query(searched) == (
        '(email:*@example.com) AND identities.connection:"google-oauth2"'
    )


def test_q_in_the_address_bar_is_a_lucene_search(agent_client: Client) -> None:
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {"q": "email.domain:example.com"}
    ).content.decode()
    assert counter.searches == 1
    assert sent_query(html) == "email.domain:example.com"
    assert '<textarea name="q"' in html


def test_a_url_without_the_formsets_bookkeeping_still_searches(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {"mode": "builder", "c-0-field": "email", "c-0-op": "starts", "c-0-value": "a"},
    ).content.decode()
    assert "ManagementForm" not in html
    assert sent_query(html) == "email:a*"


def test_a_long_pasted_query_is_refused_with_its_length_not_cut(agent_client: Client) -> None:
    counter = Upstream()
    query = "email:a* OR " * 416 + "email:b*"  # 5,000 characters
    assert len(query) == 5000
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {"mode": "advanced", "q": query}
    ).content.decode()
    assert "maxlength" not in re.search(r"<textarea[^>]*>", html).group(0)  # type: ignore[union-attr]
    assert "The query is 5,000 characters long; Auth0 takes at most 4,000" in html
    assert query in unescape(html)  # what was pasted stays in the box
    assert counter.searches == 0


def test_an_unknown_mode_is_named_at_the_mode_switch_and_nothing_is_searched(
    agent_client: Client,
) -> None:
    counter = Upstream()
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", {"mode": "lucene", "q": "name:Jan*"}
    ).content.decode()
    switch = html.split('aria-label="Query mode"', 1)[1].split("</div>", 1)[0]
    assert "There is no query mode “lucene”: choose Builder or Advanced (Lucene)." in switch
    assert "query-errors" not in html  # not repeated under the form
    assert counter.searches == 0


def test_switching_modes_keeps_what_was_typed(agent_client: Client) -> None:
    rows = builder_params({"field": "name", "op": "starts", "value": "Jan"}, connection="")
    advanced = agent_client.get(
        "/t/userdesk-sandbox/users/", {**rows, "switch": "advanced"}
    ).content.decode()
    assert re.search(r"<textarea[^>]*>\s*name:Jan\*</textarea>", advanced)
    assert 'type="hidden" name="c-0-value" value="Jan"' in advanced
    # edit the Lucene, go back to the builder: the rows are still there, and so is the Lucene
    back = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {**rows, "mode": "advanced", "q": "name:Jo*", "switch": "builder"},
    ).content.decode()
    assert 'name="c-0-value" value="Jan"' in back
    assert 'type="hidden" name="q" value="name:Jo*"' in back
    again = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {**rows, "mode": "builder", "q": "name:Jo*", "switch": "advanced"},
    ).content.decode()
    assert re.search(r"<textarea[^>]*>\s*name:Jo\*</textarea>", again)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"field": "logins_count", "op": "starts", "value": "1"}, "does not apply to a number"),
        ({"field": "name", "op": "between", "value": "a", "value2": "b"}, "numbers and dates"),
        ({"field": "name", "op": "gt", "value": "a"}, "numbers and dates"),
        ({"field": "logins_count", "op": "gt", "value": "many"}, "not a whole number"),
        ({"field": "created_at", "op": "lt", "value": "yesterday"}, "not a date"),
        ({"field": "blocked", "op": "is", "value": "yes"}, "does not apply to a yes/no"),
    ],
)
def test_operators_that_do_not_fit_the_field_are_refused_at_the_row(
    agent_client: Client, row: dict[str, str], message: str
) -> None:
    counter = Upstream()
    html = agent_client.get("/t/userdesk-sandbox/users/", builder_params(row)).content.decode()
    row_errors = re.search(r'<ul class="errorlist row-errors"[^>]*>(.*?)</ul>', html, re.S)
    assert row_errors is not None
    assert message in row_errors.group(1)
    assert counter.searches == 0


def test_the_operator_menu_says_which_kinds_each_operator_fits(agent_client: Client) -> None:
    html = agent_client.get("/t/userdesk-sandbox/users/").content.decode()
    assert '<option value="logins_count" data-kind="number">' in html
    assert '<option value="created_at" data-kind="date">' in html
    assert re.search(r'<option value="starts" data-kinds="text">', html)
    assert re.search(r'<option value="gt" data-kinds="number date">', html)
    # a date row's inputs are date inputs, a number row's number inputs
    dated = agent_client.get(
        "/t/userdesk-sandbox/users/",
        builder_params({"field": "created_at", "op": "gt", "value": "2020-01-01"}),
    ).content.decode()
    assert re.search(r'<input type="date" name="c-0-value" value="2020-01-01"', dated)


def test_greater_and_less_than_compile_to_ranges(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/",
        builder_params(
            {"field": "logins_count", "op": "gt", "value": "40"},
            {"field": "created_at", "op": "lt", "value": "2030-01-01"},
            columns=["logins_count"],  # type: ignore[arg-type]
            per_page="100",
        ),
    ).content.decode()
    assert sent_query(html) == "logins_count:{40 TO *] AND created_at:[* TO 2030-01-01}"
    counts = [int(c) for c in cells(html, "Logins")]
    assert counts
    assert min(counts) > 40


def test_refresh_skips_the_cache_and_the_label_says_where_the_answer_came_from(
    agent_client: Client,
) -> None:
    params = builder_params({"field": "name", "op": "starts", "value": "B"})
    counter = Upstream()
    first = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
    assert "Query sent to Auth0:" in first
    cached = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
    assert counter.searches == 1
    assert "Query sent to Auth0" not in cached
    assert "answered from the cache" in cached
    refreshed = agent_client.get(
        "/t/userdesk-sandbox/users/" + link(cached, "Refresh").replace("&amp;", "&"), headers=HX
    ).content.decode()
    assert counter.searches == 2
    assert "Query sent to Auth0:" in refreshed
    # the refreshed answer is cached for the next look
    agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX)
    assert counter.searches == 2


def test_blocked_reads_no_for_users_auth0_does_not_mark(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/",
        builder_params(
            {"field": "blocked", "op": "true", "negate": "on"},
            columns=["email", "blocked"],  # type: ignore[arg-type]
            per_page="10",
        ),
    ).content.decode()
    assert set(cells(html, "Blocked")) == {"no"}


# --- Working speed --------------------------------------------------------------------------


def test_an_empty_result_names_the_likely_mistake_and_offers_lookup(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/",
        {"mode": "advanced", "q": 'email:"nobody@nowhere.example" and name:"x"'},
    ).content.decode()
    assert "No users match" in html
    assert "“and” in lower case is searched as a word" in html
    assert (
        link(html, "Try email lookup")
        == "/t/userdesk-sandbox/lookup/?email=nobody%40nowhere.example"
    )


def test_numbered_page_links_around_the_current_page(agent_client: Client) -> None:
    params = builder_params({"field": "email", "op": "exists"}, per_page="10", page="14")
    html = agent_client.get("/t/userdesk-sandbox/users/", params, headers=HX).content.decode()
    numbers = re.findall(r'<span class="visually-hidden">Page </span>(\d+)</', html)
    assert numbers == ["1", "13", "14", "15", "16", "17", "30"]  # 299 users, 10 a page
    assert 'aria-current="page"><span class="visually-hidden">Page </span>15<' in html
    assert "page=29" in html  # the last page is one click away


def test_columns_come_in_the_order_the_agent_chose(agent_client: Client) -> None:
    params = builder_params(
        {"field": "email", "op": "exists"},
        columns=["logins_count", "email"],  # type: ignore[arg-type]
        per_page="10",
    )
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
    assert headers == ["Logins", "Email"]
    checked = re.findall(r'<input type="checkbox" name="columns" value="([^"]+)"[^>]*checked', html)
    assert checked == ["logins_count", "email"]


def test_the_user_page_links_back_to_the_search_it_came_from(agent_client: Client) -> None:
    params = builder_params({"field": "email", "op": "ends", "value": "@example.com"})
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    detail_url = unescape(
        re.findall(r'href="(/t/userdesk-sandbox/users/[^"]+\?from=[^"]+)"', html)[0]
    )
    detail = agent_client.get(detail_url).content.decode()
    back = link(detail, "← Back to results")
    assert back.startswith("/t/userdesk-sandbox/users/?")
    assert parse_qs(urlsplit(back).query)["c-0-value"] == ["@example.com"]
    # only ever a search on this site
    forged = agent_client.get(detail_url.split("?")[0] + "?from=//evil.example/x").content
    assert b'href="//evil' not in forged


def test_presets_are_builder_states_that_run(agent_client: Client) -> None:
    page = agent_client.get("/t/userdesk-sandbox/users/").content.decode()
    expected = {
        "Never logged in": "NOT _exists_:last_login",
        "Blocked": "blocked:true",
        "Email not verified": "email_verified:false",
        "Social accounts": "identities.isSocial:true",
    }
    for name, query in expected.items():
        html = agent_client.get("/t/userdesk-sandbox/users/" + link(page, name)).content.decode()
        assert sent_query(html) == query
        assert 'id="builder"' in html  # the builder shows the preset's rows
        assert "query-error" not in html
    week = agent_client.get(
        "/t/userdesk-sandbox/users/" + link(page, "Signed up in the last 7 days")
    ).content
    assert re.match(r"created_at:\{\d{4}-\d{2}-\d{2} TO \*\]$", sent_query(week.decode()))


# --- Saved and recent searches --------------------------------------------------------------


def save(client: Client, html: str, name: str, *, shared: bool = False) -> Any:
    found = re.search(r'name="query_string" value="([^"]*)"', html)
    assert found is not None
    data = {"query_string": unescape(found.group(1)), "name": name}
    if shared:
        data["shared"] = "on"
    return client.post("/t/userdesk-sandbox/searches/save/", data)


def test_saved_searches_are_private_or_shared_and_only_the_owner_deletes(
    agent_client: Client, support_agent: User
) -> None:
    colleague = Client()
    colleague.force_login(make_staff("colleague@example.com", SUPPORT_GROUP))
    params = builder_params({"field": "email", "op": "ends", "value": "@example.com"}, page="2")
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()

    response = save(agent_client, html, "Example staff")
    assert response.status_code == 302
    mine = SavedSearch.objects.get(name="Example staff")
    assert "page" not in parse_qs(mine.query_string)  # reopens at the first page
    assert response["Location"] == mine.url
    assert "Example staff" in agent_client.get("/t/userdesk-sandbox/users/").content.decode()
    assert "Example staff" not in colleague.get("/t/userdesk-sandbox/users/").content.decode()

    save(agent_client, html, "Team list", shared=True)
    shared = SavedSearch.objects.get(name="Team list")
    team_page = colleague.get("/t/userdesk-sandbox/users/").content.decode()
    assert "Team list" in team_page
    assert "shared by agent@example.com" in team_page
    reopened = colleague.get(link(team_page, "Team list")).content.decode()
    assert sent_query(reopened) == "email:*@example.com"

    # saving the same name again updates it instead of failing
    assert save(agent_client, html, "Team list", shared=True).status_code == 302
    assert SavedSearch.objects.filter(name="Team list").count() == 1

    assert colleague.post(f"/t/userdesk-sandbox/searches/{shared.pk}/delete/").status_code == 403
    assert f"/t/userdesk-sandbox/searches/{shared.pk}/delete/" not in team_page
    assert agent_client.post(f"/t/userdesk-sandbox/searches/{shared.pk}/delete/").status_code == 302
    assert not SavedSearch.objects.filter(pk=shared.pk).exists()
    # a second press of Delete is harmless
    assert agent_client.post(f"/t/userdesk-sandbox/searches/{shared.pk}/delete/").status_code == 302
    assert (
        colleague.post(f"/t/userdesk-sandbox/searches/{mine.pk}/delete/").status_code == 302
    )  # not even visible
    assert SavedSearch.objects.filter(pk=mine.pk).exists()

    # Saves, updates and deletes are on the record, with who, what and whether it was shared.
    events = [
        (e.action, e.target, e.actor, e.details.get("shared"), e.details.get("created"))
        for e in AuditEvent.objects.filter(action__startswith="users.search_").order_by("pk")
    ]
    assert events == [
        ("users.search_saved", "Example staff", support_agent, False, True),
        ("users.search_saved", "Team list", support_agent, True, True),
        ("users.search_saved", "Team list", support_agent, True, False),
        ("users.search_deleted", "Team list", support_agent, None, None),
    ]


def test_the_name_box_holds_as_many_characters_as_a_saved_search_name(
    agent_client: Client,
) -> None:
    params = builder_params({"field": "email", "op": "ends", "value": "@example.com"})
    html = agent_client.get("/t/userdesk-sandbox/users/", params).content.decode()
    box = re.search(r'<input[^>]*id="save-search-name"[^>]*>', html)
    assert box is not None
    assert f'maxlength="{SavedSearch._meta.get_field("name").max_length}"' in box.group(0)


def test_saving_needs_a_name(agent_client: Client) -> None:
    html = agent_client.get(
        "/t/userdesk-sandbox/users/", builder_params({"field": "email", "op": "exists"})
    ).content.decode()
    response = save(agent_client, html, "   ")
    assert response.status_code == 302
    follow = agent_client.get(response["Location"]).content.decode()
    assert "The search was not saved" in follow
    assert not SavedSearch.objects.exists()


def test_recent_searches_are_each_agents_own(agent_client: Client, support_agent: User) -> None:
    colleague = Client()
    colleague.force_login(make_staff("colleague@example.com", SUPPORT_GROUP))
    for letter in "ABCA":
        agent_client.get(
            "/t/userdesk-sandbox/users/",
            builder_params({"field": "name", "op": "starts", "value": letter}),
            headers=HX,
        )
    recent = list(RecentSearch.objects.filter(owner=support_agent))
    assert [r.query for r in recent] == ["name:A*", "name:C*", "name:B*"]
    page = agent_client.get("/t/userdesk-sandbox/users/").content.decode()
    assert link(page, "name:A*") == recent[0].url
    assert "name:A*" not in colleague.get("/t/userdesk-sandbox/users/").content.decode()
    reopened = agent_client.get(recent[1].url).content.decode()
    assert sent_query(reopened) == "name:C*"


def test_only_the_last_ten_searches_are_kept(agent_client: Client, support_agent: User) -> None:
    for number in range(12):
        agent_client.get(
            "/t/userdesk-sandbox/users/",
            builder_params({"field": "logins_count", "op": "is", "value": str(number)}),
            headers=HX,
        )
    kept = [r.query for r in RecentSearch.objects.filter(owner=support_agent)]
    assert kept == [f"logins_count:{n}" for n in range(11, 1, -1)]
