"""Exact search exports against a real sandbox server: its search is the oracle.

A sandbox of 2,500 users (search lag off, rate limits off) answers `GET /api/v2/users` and
runs the export jobs. For many generated queries (every field kind, operator, negation,
wildcard, range, metadata path, array and letter case) the users the exact export keeps from
Auth0's file equal the users the search returns; the exact CSV equals the matching rows of a
plain CSV export of the same fields, byte for byte; and the whole flow runs on a real Celery
worker, from the search page's "Export all matching users" to the file.
"""

# ruff: noqa: F811 (test arguments named after the imported fixtures they receive)
from __future__ import annotations

import gzip
import io
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from django.test import Client

from exports import exact, formats, matching
from exports.csvformat import record_end, unescape_raw_cell
from exports.fields import EXPORTABLE_FIELDS
from exports.formats import CSV
from exports.models import Export, Status
from tests.fixtures.celery import wait_for
from tests.fixtures.exact_exports import (  # noqa: F401 (fixtures)
    DATABASE,
    SEARCH_WINDOW,
    USERS,
    api,
    job_file,
    oracle,
    search,
    tenant,
    use_tenant,
)
from tests.fixtures.exports import builder_post
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import fragment_text

# Every searchable profile field, and the metadata and identities whole (NDJSON only).
ALL_FIELDS = [{"name": name} for name in EXPORTABLE_FIELDS if name not in matching.NOT_SEARCHABLE]
SCALAR_FIELDS = [item for item in ALL_FIELDS if item["name"] not in matching.METADATA_ROOTS]
SCALAR_FIELDS = [item for item in SCALAR_FIELDS if item["name"] != "identities"]
# What a CSV export of people asks for: renamed titles, dates, numbers, booleans, leaf paths.
CSV_FIELDS = [
    {"name": "user_id", "export_as": "Id"},
    {"name": "email"},
    {"name": "name"},
    {"name": "nickname"},
    {"name": "created_at"},
    {"name": "last_login"},
    {"name": "logins_count"},
    {"name": "email_verified"},
    {"name": "user_metadata.consent.given"},
    {"name": "user_metadata.consent.text_details", "export_as": "Consent text"},
    {"name": "app_metadata.plan", "export_as": "Plan"},
    {"name": "identities[0].connection", "export_as": "Connection"},
]


# --- The sandbox and its API ---------------------------------------------------------------


def connection_of(server: SandboxServer, name: str = DATABASE) -> dict[str, Any]:
    with server.api() as client:
        listed = client.get("/api/v2/connections").json()
    return next(c for c in listed if c["name"] == name)


@pytest.fixture(scope="module")
def full_ndjson(api: httpx.Client) -> bytes:
    return job_file(api, {"format": "json", "fields": ALL_FIELDS})


@pytest.fixture(scope="module")
def scalar_csv(api: httpx.Client) -> bytes:
    return job_file(api, {"format": "csv", "fields": SCALAR_FIELDS})


@pytest.fixture(scope="module")
def users(full_ndjson: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(full_ndjson).splitlines()]


def run_filter(source: bytes, q: str, fields: list[dict[str, str]], fmt: str) -> bytes:
    plan = exact.plan_job(q, fields, formats.get(fmt))
    out = io.BytesIO()
    result = exact.filter_file(io.BytesIO(source), out, plan=plan)
    data = gzip.decompress(out.getvalue())
    if fmt == "ndjson":
        assert result.matched == data.count(b"\n")
    return data


def ndjson_ids(data: bytes) -> set[str]:
    return {orjson.loads(line)["user_id"] for line in data.splitlines()}


def csv_records(data: bytes) -> list[bytes]:
    """Raw records (header first) of a CSV file, each with its newline."""
    records = []
    at = 0
    while at < len(data):
        end = record_end(data, at)
        records.append(data[at : end + 1])
        at = end + 1
    return records


def first_cell(record: bytes) -> str:
    return unescape_raw_cell(record.split(b",", 1)[0].rstrip(b"\n"))


# --- Generated queries ---------------------------------------------------------------------


def swap_case(text: str) -> str:
    return text.swapcase()


