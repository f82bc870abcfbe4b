"""The sandbox's user endpoints through HTTP: paging, window, totals, fields, sort, writes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client, override_settings

from sandbox import faults, tokens
from sandbox.indexing import fold, search_terms
from sandbox.query import compile_query, split_driver
from sandbox.seed import DATABASE_CONNECTION, generate_users, seed_users

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = [pytest.mark.django_db(databases=["sandbox"]), pytest.mark.urls("sandbox.urls")]

SEED = 11
USERS = 1200
PAGING_BODY = {
    "statusCode": 400,
    "error": "Bad Request",
    "message": "You can only page through the first 1000 records. "
    "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
    "errorCode": "invalid_paging",
}
NOT_FOUND_BODY = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "The user does not exist.",
    "errorCode": "inexistent_user",
}

Get = Callable[..., "Response"]


def bearer(*scopes: str) -> str:
    token, _ = tokens.issue(settings.SANDBOX_CLIENT_ID, scopes or tokens.GRANTED_SCOPES)
    return f"Bearer {token}"


@pytest.fixture
def profiles() -> list[dict[str, Any]]:
    """The tenant, seeded in the test database; rate limits off so tests may call freely."""
    seed_users(USERS, SEED)
    faults.set_many({"rate_limit_plan": "off"})
    return list(generate_users(USERS, SEED))


@pytest.fixture
def api(client: Client) -> Get:
    auth = bearer()

    def get(path: str, **params: Any) -> Response:
        return client.get(path, params, HTTP_AUTHORIZATION=auth)

    return get


def ids(users: list[dict[str, Any]]) -> list[str]:
    return [user["user_id"] for user in users]


def test_without_page_at_most_fifty_users_in_insertion_order(
    api: Get, profiles: list[dict[str, Any]]
) -> None:
    response = api("/api/v2/users", per_page=100)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert ids(response.json()) == ids(profiles[:50])
    # The stored profile is returned exactly as seeded.
    assert response.json()[0] == profiles[0]


def test_pages_and_totals_wrapper(api: Get, profiles: list[dict[str, Any]]) -> None:
    response = api("/api/v2/users", page=2, per_page=7, include_totals="true")
    body = response.json()
    assert list(body) == ["start", "limit", "length", "users", "total"]
    assert body["start"] == 14
    assert body["limit"] == 7
    assert body["length"] == 7
    assert ids(body["users"]) == ids(profiles[14:21])
    # More than 1,000 users match: the total is capped at the window, as Auth0's is.
    assert body["total"] == 1000

    beyond_data = api(
        "/api/v2/users",
        q='identities.connection:"acme-saml"',
        search_engine="v3",
        page=5,
        per_page=100,
        include_totals="true",
    ).json()
    saml = [p for p in profiles if p["identities"][0]["connection"] == "acme-saml"]
    assert beyond_data == {"start": 500, "limit": 100, "length": 0, "users": [], "total": len(saml)}


def test_per_page_zero_counts_without_users(api: Get, profiles: list[dict[str, Any]]) -> None:
    q = f'identities.connection:"{DATABASE_CONNECTION}" AND blocked:true'
    body = api(
        "/api/v2/users", q=q, search_engine="v3", per_page=0, page=0, include_totals="true"
    ).json()
    expected = [
        p
        for p in profiles
        if p["identities"][0]["connection"] == DATABASE_CONNECTION and p.get("blocked") is True
    ]
    assert body == {"start": 0, "limit": 0, "length": 0, "users": [], "total": len(expected)}


def test_thousand_result_window(api: Get, profiles: list[dict[str, Any]]) -> None:
    assert api("/api/v2/users", page=9, per_page=100).status_code == 200
    response = api("/api/v2/users", page=10, per_page=100)
    assert response.status_code == 400
    assert response.json() == PAGING_BODY
    assert api("/api/v2/users", page=1000, per_page=1).json() == PAGING_BODY
    # A page straddling the window is cut at 1,000.
    straddling = api("/api/v2/users", page=33, per_page=30).json()
    assert ids(straddling) == ids(profiles[990:1000])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"per_page": "101"},
            "Query validation error: 'Value 101 is greater than maximum 100' on property "
            "per_page (Number of results per page.).",
        ),
        (
            {"page": "-1"},
            "Query validation error: 'Value -1 is less than minimum 0' on property page "
            "(Page index of the results to return. First page is 0.).",
        ),
        (
            {"page": "two"},
            "Query validation error: 'Expected type integer but found type string' on property "
            "page (Page index of the results to return. First page is 0.).",
        ),
        (
            {"include_totals": "yes"},
            "Query validation error: 'Expected type boolean but found type string' on property "
            "include_totals (Return results inside an object that contains the total result "
            "count (true) or as a direct array of results (false, default).).",
        ),
        (
            {"search_engine": "v4"},
            "Query validation error: 'No enum match for: v4' on property search_engine "
            "(The version of the search engine).",
        ),
        ({"search_engine": "v1"}, "You are not allowed to use search_engine=v1."),
        (
            {"search_engine": "v2", "q": "name:x"},
            "You are not allowed to use search_engine=v2. Use search_engine=v3 instead.",
        ),
        # `connection` was a v1 parameter: sent alone, the request lands on v1.
        ({"connection": "github"}, "You are not allowed to use search_engine=v1."),
    ],
)
def test_parameter_errors(
    api: Get, profiles: list[dict[str, Any]], params: dict[str, str], message: str
) -> None:
    response = api("/api/v2/users", **params)
    assert response.status_code == 400
    body = response.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    assert body["message"] == message
    assert body["errorCode"] == "invalid_query_string"


def test_query_without_search_engine_uses_v3(api: Get, profiles: list[dict[str, Any]]) -> None:
    target = next(p for p in profiles if p["identities"][0]["connection"] == DATABASE_CONNECTION)
    found = api("/api/v2/users", q=f'email:"{target["email"].upper()}"').json()
    assert target["user_id"] in ids(found)
    assert all(fold(user["email"]) == target["email"] for user in found)


def test_malformed_query_is_a_helpful_400(api: Get, profiles: list[dict[str, Any]]) -> None:
    response = api("/api/v2/users", q='name:"unbalanced', search_engine="v3")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"
    assert response.json()["message"]


def test_sort_ascending_and_descending_with_stable_ties(
    api: Get, profiles: list[dict[str, Any]]
) -> None:
    q = "logins_count:[0 TO *]"
    counted = [(p["logins_count"], i) for i, p in enumerate(profiles) if "logins_count" in p]
    ascending = api(
        "/api/v2/users", q=q, search_engine="v3", sort="logins_count:1", page=0, per_page=100
    ).json()
    expected = [profiles[index]["user_id"] for _, index in sorted(counted)[:100]]
    assert ids(ascending) == expected
    descending = api(
        "/api/v2/users", q=q, search_engine="v3", sort="logins_count:-1", page=0, per_page=20
    ).json()
    top = sorted(counted, key=lambda item: (-item[0], -item[1]))[:20]
    assert ids(descending) == [profiles[index]["user_id"] for _, index in top]


def test_sort_rejects_metadata_and_bad_patterns(api: Get, profiles: list[dict[str, Any]]) -> None:
    assert api("/api/v2/users", sort="app_metadata.plan:1").status_code == 400
    response = api("/api/v2/users", sort="created_at:up")
    assert response.status_code == 400
    assert "on property sort" in response.json()["message"]


def test_fields_include_and_exclude(api: Get, profiles: list[dict[str, Any]]) -> None:
    included = api("/api/v2/users", fields="email,user_id", include_fields="true").json()
    assert all(set(user) <= {"email", "user_id"} for user in included)
    assert ids(included) == ids(profiles[:50])
    excluded = api("/api/v2/users", fields="identities,app_metadata", include_fields="false").json()
    assert excluded[0] == {
        key: value
        for key, value in profiles[0].items()
        if key not in {"identities", "app_metadata"}
    }


def test_get_user_by_encoded_id_and_exact_404(
    client: Client, api: Get, profiles: list[dict[str, Any]]
) -> None:
    github = next(p for p in profiles if p["user_id"].startswith("github|"))
    response = api(f"/api/v2/users/{quote(github['user_id'], safe='')}")
    assert response.status_code == 200
    assert response.json() == github
    assert isinstance(response.json()["identities"][0]["user_id"], int)

    saml = next(p for p in profiles if p["user_id"].startswith("samlp|"))
    picked = api(f"/api/v2/users/{quote(saml['user_id'], safe='')}", fields="name,email").json()
    assert picked == {"email": saml["email"], "name": saml["name"]}

    missing = api("/api/v2/users/auth0%7C000000000000000000000000")
    assert missing.status_code == 404
    assert missing.json() == NOT_FOUND_BODY


def test_users_by_email_is_exact_and_case_sensitive(
    api: Get, profiles: list[dict[str, Any]]
) -> None:
    by_email: dict[str, list[dict[str, Any]]] = {}
    for profile in profiles:
        if "email" in profile:
            by_email.setdefault(profile["email"], []).append(profile)
    shared, owners = next((e, ps) for e, ps in by_email.items() if len(ps) == 2)
    found = api("/api/v2/users-by-email", email=shared).json()
    assert ids(found) == ids(owners)
    assert len({user["identities"][0]["connection"] for user in found}) == 2

    # The same address in another case is another user (or nobody).
    for variant in (shared.upper(), shared.capitalize()):
        expected = ids(by_email.get(variant, []))
        assert ids(api("/api/v2/users-by-email", email=variant).json()) == expected

    picked = api("/api/v2/users-by-email", email=shared, fields="user_id").json()
    assert picked == [{"user_id": user["user_id"]} for user in owners]
    assert api("/api/v2/users-by-email", email="nobody@example.com").json() == []

    missing = api("/api/v2/users-by-email")
    assert missing.status_code == 400
    assert "Missing required property: email" in missing.json()["message"]


def test_token_and_scope_checks(client: Client, profiles: list[dict[str, Any]]) -> None:
    assert client.get("/api/v2/users").status_code == 401
    assert client.get("/api/v2/users", HTTP_AUTHORIZATION="Bearer not-a-token").status_code == 401
    response = client.get("/api/v2/users", HTTP_AUTHORIZATION=bearer("read:connections"))
    assert response.status_code == 403
    assert response.json()["errorCode"] == "insufficient_scope"
    read_only = bearer("read:users")
    created = client.post(
        "/api/v2/users",
        {"connection": DATABASE_CONNECTION, "email": "a@example.com", "password": "Passw0rd!x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=read_only,
    )
    assert created.status_code == 403
    assert "create:users" in created.json()["message"]


# Writes ----------------------------------------------------------------------------------------


def post(client: Client, body: dict[str, Any], auth: str | None = None) -> Response:
    return client.post(
        "/api/v2/users",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth or bearer(),
    )


def patch(client: Client, user_id: str, body: dict[str, Any]) -> Response:
    return client.patch(
        f"/api/v2/users/{quote(user_id, safe='')}",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(),
    )


def search_ids(api: Get, q: str) -> list[str]:
    response = api("/api/v2/users", q=q, search_engine="v3", page=0, per_page=100)
    assert response.status_code == 200
    return ids(response.json())


@override_settings(SANDBOX_SEARCH_LAG_SECONDS=0)
def test_create_user_in_the_database_connection(
    client: Client, api: Get, profiles: list[dict[str, Any]]
) -> None:
    response = post(
        client,
        {
            "connection": DATABASE_CONNECTION,
            "email": "New.Person@Example.COM",
            "password": "Corr3ct-horse",
            "given_name": "Nové",
            "user_metadata": {"consent": {"given": True}},
        },
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new.person@example.com"
    assert user["email_verified"] is False
    assert user["user_id"].startswith("auth0|")
    assert user["identities"] == [
        {
            "connection": DATABASE_CONNECTION,
            "user_id": user["user_id"].removeprefix("auth0|"),
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    assert user["created_at"] == user["updated_at"]
    assert user["created_at"].endswith("Z")
    assert api(f"/api/v2/users/{quote(user['user_id'])}").json() == user
    assert search_ids(api, "user_metadata.consent.given:true AND email:new.person*") == [
        user["user_id"]
    ]

    again = post(
        client,
        {"connection": DATABASE_CONNECTION, "email": "new.person@example.com", "password": "x" * 9},
    )
    assert again.status_code == 409
    assert again.json() == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "The user already exists.",
        "errorCode": "auth0_idp_error",
    }


DB = DATABASE_CONNECTION
OK = {"email": "a@example.com", "password": "Passw0rd!x"}


@pytest.mark.parametrize(
    ("body", "status", "error_code"),
    [
        (OK, 400, "invalid_body"),
        ({"connection": DB, "password": "Passw0rd!x"}, 400, "invalid_body"),
        ({"connection": DB, "email": "a@example.com"}, 400, "invalid_body"),
        ({"connection": DB, "email": "nope", "password": "x" * 9}, 400, "invalid_body"),
        ({**OK, "connection": DB, "password": "short"}, 400, "invalid_password"),
        ({**OK, "connection": "github"}, 400, "operation_not_supported"),
        ({**OK, "connection": "nope"}, 400, "inexistent_connection"),
        ({**OK, "connection": DB, "shoe_size": 42}, 400, "invalid_body"),
        ({**OK, "connection": DB, "phone_number": "0612"}, 400, "invalid_body"),
    ],
)
def test_create_user_refusals(
    client: Client,
    profiles: list[dict[str, Any]],
    body: dict[str, Any],
    status: int,
    error_code: str,
) -> None:
    response = post(client, body)
    assert response.status_code == status
    assert response.json()["errorCode"] == error_code
    assert response.json()["statusCode"] == status


@override_settings(SANDBOX_SEARCH_LAG_SECONDS=3600)
def test_patch_is_seen_at_once_by_id_and_email_but_by_search_only_after_the_lag(
    client: Client, api: Get, profiles: list[dict[str, Any]]
) -> None:
    target = next(p for p in profiles if p["identities"][0]["connection"] == DATABASE_CONNECTION)
    response = patch(
        client, target["user_id"], {"name": "Renamed Person", "email": "Renamed@Example.com"}
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Renamed Person"
    assert updated["email"] == "renamed@example.com"  # database connection: lower-cased
    assert updated["updated_at"] > target["updated_at"]

    assert api(f"/api/v2/users/{quote(target['user_id'])}").json() == updated
    assert ids(api("/api/v2/users-by-email", email="renamed@example.com").json()) == [
        target["user_id"]
    ]
    assert api("/api/v2/users-by-email", email=target["email"]).json() == [] or all(
        user["user_id"] != target["user_id"]
        for user in api("/api/v2/users-by-email", email=target["email"]).json()
    )

    # Search still answers from the old index: the old name finds the user, the new does not.
    assert search_ids(api, 'name:"renamed person"') == []
    assert target["user_id"] in search_ids(api, f'email:"{target["email"]}"')
    old = api("/api/v2/users", q=f'email:"{target["email"]}"', search_engine="v3").json()
    assert old[0]["name"] == "Renamed Person"  # the profile itself is always the latest

    # Once the sandbox clock passes the lag, search catches up.
    faults.set_many({"clock_offset_seconds": 3601})
    assert search_ids(api, 'name:"renamed person"') == [target["user_id"]]
    assert target["user_id"] not in search_ids(api, f'email:"{target["email"]}"')


@override_settings(SANDBOX_SEARCH_LAG_SECONDS=0.3)
def test_search_catches_up_by_itself_after_a_short_lag(
    client: Client, api: Get, profiles: list[dict[str, Any]]
) -> None:
    # A database user: identity providers own the names of social and enterprise users.
    target = [p for p in profiles if p["user_id"].startswith("auth0|")][3]
    assert patch(client, target["user_id"], {"family_name": "Zzyzx"}).status_code == 200
    deadline = time.monotonic() + 10
    while not search_ids(api, "family_name:zzyzx"):
        assert time.monotonic() < deadline, "the write never reached search"
        time.sleep(0.05)
    assert search_ids(api, "family_name:zzyzx") == [target["user_id"]]


@override_settings(SANDBOX_SEARCH_LAG_SECONDS=0)
def test_patch_merges_metadata_one_level_and_clears_with_null(
    client: Client, api: Get, profiles: list[dict[str, Any]]
) -> None:
    target = next(
        p
        for p in profiles
        if "consent" in p.get("user_metadata", {}) and p["user_id"].startswith("auth0|")
    )
    body = {
        "user_metadata": {"preferences": {"language": "eo"}, "consent": None, "extra": [1, 2]},
        "app_metadata": {},
        "blocked": True,
        "given_name": None,
        "phone_number": "+15551234567",
    }
    updated = patch(client, target["user_id"], body).json()
    assert updated["user_metadata"] == {
        **{k: v for k, v in target["user_metadata"].items() if k != "consent"},
        "preferences": {"language": "eo"},
        "extra": [1, 2],
    }
    assert "app_metadata" not in updated
    assert "given_name" not in updated
    assert updated["blocked"] is True
    assert updated["phone_number"] == "+15551234567"
    assert target["user_id"] in search_ids(
        api, 'user_metadata.preferences.language:"eo" AND blocked:true AND user_metadata.extra:2'
    )
    assert target["user_id"] not in search_ids(api, "_exists_:user_metadata.consent")


def test_patch_refusals(client: Client, profiles: list[dict[str, Any]]) -> None:
    missing = patch(client, "auth0|000000000000000000000000", {"name": "x"})
    assert missing.status_code == 404
    assert missing.json() == NOT_FOUND_BODY
    wrong_type = patch(client, profiles[0]["user_id"], {"name": 5})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["message"] == (
        "Payload validation error: 'Expected type string but found type integer' on property name."
    )
    not_json = client.patch(
        f"/api/v2/users/{quote(profiles[0]['user_id'])}",
        "{nope",
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(),
    )
    assert not_json.status_code == 400


@pytest.mark.parametrize(
    ("q", "sort"),
    [
        ('identities.connection:"github"', ""),
        ("app_metadata.plan:gold", "created_at:1"),
        ("NOT _exists_:logins_count", ""),
        ("name:*son", "logins_count:-1"),
        ("email:*example.org AND NOT blocked:true", "email_verified:1"),
        ("logins_count:[2 TO 5]", "name:1"),
        ("user_metadata.consent.given:false OR app_metadata.roles:admin", ""),
        ("", "last_login:-1"),
    ],
)
def test_every_plan_gives_the_same_page(
    api: Get, profiles: list[dict[str, Any]], q: str, sort: str
) -> None:
    """Search switches plans when one overruns its budget; the answer must not change."""

    def page(budget: int, page: int) -> dict[str, Any]:
        params = {"page": page, "per_page": 40, "include_totals": "true", "sort": sort}
        with override_settings(SANDBOX_SEARCH_PLAN_BUDGET=budget):
            response = api("/api/v2/users", q=q, search_engine="v3", **params)
        assert response.status_code == 200
        return dict(response.json())

    for number in (0, 3, 24):
        patient, hasty = page(10**9, number), page(0, number)
        assert ids(hasty["users"]) == ids(patient["users"])
        assert hasty["total"] == patient["total"]


@pytest.mark.parametrize(
    ("q", "path", "value", "keep", "sort"),
    [
        ("identities.provider:auth0", "identities.provider", "auth0", None, ""),
        ('user_metadata.consent.given:"true"', "user_metadata.consent.given", "true", None, ""),
        ("app_metadata.plan:gold", "app_metadata.plan", "gold", None, ""),
        ("app_metadata.plan:nobody", "app_metadata.plan", "nobody", None, ""),
        ("identities.provider:auth0", "identities.provider", "auth0", None, "created_at:-1"),
        (
            "app_metadata.plan:free AND NOT blocked:true",
            "app_metadata.plan",
            "free",
            lambda p: p.get("blocked") is not True,
            "",
        ),
        (
            "(app_metadata.roles:admin) AND _exists_:phone_number",
            "app_metadata.roles",
            "admin",
            lambda p: "phone_number" in p,
            "",
        ),
    ],
)
def test_searches_driven_by_one_metadata_or_identity_term(
    api: Get,
    q: str,
    path: str,
    value: str,
    keep: Callable[[dict[str, Any]], bool] | None,
    sort: str,
) -> None:
    """Such searches read the term's users in id order from its index: common or rare, the
    pages and the capped total are those of every matching user."""
    assert split_driver(compile_query(q, walk=True)) is not None
    seed_users(2600, SEED)
    faults.set_many({"rate_limit_plan": "off"})
    expected = [
        profile
        for profile in generate_users(2600, SEED)
        if (path, value) in search_terms(profile) and (keep is None or keep(profile))
    ]
    if sort:
        expected.sort(key=lambda p: p["created_at"], reverse=True)
    for number in (0, 3, 24):
        body = api(
            "/api/v2/users",
            q=q,
            search_engine="v3",
            page=number,
            per_page=40,
            include_totals="true",
            sort=sort,
        ).json()
        assert ids(body["users"]) == ids(expected[number * 40 : number * 40 + 40])
        assert body["total"] == min(len(expected), 1000)
