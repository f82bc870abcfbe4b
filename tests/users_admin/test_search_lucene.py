"""The builder's compilation to Lucene: table-driven, escaping included."""

from __future__ import annotations

import pytest
from luqum.thread import parse

from users_admin.lucene import Condition, Op, QueryError, compile_condition, compile_query

CASES = [
    # (condition, expected Lucene)
    (Condition("email", Op.IS, "jane@example.com"), 'email:"jane@example.com"'),
    (Condition("name", Op.IS, "Jane Smith"), 'name:"Jane Smith"'),
    (Condition("name", Op.IS, 'Jo "JJ" Doe'), r'name:"Jo \"JJ\" Doe"'),
    (Condition("name", Op.IS, "back\\slash"), r'name:"back\\slash"'),
    (Condition("phone_number", Op.IS, "+14155550100"), 'phone_number:"+14155550100"'),
    (Condition("phone_number", Op.STARTS_WITH, "+1415"), r"phone_number:\+1415*"),
    (Condition("name", Op.STARTS_WITH, "Jane Sm"), r"name:Jane\ Sm*"),
    (Condition("email", Op.ENDS_WITH, "@example.com"), "email:*@example.com"),
    (Condition("email", Op.CONTAINS, "a+b"), r"email:*a\+b*"),
    (Condition("name", Op.CONTAINS, "(x) [y]: z"), r"name:*\(x\)\ \[y\]\:\ z*"),
    (Condition("nickname", Op.STARTS_WITH, "a*b?c"), r"nickname:a\*b\?c*"),
    (Condition("user_id", Op.STARTS_WITH, "auth0|"), r"user_id:auth0\|*"),
    (Condition("logins_count", Op.IS, "5"), "logins_count:5"),
    (Condition("logins_count", Op.BETWEEN, "10", ""), "logins_count:[10 TO *]"),
    (Condition("logins_count", Op.BETWEEN, "", "3"), "logins_count:[* TO 3]"),
    (
        Condition("last_login", Op.BETWEEN, "2024-01-01", "2024-02"),
        "last_login:[2024-01-01 TO 2024-02]",
    ),
    (
        Condition("created_at", Op.BETWEEN, "2024-01-01T10:00:00Z", ""),
        'created_at:["2024-01-01T10:00:00Z" TO *]',
    ),
    (Condition("logins_count", Op.BETWEEN, "10", "10"), "logins_count:[10 TO 10]"),
    (
        Condition("created_at", Op.BETWEEN, "2024-02-05", "2024-02"),
        "created_at:[2024-02-05 TO 2024-02]",
    ),
    (Condition("email_verified", Op.IS_TRUE), "email_verified:true"),
    (Condition("blocked", Op.IS_FALSE), "blocked:false"),
    (Condition("blocked", Op.IS_TRUE, negate=True), "NOT blocked:true"),
    (Condition("phone_number", Op.EXISTS), "_exists_:phone_number"),
    (Condition("phone_number", Op.MISSING), "NOT _exists_:phone_number"),
    (Condition("phone_number", Op.MISSING, negate=True), "_exists_:phone_number"),
    (Condition("email", Op.IS, "x@y.z", negate=True), 'NOT email:"x@y.z"'),
    (Condition("app_metadata.plan", Op.IS, "gold"), 'app_metadata.plan:"gold"'),
    (Condition("user_metadata.display.fontSize", Op.IS, "13"), "user_metadata.display.fontSize:13"),
    (Condition("app_metadata.vip", Op.IS_TRUE), "app_metadata.vip:true"),
    (Condition("user_metadata.prefs", Op.EXISTS), "_exists_:user_metadata.prefs"),
    (
        Condition("identities.connection", Op.IS, "google-oauth2"),
        'identities.connection:"google-oauth2"',
    ),
]


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_condition_compiles(condition: Condition, expected: str) -> None:
    compiled = compile_condition(condition)
    assert compiled == expected
    parse(compiled)  # valid Lucene, as the sandbox and Auth0 parse it


ERRORS = [
    (Condition("email", Op.IS, "   "), "Enter a value"),
    (Condition("name", Op.ENDS_WITH, "ab"), "at least 3"),
    (Condition("name", Op.CONTAINS, "ab"), "at least 3"),
    (Condition("user_metadata.city", Op.STARTS_WITH, "Par"), "no wildcards or ranges"),
    (Condition("app_metadata.score", Op.BETWEEN, "1", "2"), "no wildcards or ranges"),
    (Condition("name", Op.BETWEEN, "a", "b"), "numbers and dates"),
    (Condition("logins_count", Op.BETWEEN, "", " "), "at least one end"),
    (Condition("logins_count", Op.BETWEEN, "50", "10"), "from 50 down to 10"),
    (Condition("created_at", Op.BETWEEN, "2024-03-01", "2024-02"), "runs backwards"),
    (Condition("created_at", Op.BETWEEN, "2025", "2024-12-31"), "runs backwards"),
    (Condition("created_at", Op.GREATER, "2024-02-30"), "no day of the calendar"),
    (Condition("last_login", Op.LESS, "2024-13"), "no day of the calendar"),
    (Condition("name", Op.IS_TRUE), "yes/no"),
    (Condition("password", Op.IS, "x"), "not a searchable field"),
    (Condition("app_metadata", Op.IS, "x"), "not a searchable field"),
    (Condition("app_metadata.a b", Op.IS, "x"), "not a searchable field"),
]


@pytest.mark.parametrize(("condition", "message"), ERRORS)
def test_inexpressible_rows_are_refused(condition: Condition, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        compile_condition(condition)


QUERIES = [
    ([], "AND", "", ""),
    ([], "AND", "google-oauth2", 'identities.connection:"google-oauth2"'),
    (
        [Condition("email", Op.ENDS_WITH, "@example.com"), Condition("blocked", Op.IS_TRUE)],
        "AND",
        "",
        "email:*@example.com AND blocked:true",
    ),
    (
        [Condition("name", Op.IS, "A"), Condition("name", Op.IS, "B")],
        "OR",
        "Username-Password-Authentication",
        '(name:"A" OR name:"B") AND identities.connection:"Username-Password-Authentication"',
    ),
    (
        [Condition("name", Op.IS, "A"), Condition("name", Op.IS, "B")],
        "AND",
        "db",
        'name:"A" AND name:"B" AND identities.connection:"db"',
    ),
    ([Condition("name", Op.IS, "A")], "OR", "db", 'name:"A" AND identities.connection:"db"'),
    (
        [Condition("email_verified", Op.IS_TRUE, negate=True), Condition("email", Op.MISSING)],
        "OR",
        "",
        "NOT email_verified:true OR NOT _exists_:email",
    ),
]


@pytest.mark.parametrize(("conditions", "join", "connection", "expected"), QUERIES)
def test_query_joins_rows_and_narrows_to_a_connection(
    conditions: list[Condition], join: str, connection: str, expected: str
) -> None:
    query = compile_query(conditions, join=join, connection=connection)
    assert query == expected
    if query:
        parse(query)


def test_join_must_be_and_or_or() -> None:
    with pytest.raises(QueryError):
        compile_query([Condition("email", Op.EXISTS)], join="XOR")