def generated_queries(people: list[dict[str, Any]], seed: int = 20261201) -> list[str]:
    rng = random.Random(seed)

    def some(field: str) -> Any:
        values = [p[field] for p in people if isinstance(p.get(field), str | int | bool)]
        return rng.choice(values)

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def escaped(text: str) -> str:
        return "".join("\\" + c if not c.isalnum() else c for c in text)

    queries: list[str] = []
    for field in (
        "email",
        "name",
        "given_name",
        "family_name",
        "nickname",
        "username",
        "user_id",
        "phone_number",
        "last_ip",
    ):
        for _ in range(2):
            value = str(some(field))
            queries.append(f"{field}:{quoted(value)}")
            queries.append(f"{field}:{quoted(swap_case(value))}")  # folded fields only match
            queries.append(f"{field}:{escaped(value)}")
            if len(value) >= 6:
                queries.append(f"{field}:{escaped(value[:4])}*")
                queries.append(f"{field}:{escaped(swap_case(value[:4]))}*")
                queries.append(f"{field}:*{escaped(value[-4:])}")
                queries.append(f"{field}:*{escaped(value[2:5])}*")
                queries.append(f"{field}:{escaped(value[:2])}*{escaped(value[-2:])}")
        queries.append(f"_exists_:{field}")
        queries.append(f"NOT _exists_:{field}")
        queries.append(f"{field}:*")
    queries.append(f"{field}:[a TO c}}")
    queries += ["name:[a TO b]", "email:{x TO *]", "nickname:[* TO B]", "user_id:auth0*"]
    domain = str(some("email")).rsplit("@", 1)[1]
    queries += [f"email.domain:{quoted(domain)}", f"email.domain:{quoted(domain.upper())}"]
    queries += ["email.domain:example*", "NOT email.domain:gmail.com AND logins_count:[3 TO 9]"]
    for flag in ("email_verified", "phone_verified", "blocked"):
        queries += [f"{flag}:true", f"{flag}:false", f"NOT {flag}:true", f"_exists_:{flag}"]
    queries += ["email_verified:(true OR false)", "blocked:true OR phone_verified:true"]
    for _ in range(4):
        low = rng.randrange(0, 20)
        high = low + rng.randrange(1, 200)
        queries += [
            f"logins_count:{low}",
            f"logins_count:[{low} TO {high}]",
            f"logins_count:{{{low} TO {high}}}",
            f"logins_count:[{low} TO {high}}}",
            f"logins_count:{{{high} TO *]",
            f"logins_count:[* TO {low}}}",
        ]
    queries += ["logins_count:0", "NOT _exists_:logins_count", "logins_count:(1 OR 2 OR 3)"]
    for field in ("created_at", "updated_at", "last_login"):
        value = str(some(field))
        year = rng.randrange(2016, 2027)
        queries += [
            f"{field}:{year}",
            f"{field}:{year}-{rng.randrange(1, 13):02d}",
            f"{field}:[{year}-03 TO {year}-05]",
            f"{field}:{{{year}-03 TO {year}-05}}",
            f"{field}:[{year}-02-10 TO {year}-02-20}}",
            f"{field}:{{{year}-11-30 TO *]",
            f"{field}:[* TO {year - 5}-06-01T12:00:00Z]",
            f"{field}:{quoted(value)}",
            f"{field}:{escaped(value)}",
            f"{field}:[{value[:10]} TO {value[:10]}]",
        ]
    # Metadata: exact values, numbers, booleans, arrays, nested paths, case, existence.
    for person in rng.sample(people, 6):
        app = person.get("app_metadata") or {}
        if app.get("plan"):
            queries += [
                f"app_metadata.plan:{app['plan']}",
                f"app_metadata.plan:{swap_case(app['plan'])}",
            ]
        if app.get("country"):
            queries.append(f"app_metadata.country:{quoted(app['country'])}")
        for role in app.get("roles") or []:
            queries.append(f"app_metadata.roles:{quoted(role)}")
        if app.get("seats"):
            queries += [
                f"app_metadata.seats:{app['seats']}",
                f"app_metadata.seats:{app['seats']}.0",
            ]
        meta = person.get("user_metadata") or {}
        language = (meta.get("preferences") or {}).get("language")
        if language:
            queries.append(f"user_metadata.preferences.language:{quoted(language)}")
        text = (meta.get("consent") or {}).get("text_details")
        if text:
            queries.append(f"user_metadata.consent.text_details:{quoted(text)}")
        consent_date = (meta.get("consent") or {}).get("date")
        if consent_date:
            queries.append(f"user_metadata.consent.date:{quoted(consent_date)}")
    queries += [
        "app_metadata.billing.annual:true",
        "app_metadata.billing.discount:0.15",
        "app_metadata.billing.discount:0.150",
        'user_metadata.addresses.city:"Paris"',
        'user_metadata.addresses.city:"paris"',
        "user_metadata.addresses.zip:75001",
        "user_metadata.addresses.primary:false",
        "user_metadata.consent.given:false",
        "user_metadata.preferences.newsletter:true AND NOT user_metadata.consent.given:true",
        "_exists_:user_metadata.addresses",
        "_exists_:user_metadata.bio",
        "_exists_:user_metadata.score",
        "_exists_:user_metadata.deleted_reason",
        "_exists_:user_metadata.preferences.theme",
        "_exists_:app_metadata.billing",
        "NOT _exists_:app_metadata",
        "_exists_:app_metadata.roles",
        "app_metadata.plan:(enterprise OR free) AND email_verified:false",
        "-app_metadata.country:FR AND +blocked:true",
    ]
    # Identities: every identity's connection, provider, id and isSocial.
    connections = sorted({i["connection"] for p in people for i in p.get("identities") or []})
    providers = sorted({i["provider"] for p in people for i in p.get("identities") or []})
    for name in connections:
        queries += [
            f"identities.connection:{quoted(name)}",
            f"identities.connection:{escaped(name[:5])}*",
        ]
    for name in providers:
        queries.append(f"identities.provider:{quoted(name)}")
    two = [p for p in people if len(p.get("identities") or []) > 1]
    if two:
        second = two[0]["identities"][1]
        queries += [
            f"identities.connection:{quoted(second['connection'])} AND email_verified:true",
            f"identities.user_id:{quoted(str(second['user_id']))}",
        ]
    queries += ["identities.isSocial:true", "identities.isSocial:false", "_exists_:identities"]
    queries += ["organization_id:org_123", "NOT organization_id:org_123 AND blocked:true"]
    # Combinations of atoms with AND / OR / NOT and grouping.
    atoms = [q for q in queries if " " not in q and len(q) < 60]
    for _ in range(60):
        a, b, c = rng.sample(atoms, 3)
        shape = rng.randrange(5)
        queries.append(
            [
                f"{a} AND {b}",
                f"{a} OR {b} AND {c}",
                f"NOT ({a} OR {b})",
                f"({a} OR {b}) AND NOT {c}",
                f"{a} {b}",
            ][shape]
        )
    return list(dict.fromkeys(queries))


