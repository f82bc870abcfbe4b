"""The sandbox's v3 query language: each case is a query and the exact users it must find.

The tenant is six hand-built users, stored and indexed the way the sandbox stores them
(`TenantUser` rows refreshed by `sandbox.indexing.reindex`), and every query runs through the SQL
the `/api/v2/users` view runs, so a case fails if the compiler, the index or their agreement is
wrong.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections

from sandbox.indexing import reindex
from sandbox.models import TenantUser
from sandbox.query import CompiledQuery, QueryError, compile_query, sort_clause
from sandbox.seed import seed_users

UPA = "Username-Password-Authentication"


def identity(connection: str, provider: str, user_id: Any, social: bool) -> dict[str, Any]:
    return {"connection": connection, "provider": provider, "user_id": user_id, "isSocial": social}


# Insertion order is id order: jane=1 ... six=6.
PROFILES: dict[str, dict[str, Any]] = {
    "jane": {
        "user_id": "auth0|100",
        "email": "Jane.Smith@Example.com",
        "email_verified": True,
        "name": "Jane Smith",
        "given_name": "Jane",
        "family_name": "Smith",
        "nickname": "jane",
        "username": "JaneS",
        "phone_number": "+15551234567",
        "phone_verified": False,
        "last_ip": "10.0.0.1",
        "blocked": False,
        "logins_count": 5,
        "created_at": "2017-11-15T10:00:00.000Z",
        "updated_at": "2018-01-15T00:00:00.000Z",
        "last_login": "2017-12-31T23:59:59.999Z",
        "identities": [identity(UPA, "auth0", "100", False)],
        "app_metadata": {"plan": "gold", "roles": ["admin", "billing"], "seats": 3},
        "user_metadata": {
            "preferences": {"fontSize": 13, "lang": "fr"},
            "addresses": [{"city": "Paris"}, {"city": "Lyon"}],
            "consent": {"given": True, "date": "2024-01-02"},
        },
    },
    "john": {
        "user_id": "google-oauth2|200",
        "email": "JOHN.DOE@Gmail.com",
        "email_verified": False,
        "name": "John Doe",
        "given_name": "John",
        "family_name": "Doe",
        "nickname": "john.doe",
        "last_ip": "10.0.0.2",
        "logins_count": 150,
        "created_at": "2018-06-01T08:30:00.000Z",
        "updated_at": "2018-06-02T00:00:00.000Z",
        "last_login": "2018-12-01T00:00:00.000Z",
        "identities": [
            identity("google-oauth2", "google-oauth2", "200", True),
            identity(UPA, "auth0", "abc", False),
        ],
        "app_metadata": {"plan": "Gold", "seats": 3.0},
        "user_metadata": {"preferences": {"fontSize": 13.5}},
    },
    "zoe": {
        "user_id": "github|300",
        "email": "o'brien+tag@Example.org",
        "name": 'Zoë "Z" O\'Brien',
        "given_name": "Zoë",
        "family_name": "O'Brien",
        "nickname": "Zoë",
        "blocked": True,
        "logins_count": 0,
        "created_at": "2019-01-01T00:00:00.000Z",
        "updated_at": "2019-01-01T00:00:00.000Z",
        "identities": [identity("github", "github", 300, True)],
        "app_metadata": {"plan": "free", "flags": []},
        "user_metadata": {"nothing": None, "empty": {}, "note": "a*b?c[d]"},
    },
    "ann": {
        "user_id": "samlp|acme-saml|ann@acme.com",
        "email": "ann@acme.com",
        "email_verified": True,
        "name": "Ann [Admin] *Lee*",
        "given_name": "Ann",
        "family_name": "Lee",
        "nickname": "ann",
        "blocked": False,
        "logins_count": 1000,
        "created_at": "2020-02-29T12:00:00.000Z",
        "updated_at": "2020-02-29T12:00:00.000Z",
        "last_login": "2020-03-01T00:00:00.000Z",
        "identities": [identity("acme-saml", "samlp", "ann@acme.com", False)],
        "app_metadata": {"plan": "enterprise", "roles": ["support"]},
        "user_metadata": {},
    },
    "five": {
        "user_id": "auth0|500",
        "name": "=SUM(A1)",
        "nickname": "five",
        "username": "user_five",
        "phone_number": "+15550000000",
        "created_at": "2016-05-05T05:05:05.005Z",
        "updated_at": "2016-05-05T05:05:05.005Z",
        "identities": [identity(UPA, "auth0", "500", False)],
        "app_metadata": {"plan": "gold", "roles": "admin"},
        "user_metadata": {"path": "C:\\dir"},
    },
    "six": {
        "user_id": "auth0|600",
        "email": "and@example.com",
        "email_verified": False,
        "name": "and",
        "given_name": "not",
        "family_name": "back\\slash",
        "nickname": "or",
        "logins_count": 10,
        "created_at": "2017-12-01T00:00:00.000Z",
        "updated_at": "2017-12-01T00:00:00.000Z",
        "last_login": "2017-11-30T23:59:59.999Z",
        "identities": [identity(UPA, "auth0", "600", False)],
        "app_metadata": {"plan": ""},
        "user_metadata": {"consent": {"text_details": "yes"}},
    },
}
EVERYONE = set(PROFILES)
KEYS = {profile["user_id"]: key for key, profile in PROFILES.items()}


@pytest.fixture
def tenant() -> None:
    users = [
        TenantUser(user_id=p["user_id"], email=p.get("email"), profile=json.dumps(p))
        for p in PROFILES.values()
    ]
    created = TenantUser.objects.using("sandbox").bulk_create(users)
    assert reindex(user.pk for user in created) == len(PROFILES)


def run(sql: str, params: list[Any]) -> list[str]:
    with connections["sandbox"].cursor() as cursor:
        cursor.execute(sql, params)
        return [KEYS[row[0]] for row in cursor.fetchall()]


def search(q: str, sort: str | None = None) -> list[str]:
    """The users a query finds, in result order, through the view's SQL shape."""
    where = compile_query(q)
    return run(
        "SELECT u.user_id FROM sandbox_tenantuser u"
        f" WHERE u.searchable = 1 AND ({where.sql_format('%s')}) ORDER BY {sort_clause(sort)}",
        where.params,
    )


