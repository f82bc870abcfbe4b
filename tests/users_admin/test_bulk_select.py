"""Choosing the users of a bulk run: a search query or an uploaded list, frozen as a snapshot.

The sandbox runs as a real HTTP server (search lag and rate limits off) and a real Celery
worker takes the snapshot; the sandbox's own search and export jobs are the oracle.
"""

# ruff: noqa: F811 (test arguments named after the imported fixtures they receive)
from __future__ import annotations

import html
import io
import re
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from exports.models import Export
from staff.models import AuditEvent
from tests.fixtures.bulk import everyone, selected, tenant, use_tenant  # noqa: F401 (fixtures)
from tests.fixtures.exact_exports import oracle
from tests.fixtures.sandbox import SandboxServer
from users_admin import bulk_list, bulk_rows, bulk_select
from users_admin.bulk_list import ListProblem, read_list
from users_admin.models import BulkRun, BulkRunStatus

# The bulk pages of the test tenant.
BULK = "/t/userdesk-sandbox/bulk"


# --- reading a list ------------------------------------------------------------------------


def entries(text: str) -> list[tuple[int, str, str]]:
    return [(e.line, e.kind, e.value) for e in read_list(io.BytesIO(text.encode()))]


def test_a_text_list_holds_ids_and_emails_one_a_line() -> None:
    text = "\ufeffauth0|1\n\n  Jane@Example.com \ngoogle-oauth2|99\n"
    assert entries(text) == [
        (1, "id", "auth0|1"),
        (3, "email", "jane@example.com"),
        (4, "id", "google-oauth2|99"),
    ]


def test_a_csv_list_reads_its_titled_column_else_the_first() -> None:
    titled = 'name,Email\n"Doe, Jane",jane@example.com\nBob,bob@example.com\n'
    assert entries(titled) == [(2, "email", "jane@example.com"), (3, "email", "bob@example.com")]
    untitled = "auth0|1,Jane\nauth0|2,Bob\n"
    assert entries(untitled) == [(1, "id", "auth0|1"), (2, "id", "auth0|2")]


def test_a_csv_cell_may_hold_line_breaks_as_database_tools_write_them() -> None:
    # As `sqlite3 -csv -header` writes a name with a line break and quotes: one record, the
    # line number its first line's.
    text = 'user_id,email,name\nauth0|1,a@example.com,"Marie\nDurand ""M"""\nauth0|2,,Bob\n'
    assert entries(text) == [(2, "id", "auth0|1"), (4, "id", "auth0|2")]


def test_a_quote_that_never_closes_is_refused_with_its_line() -> None:
    text = 'user_id,name\nauth0|1,"Marie\n' + "auth0|2,Bob\n" * 30
    with pytest.raises(ListProblem, match="Line 2 opens a quoted cell"):
        read_list(io.BytesIO(text.encode()))


@pytest.mark.parametrize("piece", [7, 64, 1 << 20])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_a_list_reads_the_same_in_any_piece_size_and_line_ending(
    monkeypatch: pytest.MonkeyPatch, piece: int, ending: str
) -> None:
    # Lines are split on commas while no quote was seen, then parsed as CSV from the piece
    # with the first quote on: the entries and their line numbers are the same either way.
    monkeypatch.setattr(bulk_list, "LIST_PIECE", piece)
    rows = ["user_id,email,name", "auth0|1,a@x.io,Ann", "", " ,, ", "auth0|2,b@x.io,Bob"]
    rows += ['auth0|3,c@x.io,"Marie', 'Durand, ""M"""', "auth0|4,,Dan", "auth0|5"]
    want = [(2, "id", "auth0|1"), (5, "id", "auth0|2"), (6, "id", "auth0|3")]
    want += [(8, "id", "auth0|4"), (9, "id", "auth0|5")]
    assert entries(ending.join(rows) + ending) == want
    plain = ["Jane@Example.com", "", "auth0|7", "bob@x.io"]
    assert entries(ending.join(plain)) == [
        (1, "email", "jane@example.com"),
        (3, "id", "auth0|7"),
        (4, "email", "bob@x.io"),
    ]