def test_every_generated_query_keeps_what_the_sandbox_search_returns(
    api: httpx.Client, full_ndjson: bytes, scalar_csv: bytes, users: list[dict[str, Any]]
) -> None:
    queries = generated_queries(users)
    compared = matched_some = matched_none = from_csv = 0
    mismatches: list[str] = []
    for q in queries:
        try:
            query = matching.compile_query(q)
        except matching.Unanswerable as exc:
            pytest.fail(f"{q!r} was refused: {exc.reason}")
        total, expected = search(api, q)
        if total >= SEARCH_WINDOW:
            continue
        kept = ndjson_ids(run_filter(full_ndjson, q, ALL_FIELDS, "ndjson"))
        if kept != expected:
            mismatches.append(f"{q}: {len(kept)} kept, {len(expected)} searched")
        if query.scalar:
            csv_kept = {
                first_cell(r)
                for r in csv_records(run_filter(scalar_csv, q, SCALAR_FIELDS, "csv"))[1:]
            }
            if csv_kept != expected:
                mismatches.append(f"{q} (from CSV): {len(csv_kept)} kept, {len(expected)} searched")
            from_csv += 1
        compared += 1
        matched_some += bool(expected)
        matched_none += not expected
    assert not mismatches, "\n".join(mismatches)
    assert compared >= 250
    assert matched_some >= 150
    assert matched_none >= 20
    assert from_csv >= 100