CASES: list[tuple[str, set[str]]] = [
    # Untokenized fields, whole-value match, case rules per field.
    ("email:jane.smith@example.com", {"jane"}),
    ("email:JANE.SMITH@EXAMPLE.COM", {"jane"}),
    ('email:"Jane.Smith@Example.com"', {"jane"}),
    ("email:jane", set()),
    ("email:o'brien+tag@example.org", {"zoe"}),
    ("name:jane", set()),
    ('name:"jane smith"', {"jane"}),
    ("name:JANE\\ SMITH", {"jane"}),
    ("given_name:JOHN", {"john"}),
    ("family_name:doe", {"john"}),
    ("nickname:ZOË", {"zoe"}),
    ("user_id:auth0", set()),
    ('user_id:"auth0|100"', {"jane"}),
    ("user_id:auth0|100", {"jane"}),
    ("user_id:AUTH0|100", set()),
    ("username:JaneS", {"jane"}),
    ("username:janes", set()),
    ('phone_number:"+15551234567"', {"jane"}),
    ("phone_number:\\+15551234567", {"jane"}),
    ("last_ip:10.0.0.2", {"john"}),
    ("email.domain:EXAMPLE.COM", {"jane", "six"}),
    ("email.domain:example.org", {"zoe"}),
    # Wildcards: prefix, suffix (3 literal characters), infix, both ends; literal metacharacters.
    ("user_id:auth0*", {"jane", "five", "six"}),
    ("name:jo*", {"john"}),
    ("name:J*", {"jane", "john"}),
    ("email:*@example.com", {"jane", "six"}),
    ("name:*mith", {"jane"}),
    ("name:*ith", {"jane"}),
    ("name:*doe*", {"john"}),
    ("nickname:*ohn*", {"john"}),
    ("name:jane*smith", {"jane"}),
    ("name:jane*", {"jane"}),
    ("username:Jane*", {"jane"}),
    ("username:jane*", set()),
    ("given_name:*", {"jane", "john", "zoe", "ann", "six"}),
    ("name:ann\\ \\[admin\\]*", {"ann"}),
    ("name:*\\[admin\\]*", {"ann"}),
    ("name:*\\*lee\\*", {"ann"}),
    ('name:"Ann [Admin] *Lee*"', {"ann"}),
    ('name:"ann*"', set()),
    ("name:\\=SUM\\(A1\\)", {"five"}),
    ('name:"=SUM(A1)"', {"five"}),
    ("name:=sum*", {"five"}),
    ('name:"Zoë \\"Z\\" O\'Brien"', {"zoe"}),
    ("family_name:back\\\\slash", {"six"}),
    ('family_name:"back\\\\slash"', {"six"}),
    ("family_name:back\\\\*", {"six"}),
    ("identities.connection:google*", {"john"}),
    # A term without a field: the normal text fields, never metadata.
    ("jane", {"jane"}),
    ("Jane", {"jane"}),
    ("JaneS", {"jane"}),
    ("janes", set()),
    ('"jane smith"', {"jane"}),
    ("jo*", {"john"}),
    ("auth0|100", {"jane"}),
    ("gold", set()),
    ("Paris", set()),
    ("*", EVERYONE),
    ("*:*", EVERYONE),
    # Lower-case and/or/not are plain terms, as in Lucene.
    ("and", {"six"}),
    ("or", {"six"}),
    ("not", {"six"}),
    ("jane and john", set()),
    ("jane or john", set()),
    ("jane OR john", {"jane", "john"}),
    # Booleans.
    ("email_verified:true", {"jane", "ann"}),
    ("email_verified:false", {"john", "six"}),
    ("blocked:true", {"zoe"}),
    ("blocked:false", {"jane", "ann"}),
    ("phone_verified:false", {"jane"}),
    ("NOT _exists_:email_verified OR email_verified:false", {"zoe", "five", "john", "six"}),
    # Numbers.
    ("logins_count:5", {"jane"}),
    ("logins_count:0", {"zoe"}),
    ("logins_count:[100 TO *]", {"john", "ann"}),
    ("logins_count:{150 TO *]", {"ann"}),
    ("logins_count:[* TO 10]", {"jane", "zoe", "six"}),
    ("logins_count:[5 TO 10}", {"jane"}),
    ("logins_count:{5 TO 10]", {"six"}),
    ("logins_count:[-5 TO 0]", {"zoe"}),
    ("logins_count:[* TO *]", EVERYONE - {"five"}),
    ("(NOT _exists_:logins_count OR logins_count:0)", {"five", "zoe"}),
    ("logins_count:([0 TO 5] OR [1000 TO *])", {"zoe", "jane", "ann"}),
    # Dates: partial values name whole periods; bounds round like Elasticsearch.
    ("created_at:2017", {"jane", "six"}),
    ("created_at:2017-11", {"jane"}),
    ("created_at:2020-02-29", {"ann"}),
    ('created_at:"2020-02-29T13:00:00+01:00"', {"ann"}),
    ("created_at:2016-05-05T05:05:05.005Z", {"five"}),
    ("created_at:[2016 TO 2016]", {"five"}),
    ("created_at:[2017-12-01 TO 2018-06-01]", {"six", "john"}),
    ("created_at:[2017-12-01 TO 2018-06-01}", {"six"}),
    ("created_at:{2017-12-01 TO 2018-06-01]", {"john"}),
    ("last_login:{2017-11 TO 2017-12]", {"jane"}),
    ("last_login:[2017-11 TO 2017-12]", {"jane", "six"}),
    ("last_login:[* TO 2017-12-31]", {"jane", "six"}),
    ("last_login:[* TO 2017-12-31}", {"six"}),
    ("updated_at:[2018-01-15 TO *]", {"jane", "john", "zoe", "ann"}),
    ("NOT _exists_:last_login", {"zoe", "five"}),
    # Text ranges.
    ("family_name:[a TO m]", {"john", "ann", "six"}),
    ("family_name:[doe TO lee}", {"john"}),
    ("user_id:[auth0|500 TO *]", {"five", "six", "zoe", "john", "ann"}),
    # _exists_ (null, empty arrays and empty objects are not indexed).
    ("_exists_:email", EVERYONE - {"five"}),
    ("_exists_:email.domain", EVERYONE - {"five"}),
    ("_exists_:username", {"jane", "five"}),
    ("_exists_:user_metadata.consent", {"jane", "six"}),
    ("_exists_:user_metadata.preferences.fontSize", {"jane", "john"}),
    ("_exists_:user_metadata", {"jane", "john", "zoe", "five", "six"}),
    ("_exists_:app_metadata.flags", set()),
    ("_exists_:user_metadata.nothing", set()),
    ("_exists_:user_metadata.empty", set()),
    ("_exists_:app_metadata.plan", EVERYONE),
    ("_exists_:identities.provider", EVERYONE),
    ("_exists_:(username OR blocked)", {"jane", "five", "zoe", "ann"}),
    # Metadata: dotted paths, arrays flattened, exact and case-sensitive.
    ('app_metadata.plan:"gold"', {"jane", "five"}),
    ("app_metadata.plan:gold", {"jane", "five"}),
    ("app_metadata.plan:Gold", {"john"}),
    ("app_metadata.plan:GOLD", set()),
    ('app_metadata.plan:""', {"six"}),
    ("app_metadata.roles:admin", {"jane", "five"}),
    ("app_metadata.roles:support", {"ann"}),
    ("app_metadata.seats:3", {"jane", "john"}),
    ("user_metadata.preferences.fontSize:13", {"jane"}),
    ("user_metadata.preferences.fontSize:13.5", {"john"}),
    ("user_metadata.addresses.city:Lyon", {"jane"}),
    ('user_metadata.addresses.city:"Paris"', {"jane"}),
    ("user_metadata.consent.given:true", {"jane"}),
    ('user_metadata.note:"a*b?c[d]"', {"zoe"}),
    ('user_metadata.path:"C:\\\\dir"', {"five"}),
    ("user_metadata.nothing:null", set()),
    # Identities: the first connection is a column, later ones are terms.
    (f'identities.connection:"{UPA}"', {"jane", "john", "five", "six"}),
    (f"identities.connection:{UPA}", {"jane", "john", "five", "six"}),
    ("identities.connection:github", {"zoe"}),
    ("identities.provider:auth0", {"jane", "john", "five", "six"}),
    ("identities.isSocial:true", {"john", "zoe"}),
    ("identities.user_id:300", {"zoe"}),
    ("organization_id:org_1", set()),
    ("NOT organization_id:org_1", EVERYONE),
    # Operators, grouping and precedence (AND binds tighter than OR; implicit operator is AND).
    ("name:jane* OR name:john*", {"jane", "john"}),
    ("email_verified:true OR blocked:true AND logins_count:0", {"jane", "ann", "zoe"}),
    ("(email_verified:true OR blocked:true) AND logins_count:0", {"zoe"}),
    ("name:jane* email_verified:true", {"jane"}),
    ("name:jo* email_verified:true", set()),
    ("email_verified:true AND NOT name:ann*", {"jane"}),
    ("NOT email_verified:true", {"john", "zoe", "five", "six"}),
    ("-email_verified:true", {"john", "zoe", "five", "six"}),
    ("NOT (blocked:true OR email_verified:true)", {"john", "five", "six"}),
    ("NOT NOT blocked:true", {"zoe"}),
    (f"+identities.connection:{UPA} -email_verified:true", {"john", "five", "six"}),
    ('email:("jane.smith@example.com" OR "ann@acme.com")', {"jane", "ann"}),
    ("name:(jane* OR ann*)", {"jane", "ann"}),
    ("nickname:(NOT jane AND NOT ann)", {"john", "zoe", "five", "six"}),
    # Values that look like SQL stay values.
    ('name:"\'; DROP TABLE sandbox_tenantuser; --"', set()),
    ('name:"x\') OR 1=1 --"', set()),
]