def test_the_list_process_writes_the_entries_or_says_what_is_wrong(tmp_path: Any) -> None:
    # What the selection runs beside the worker: `python -m users_admin.bulk_list LIST DB`.
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("auth0|1\nA@x.io\n")
    bad.write_text("auth0|1\nnot an address\n")
    root = Path(bulk_select.__file__).resolve().parent.parent
    for listed, answer in [(good, {"kinds": ["email", "id"]}), (bad, "line 2: “not an address”")]:
        db = tmp_path / f"{listed.stem}.sqlite3"
        done = subprocess.run(
            [sys.executable, "-m", "users_admin.bulk_list", str(listed), str(db)],
            cwd=root,
            capture_output=True,
            check=True,
        )
        if isinstance(answer, dict):
            assert orjson.loads(done.stdout) == answer
            rows = sqlite3.connect(db).execute("SELECT * FROM listed ORDER BY line").fetchall()
            assert rows == [(1, "id", "auth0|1"), (2, "email", "a@x.io")]
        else:
            assert answer in orjson.loads(done.stdout)["problem"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "The list is empty"),
        ("\n  \n", "The list is empty"),
        ("email\n", "The list is empty"),
        ("auth0|1\njane\nbob@\n", "line 2: “jane”; line 3: “bob@”"),
        ("x\n" * 7, "line 5: “x” and 2 more"),
        (b"\xff\xfe".decode("latin-1"), "not UTF-8"),
    ],
)
def test_a_bad_list_is_refused_with_its_lines(text: str, said: str) -> None:
    data = text.encode("latin-1") if "ÿ" in text else text.encode()
    with pytest.raises(ListProblem, match=said):
        read_list(io.BytesIO(data))


def test_a_snapshot_user_is_kept_as_its_whole_record_reads_it() -> None:
    # A few thousand users' ids and emails are read in one call; a batch with a line that
    # call cannot take (an id that is not a string, a blank line) is read line by line:
    # either way each user's line is kept as the export wrote it, and a block reads it back
    # with identities of four fields (no profile data).
    records: list[dict[str, Any]] = [
        {
            "user_id": "auth0|1",
            "email": "A.b@X.io",
            "email_verified": True,
            "app_metadata": {"é": '\u2028 "q"', "n": [1.5, None]},
            "identities": [
                {
                    "connection": "db",
                    "provider": "auth0",
                    "user_id": "1",
                    "isSocial": False,
                    "profileData": {"phone": "+1"},
                },
            ],
        },
        {"user_id": "auth0|2", "identities": None, "blocked": None},
        {"email": None, "multifactor": ["guardian"], "updated_at": "2025-01-01T00:00:00Z"},
        {"user_id": "sms|3", "email": "c@x.io", "identities": [{"provider": "sms"}, "odd"]},
        {"user_id": 4, "email": "d@x.io", "logins_count": 3},
    ]
    kept_identities = [
        [{"connection": "db", "provider": "auth0", "user_id": "1", "isSocial": False}],
        [],
        [],
        [{"provider": "sms"}],
        [],
    ]
    alone = [list(bulk_select.snapshot_lines([orjson.dumps(r) + b"\n"])) for r in records]
    together = list(bulk_select.snapshot_lines([b"\n\n".join(map(orjson.dumps, records)) + b"\n"]))
    cases = [*(([r], g) for r, g in zip(records, alone, strict=True)), (records, together)]
    for expected, got in cases:
        users = [user for batch in got for user in zip(*batch, strict=True)]
        assert len(users) == len(expected)
        for (line, user_id, email), record in zip(users, expected, strict=True):
            assert user_id == str(record.get("user_id") or "")
            assert email == str(record.get("email") or "")
            assert line == orjson.dumps(record)
            profile = {k: v for k, v in record.items() if k not in ("user_id", "email")}
            profile["identities"] = kept_identities[records.index(record)]
            assert bulk_rows.read_lines([line]) == [(user_id, email, profile)]
    assert [len(batch.lines) for got in alone for batch in got] == [1] * 5
    assert [len(batch.lines) for batch in together] == [5]