CSV_QUERIES = [
    "email_verified:false AND logins_count:[2 TO 40]",  # from a CSV job
    'nickname:*ann* OR name:"o\'brien"',
    "created_at:[2019 TO 2020-06}",
    'user_metadata.addresses.city:"Paris"',  # from an NDJSON job: arrays
    "app_metadata.roles:admin OR identities.connection:github",
    "_exists_:user_metadata.bio OR email.domain:example.com",
]


@pytest.mark.parametrize("q", CSV_QUERIES)
def test_the_exact_csv_is_the_plain_exports_rows_byte_for_byte(api: httpx.Client, q: str) -> None:
    plain = gzip.decompress(job_file(api, {"format": "csv", "fields": CSV_FIELDS}))
    plan = exact.plan_job(q, CSV_FIELDS, CSV)
    body = {"format": plan.source_format.auth0_name}
    source = job_file(api, {**body, "fields": plan.auth0_fields()})
    out = io.BytesIO()
    result = exact.filter_file(io.BytesIO(source), out, plan=plan)
    made = gzip.decompress(out.getvalue())

    expected_ids = oracle(api, q)
    records = csv_records(plain)
    expected = records[0] + b"".join(r for r in records[1:] if first_cell(r) in expected_ids)
    assert made == expected
    assert result.matched == len(expected_ids)
    assert result.scanned == USERS
    assert expected_ids, "a query that matches nobody proves little here"


def test_the_source_format_follows_what_the_query_reads() -> None:
    assert exact.plan_job("email_verified:true", CSV_FIELDS, CSV).source_format.name == "csv"
    metadata = exact.plan_job("app_metadata.plan:gold", CSV_FIELDS, CSV)
    assert metadata.source_format.name == "ndjson"
    assert metadata.auth0_fields()[-1] == {"name": "app_metadata"}
    assert (
        exact.plan_job("identities.isSocial:true", CSV_FIELDS, CSV).source_format.name == "ndjson"
    )


# --- The form --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ("jane", "has no field name"),
        ("email_verified:true OR smith", "has no field name"),
        ("name:j?ne", "The ? wildcard is not supported"),
        ("user_metadata.plan:gol*", "does not support wildcards on metadata"),
        ("app_metadata.seats:[1 TO 5]", "does not support ranges on metadata"),
        ("name:*ab", "at least 3"),
        ("name:jane~", "Fuzzy"),
        ("favourite_colour:blue", "Unknown field"),
        ("picture:x", "not searchable"),
        ("email:(a OR", "does not parse"),
    ],
)
def test_a_query_it_cannot_answer_is_refused_at_the_field(
    use_tenant: SandboxServer, admin_client_: Client, q: str, reason: str
) -> None:
    data = builder_post([("email", "")], match_query=q)
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    html = response.content.decode()
    errors = html.split('name="match_query"')[0].rsplit("<label", 1)[1]
    assert "This query cannot be exported exactly" in errors
    assert reason in errors
    assert not Export.objects.exists()


def test_a_limit_cannot_go_with_a_query(use_tenant: SandboxServer, admin_client_: Client) -> None:
    data = builder_post([("email", "")], match_query="blocked:true", limit="10")
    html = admin_client_.post("/t/userdesk-sandbox/exports/new/", data).content.decode()
    assert "Auth0 would cut the users it reads, not the matches" in html
    assert not Export.objects.exists()