@pytest.mark.django_db(databases=["sandbox"])
@pytest.mark.parametrize(("q", "expected"), CASES, ids=[case[0] for case in CASES])
def test_query_finds_exactly(tenant: None, q: str, expected: set[str]) -> None:
    assert set(search(q)) == expected


ERRORS: list[tuple[str, str]] = [
    ('name:"unterminated', "never closed"),
    ('name:abc"', "unbalanced quote"),
    ("(name:jane", "ends too early"),
    ("name:jane AND", "ends too early"),
    ("AND", "AND is an operator (upper case)"),
    ("jane OR OR john", "unexpected 'OR' at position 8"),
    ("name:jane)", "unexpected ')'"),
    ("name:a\\", "backslash"),
    ("name:*th", "at least 3 characters"),
    ("*ab", "at least 3 characters"),
    ("name:*o*", "at least 3 characters"),
    ("name:jo?n", "? wildcard is not supported"),
    ("phone_number:+15551234567", 'quote it or escape it (phone_number:"+..."'),
    ("name:-x", "puts an operator where a value should be"),
    ("foo:bar", 'Cannot search "foo": unknown field.'),
    ("connection:github", "did you mean identities.connection?"),
    ("emial:x", "did you mean email?"),
    ("picture:x", "picture is not searchable"),
    ("app_metadata:gold", "by its path"),
    ("identities.access_token:x", "searchable identity fields"),
    ("app_metadata.plan:gol*", "Wildcards are not supported on metadata"),
    ("app_metadata.plan:*", "_exists_:app_metadata.plan"),
    ("user_metadata.preferences.fontSize:[1 TO 20]", "Ranges are not supported on metadata"),
    ("app_metadata.seats:{1 TO *]", "Ranges are not supported on metadata"),
    ("[a TO b]", "needs a field name"),
    ("blocked:[false TO true]", "Ranges are not supported on blocked"),
    ("blocked:yes", "true or false"),
    ("logins_count:many", "takes an integer"),
    ("logins_count:[1 TO x]", "takes an integer"),
    ("logins_count:1*", "only supported on text fields"),
    ("created_at:2017*", "use a range"),
    ("created_at:yesterday", "ISO-8601"),
    ("created_at:2019-02-29", "not a valid date"),
    ("name:jane~", "Fuzzy"),
    ('name:"jane smith"~2', "Fuzzy and proximity"),
    ("name:jane^2", "Boosts"),
    ("name:/ja.e/", "Regular expressions"),
    ("logins_count:>5", "use a range"),
    ("email:(name:x)", "cannot contain another field"),
    ("name*:x", "Wildcards in field names"),
    ("*:x", "only supported as *:*"),
    ("_exists_:foo", 'Cannot search "foo"'),
    ("_exists_:user_meta*", "Wildcards are not supported in _exists_"),
    ("_exists_:[a TO b]", "_exists_ takes a field name"),
    ("jane && john", "use the operators AND, OR and NOT"),
    ("!jane", "use the operators AND, OR and NOT"),
    ("(" * 100 + "jane" + ")" * 100, "nested too deeply"),
]