def test_a_list_longer_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_list, "MAX_LIST_LINES", 3)
    assert len(read_list(io.BytesIO(b"auth0|1\nauth0|2\nauth0|3\n"))) == 3
    with pytest.raises(ListProblem, match="more than 3 lines"):
        read_list(io.BytesIO(b"auth0|1\nauth0|2\nauth0|3\nauth0|4\n"))


def test_what_the_join_thread_makes_arrives_in_order_and_its_failure_with_it() -> None:
    def makes(put: Any) -> None:
        for n in range(10):
            put(n)
        raise ValueError("the join failed")

    got: list[int] = []
    with pytest.raises(ValueError, match="the join failed"):
        got.extend(bulk_select._made_aside(makes))
    assert got == list(range(10))

    # A taker that stops early stops the thread (it would otherwise wait forever to put).
    stopped = threading.Event()

    def endless(put: Any) -> None:
        try:
            while True:
                put(1)
        finally:
            stopped.set()

    for _ in bulk_select._made_aside(endless):
        break
    assert stopped.is_set()


# --- bad input never makes a run -----------------------------------------------------------


def upload(text: str, name: str = "users.txt") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/plain")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "said"),
    [
        ({"source": "query", "query": "  "}, "query", "Type the search query"),
        ({"source": "query", "query": "email:(a"}, "query", "cannot select users exactly"),
        ({"source": "list"}, "users_file", "Choose the file"),
        ({"source": "list", "users_file": upload("")}, "users_file", "The list is empty"),
        ({"source": "list", "users_file": upload("auth0|1\nnobody\n")}, "users_file", "line 2"),
    ],
)
def test_bad_input_is_refused_at_its_field_before_any_run_exists(
    lead_client: Client, data: dict[str, Any], field: str, said: str
) -> None:
    response = lead_client.post(f"{BULK}/new/", data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert said in " ".join(errors[field]), errors
    assert 'aria-invalid="true"' in response.content.decode()
    # The keyboard is taken to the field in error, and to it alone.
    form = response.context["form"]
    assert [name for name in form.fields if "autofocus" in str(form[name])] == [field]
    assert not BulkRun.objects.exists()
    assert not Export.objects.exists()


@pytest.mark.django_db
def test_support_cannot_request_a_run(agent_client: Client) -> None:
    assert agent_client.get(f"{BULK}/new/").status_code == 403
    assert agent_client.post(f"{BULK}/new/", {"source": "query", "query": "a"}).status_code == 403
    assert not BulkRun.objects.exists()


@pytest.mark.django_db
def test_the_search_page_offers_a_run_on_its_query_to_a_lead(lead_client: Client) -> None:
    response = lead_client.get(f"{BULK}/new/", {"q": 'email.domain:"example.com"'})
    assert "email.domain:&quot;example.com&quot;" in response.content.decode()


# --- selecting through a real worker -------------------------------------------------------


@pytest.mark.slow
def test_a_query_selects_exactly_its_matches_in_a_snapshot(
    celery_worker: Any, use_tenant: SandboxServer, lead_client: Client
) -> None:
    q = "email_verified:false OR app_metadata.plan:enterprise"
    with use_tenant.api() as api:
        expected = oracle(api, q)
    assert expected

    search = "/t/userdesk-sandbox/users/"
    searched = lead_client.get(search, {"mode": "advanced", "q": q}).content.decode()
    link = re.search(
        r'href="(/t/userdesk-sandbox/bulk/new/\?q=[^"]+)">Bulk run on every matching user', searched
    )
    assert link is not None
    form = lead_client.get(html.unescape(link.group(1))).context["form"]
    assert form.initial["query"] == q

    response = lead_client.post(f"{BULK}/new/", {"source": "query", "query": q})
    assert response.status_code == 302
    run = BulkRun.objects.get()
    assert response["Location"] == f"{BULK}/{run.pk}/"
    assert "Selecting the users" in lead_client.get(response["Location"]).content.decode()
    polled = lead_client.get(response["Location"], headers={"HX-Request": "true"})
    assert polled.status_code == 200

    run = selected(run.pk)
    items = list(bulk_rows.every_item(run))
    assert {item.user_id for item in items} == expected
    assert run.selected_count == len(expected)
    assert run.snapshot_at is not None
    assert run.tenant == use_tenant.domain.split(".")[0]
    assert all(set(i.profile) <= set(bulk_select.SNAPSHOT_FIELDS) for i in items)
    assert all(i.profile["identities"] for i in items)
    polled = lead_client.get(f"{BULK}/{run.pk}/", headers={"HX-Request": "true"})
    assert polled["HX-Refresh"] == "true"
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert q.replace('"', "&quot;") in page
    assert f"<dd>{len(expected):,}</dd>" in page
    assert "Snapshot of Auth0's data" in page
    event = AuditEvent.objects.get(action="bulk.created")
    assert event.details["query"] == q
    assert event.target == f"Bulk run #{run.pk}"


@pytest.mark.slow
def test_a_list_resolves_ids_and_emails_against_one_snapshot(
    celery_worker: Any,
    use_tenant: SandboxServer,
    lead_client: Client,
    everyone: list[dict[str, Any]],
) -> None:
    counts = Counter(str(u.get("email") or "").lower() for u in everyone if u.get("email"))
    shared = next(email for email, n in counts.items() if n > 1)
    single = [u for u in everyone if u.get("email") and counts[u["email"].lower()] == 1]
    by_id, by_email = single[0], single[1]
    lines = [
        "user_id",
        by_id["user_id"],
        by_email["email"].upper(),
        "nobody@nowhere.example",
        shared,
        "auth0|doesnotexist",
        by_email["user_id"],  # the same user again, by id
    ]
    before = use_tenant.requests_seen()
    response = lead_client.post(
        f"{BULK}/new/",
        {"source": "list", "users_file": upload("\n".join(lines), "ids.csv")},
    )
    assert response.status_code == 302
    run = selected(BulkRun.objects.get().pk)
    listed = [i.user_id for i in bulk_rows.every_item(run)]
    assert listed == [by_id["user_id"], by_email["user_id"]]
    assert (run.selected_count, run.unknown_count, run.ambiguous_count) == (2, 2, 1)
    assert run.duplicate_count == 1
    assert run.list_lines == 6
    problems = {(e.line, e.entry, e.problem) for e in run.entries.all()}
    assert problems == {
        (4, "nobody@nowhere.example", "unknown"),
        (5, shared, "ambiguous"),
        (6, "auth0|doesnotexist", "unknown"),
    }
    ambiguous = run.entries.get(problem="ambiguous")
    assert len(ambiguous.candidates) == counts[shared]
    # One export of the tenant, never one lookup a line.
    seen = use_tenant.requests_seen()
    lookups = {k: v - before.get(k, 0) for k, v in seen.items() if "users-by-email" in k}
    assert not any(lookups.values()), lookups
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "ids.csv (6 entries)" in page
    # A narrow column breaks an address between its parts, never letter by letter.
    assert "nobody@<wbr>nowhere<wbr>.example" in page
    assert "Ambiguous" in page
    assert run.export is not None
    assert not run.export.match_query


@pytest.mark.django_db
def test_a_failed_snapshot_fails_the_run_with_its_reason(lead_client: Client) -> None:
    run = BulkRun.objects.create(tenant=bulk_select.tenant_slug(), source="query", query="a:b")
    run.export = Export.objects.create(status="failed", failure_reason="Auth0 said no")
    run.save()
    assert bulk_select.advance(run.pk) is None
    run.refresh_from_db()
    assert run.status == BulkRunStatus.FAILED
    assert "Auth0 said no" in run.failure_reason
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "Auth0 said no" in page