@pytest.mark.usefixtures("fresh_cache")
def test_export_all_matching_users_opens_an_exact_export_of_that_search(
    use_tenant: SandboxServer, admin_client_: Client
) -> None:
    """The defect: the button opened an export of the whole connection labelled "From the
    search ...". It now opens the builder with the query, the connection and the columns."""
    q = "NOT blocked:true"
    html = admin_client_.get(
        "/t/userdesk-sandbox/users/", {"q": q, "connection": DATABASE, "columns": ["email", "name"]}
    ).content.decode()
    assert "1,000+ users match" in fragment_text(html)
    link = html.split("Export all matching users")[0].rsplit('href="', 1)[1].split('"', 1)[0]
    url = urlsplit(link.replace("&amp;", "&"))
    assert url.path == "/t/userdesk-sandbox/exports/new/"

    opened = admin_client_.get(f"{url.path}?{url.query}")
    builder = opened.content.decode()
    # The query the search sent: the connection filter is part of it.
    sent = f'({q}) AND identities.connection:"{DATABASE}"'
    assert opened.context["form"].initial["match_query"] == sent
    assert 'value="(NOT blocked:true) AND identities.connection:&quot;' in builder
    assert "this export takes every user of the connection" not in builder
    assert "Only the users matching" in builder
    form = opened.context["form"]
    assert [row.name for row in form.field_rows.rows if row.on] == ["user_id", "email", "name"]
    connection_id = [connection_of(use_tenant)]
    assert form.initial["connection"] == connection_id[0]["id"]

    data = builder_post(
        [("user_id", ""), ("email", ""), ("name", "")],
        connection=connection_id[0]["id"],
        match_query=sent,
    )
    assert admin_client_.post("/t/userdesk-sandbox/exports/new/", data).status_code == 302
    export = Export.objects.get()
    assert export.match_query == sent
    assert export.spec.auth0_body()["connection_id"] == connection_id[0]["id"]
    assert "limit" not in export.spec.auth0_body()


# --- End to end, on a real worker --------------------------------------------------------------


def ready(export_id: int) -> Export:
    def settled() -> Export | None:
        export = Export.objects.get(pk=export_id)
        return export if export.is_settled else None

    export: Export = wait_for(settled, timeout=120, every=0.1)
    assert export.status == Status.READY, export.failure_reason
    return export


@pytest.mark.slow
@pytest.mark.usefixtures("export_settings")
def test_a_search_past_the_window_becomes_a_file_of_exactly_its_users(
    celery_worker: Any,
    use_tenant: SandboxServer,
    admin_client_: Client,
    api: httpx.Client,
    settings: Any,
) -> None:
    settings.EXPORT_LEASE_SECONDS = 5
    q = "NOT blocked:true"
    connection = connection_of(use_tenant)
    total, _ = search(api, q, connection=DATABASE)
    expected = oracle(api, f"({q}) AND identities.connection:{DATABASE}")
    assert total >= SEARCH_WINDOW
    assert len(expected) > SEARCH_WINDOW

    data = builder_post(
        [("user_id", "Id"), ("email", "")], connection=connection["id"], match_query=q
    )
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 302
    export = ready(Export.objects.get().pk)
    with export.open_file() as kept:
        rows = csv_records(gzip.decompress(kept.read()))
    assert rows[0] == b"Id,email\n"
    assert {first_cell(row) for row in rows[1:]} == expected
    assert export.row_count == export.matched_count == len(expected)
    in_connection = sum(1 for u in users_of(api, connection["name"]))
    assert export.scanned_count == in_connection
    statuses = [event.status for event in export.events.all()]
    assert statuses.index(Status.FILTERING) > statuses.index(Status.DOWNLOADING)
    assert statuses.index(Status.VERIFYING) > statuses.index(Status.FILTERING)

    detail = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    text = fragment_text(detail)
    assert f"scanned {in_connection:,} users, {len(expected):,} matches" in text
    assert "eventually consistent" in text
    assert q in text
    about = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/about/")
    assert about.status_code == 200
    words = about.content.decode()
    assert f"Query:       {q}" in words
    assert f"{len(expected):,} of {in_connection:,} users scanned" in words
    assert "eventually consistent" in words
    assert DATABASE in words
    assert "exact-search" in about["Content-Disposition"]
    served = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/uncompressed/")
    assert (
        "exact-search-username-password-authentication-snapshot-" in served["Content-Disposition"]
    )