@pytest.mark.parametrize(("q", "message"), ERRORS, ids=[case[0][:40] for case in ERRORS])
def test_invalid_query_is_refused_with_a_helpful_message(q: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(q)
    assert message in caught.value.message
    assert caught.value.error_code == "invalid_query_string"
    assert caught.value.status_code == 400


@pytest.mark.django_db(databases=["sandbox"])
@pytest.mark.parametrize("q", ["", "   ", None])
def test_blank_query_matches_everyone(tenant: None, q: str | None) -> None:
    where = compile_query(q)
    assert where == CompiledQuery("1", [])
    assert set(search(q or "")) == EVERYONE


def test_values_are_bound_never_interpolated() -> None:
    q = 'name:"\'; DROP TABLE x; --" OR app_metadata.plan:gold OR email:*@example.com'
    where = compile_query(q)
    assert "DROP" not in where.sql
    assert "gold" not in where.sql
    assert "example" not in where.sql
    assert where.sql.count("?") == len(where.params)
    sql, params = where  # the schema contract's tuple form still works
    assert (sql, params) == (where.sql, where.params)


def test_glob_metacharacters_and_case_are_prepared_for_sqlite() -> None:
    where = compile_query("name:ANN\\ \\[a\\?\\]*")
    # The literal prefix is lower-cased for a folded field and its metacharacters are escaped.
    assert where.params[-1] == "ann [[]a[?][]]*"
    assert "GLOB" in where.sql
    assert "LIKE" not in where.sql
    assert compile_query("username:Ab*").params[-1] == "Ab*"


def test_compiling_in_threads_gives_the_same_answers() -> None:
    queries = [case[0] for case in CASES] * 4
    expected = [compile_query(q) for q in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(compile_query, queries)) == expected


@pytest.mark.django_db(databases=["sandbox"])
@pytest.mark.parametrize(
    ("sort", "order"),
    [
        (None, ["jane", "john", "zoe", "ann", "five", "six"]),
        ("", ["jane", "john", "zoe", "ann", "five", "six"]),
        ("created_at:1", ["five", "jane", "six", "john", "zoe", "ann"]),
        ("created_at:-1", ["ann", "zoe", "john", "six", "jane", "five"]),
        # Users without the field come last in both directions.
        ("last_login:1", ["six", "jane", "john", "ann", "zoe", "five"]),
        ("last_login:-1", ["ann", "john", "jane", "six", "five", "zoe"]),
        ("logins_count:-1", ["ann", "john", "six", "jane", "zoe", "five"]),
        # Case-insensitive fields sort by their lower-cased value.
        ("name:1", ["five", "six", "ann", "jane", "john", "zoe"]),
        ("email.domain:1", ["ann", "jane", "six", "zoe", "john", "five"]),
    ],
)
def test_sort_orders_results_with_a_stable_tie_breaker(
    tenant: None, sort: str | None, order: list[str]
) -> None:
    assert search("*", sort) == order


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ("created_at", "does not match pattern"),
        ("created_at:2", "does not match pattern"),
        ("created at:1", "does not match pattern"),
        ("app_metadata.plan:1", "app_metadata and user_metadata fields cannot be used to sort"),
        ("user_metadata:-1", "cannot be used to sort"),
        ("foo:1", 'Cannot sort by "foo"'),
        ("identities.provider:1", 'Cannot sort by "identities.provider"'),
    ],
)
def test_invalid_sort_is_refused(sort: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        sort_clause(sort)
    assert message in caught.value.message


@pytest.mark.django_db(databases=["sandbox"])
@pytest.mark.parametrize(
    ("q", "seek"),
    [
        ("email:jane.smith@example.com", r"SEARCH u USING (COVERING )?INDEX \S*s_email\b"),
        ("name:jane*", r"SEARCH u USING (COVERING )?INDEX \S*s_name\b"),
        ("username:Jane*", r"SEARCH u USING (COVERING )?INDEX \S*s_username\b"),
        ("logins_count:[100 TO 200]", r"SEARCH u USING (COVERING )?INDEX \S*s_logins_count\b"),
        ("app_metadata.plan:gold", r"SEARCH t USING COVERING INDEX sandbox_term_path_value"),
        ("_exists_:user_metadata.consent", r"SEARCH t USING COVERING INDEX sandbox_term_path"),
        ("identities.connection:github", r"SEARCH u USING (COVERING )?INDEX \S*s_connection\b"),
    ],
)
def test_indexed_query_kinds_seek_an_index(q: str, seek: str) -> None:
    # SQLite's planner reads the statistics in sqlite_stat1, which live in the worker's shared
    # in-memory sandbox database and outlast the tests that wrote them (a flush keeps them).
    # A seeded tenant, analyzed as `seed_users` does, makes them this test's own; the
    # transaction rolls them back afterwards.
    seed_users(300, 9)
    where = compile_query(q)
    with connections["sandbox"].cursor() as cursor:
        # Only the WHERE clause is under test: a count has no ORDER BY to steer the plan.
        cursor.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM sandbox_tenantuser u"
            f" WHERE u.searchable = 1 AND ({where.sql_format('%s')})",
            where.params,
        )
        plan = " / ".join(str(row[3]) for row in cursor.fetchall())
    assert re.search(seek, plan), plan


@pytest.mark.django_db(databases=["sandbox"])
def test_walk_form_finds_the_same_users_as_the_indexed_form(tenant: None) -> None:
    for q, expected in CASES:
        walk = compile_query(q, walk=True)
        found = run(
            "SELECT u.user_id FROM sandbox_tenantuser u NOT INDEXED"
            f" WHERE u.searchable = 1 AND ({walk.sql}) ORDER BY u.id",
            walk.params,
        )
        assert set(found) == expected, q
    assert "EXISTS" in compile_query("app_metadata.plan:gold", walk=True).sql


def test_a_query_with_too_many_terms_is_refused() -> None:
    terms = " OR ".join(f"user{number}" for number in range(300))
    with pytest.raises(QueryError) as caught:
        compile_query(terms)
    assert "too many terms" in caught.value.message
    # Many terms are fine below the limit.
    assert len(compile_query(" OR ".join(f"user{n}" for n in range(100))).params) == 800