def users_of(api: httpx.Client, connection: str) -> Iterator[dict[str, Any]]:
    data = gzip.decompress(job_file(api, {"format": "json", "fields": [{"name": "identities"}]}))
    for line in data.splitlines():
        record = orjson.loads(line)
        if any(i.get("connection") == connection for i in record.get("identities") or []):
            yield record


@pytest.mark.slow
@pytest.mark.usefixtures("export_settings")
def test_an_ndjson_exact_export_of_a_metadata_search(
    celery_worker: Any,
    use_tenant: SandboxServer,
    admin_client_: Client,
    api: httpx.Client,
    settings: Any,
) -> None:
    settings.EXPORT_LEASE_SECONDS = 5
    q = 'user_metadata.addresses.city:"Lyon" OR app_metadata.roles:admin'
    data = builder_post(
        [("user_id", ""), ("app_metadata.plan", "Plan")], fmt="ndjson", match_query=q
    )
    assert admin_client_.post("/t/userdesk-sandbox/exports/new/", data).status_code == 302
    export = ready(Export.objects.get().pk)
    with export.open_file() as kept:
        lines = [orjson.loads(line) for line in gzip.decompress(kept.read()).splitlines()]
    assert {line["user_id"] for line in lines} == oracle(api, q)
    assert all(set(line) <= {"user_id", "Plan"} for line in lines)
    assert export.scanned_count == USERS

    # Filtering its rows again makes a derivative of this file: no new job, no search query.
    conditions = {"c-TOTAL_FORMS": "5", "c-INITIAL_FORMS": "0", "c-0-column": "Plan"}
    conditions.update({"c-0-operator": "equals", "c-0-value": "enterprise"})
    assert (
        admin_client_.post(
            f"/t/userdesk-sandbox/exports/{export.pk}/derive/", conditions
        ).status_code
        == 302
    )
    child = ready(Export.objects.get(parent=export).pk)
    assert child.match_query == ""
    assert not child.auth0_job_id
    assert child.row_count == sum(1 for line in lines if line.get("Plan") == "enterprise")


def test_csv_values_with_commas_quotes_and_newlines_keep_their_bytes() -> None:
    fields = [{"name": "user_id", "export_as": "Id"}, {"name": "name"}, {"name": "blocked"}]
    rows = [
        b'"\'auth0|1","\'Smith, Jr.",true\n',
        b'"\'auth0|2","\'line one\nline two",false\n',
        b'"\'auth0|3","\'Jo""e ""the boss""",true\n',
        b'"\'auth0|4","\'=HYPERLINK(""http://evil"")",\n',
        b'"\'auth0|5","\'plain",true\n',
    ]
    source = gzip.compress(b"Id,name,blocked\n" + b"".join(rows))
    kept = run_filter(source, "blocked:true", fields, "csv")
    assert kept == b"Id,name,blocked\n" + rows[0] + rows[2] + rows[4]
    kept = run_filter(source, 'name:"line one\nline two" OR name:*boss*', fields, "csv")
    assert kept == b"Id,name,blocked\n" + rows[1] + rows[2]
    # Only the chosen columns are written: the query's own column is dropped.
    out = io.BytesIO()
    plan = exact.plan_job("NOT blocked:true", fields[:2], CSV)
    assert plan.auth0_fields()[-1] == {"name": "blocked"}
    exact.filter_file(io.BytesIO(source), out, plan=plan)
    assert gzip.decompress(out.getvalue()) == (
        b'Id,name\n"\'auth0|2","\'line one\nline two"\n"\'auth0|4","\'=HYPERLINK(""http://evil"")"\n'
    )


def test_metadata_equality_reads_values_at_the_path_and_existence_under_it() -> None:
    query = matching.compile_query("app_metadata.billing:true")
    match = query.bind({"app_metadata": lambda record: record.get("app_metadata")})
    assert not match({"app_metadata": {"billing": {"annual": True}}})
    assert match({"app_metadata": {"billing": [False, True]}})
    exists = matching.compile_query("_exists_:app_metadata.billing")
    present = exists.bind({"app_metadata": lambda record: record.get("app_metadata")})
    assert present({"app_metadata": {"billing": {"annual": False}}})
    assert not present({"app_metadata": {"billing": {"notes": None, "tags": []}}})
