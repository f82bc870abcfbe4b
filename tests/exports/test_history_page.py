"""What an admin expects of the history page: names, filters kept in the
URL, sorting, paging, the empty state, and cancelling a running export."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from exports import lease, pipeline, tasks
from exports.models import Export, Status
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, drive, stored_files
from tests.fixtures.sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("use_sandbox", "export_settings")

ROW = re.compile(r'id="export-row-(\d+)"')


def rows(body: str) -> list[int]:
    return [int(pk) for pk in ROW.findall(body)]


@pytest.fixture
def fifty(export_admin: User, exporter: User) -> list[Export]:
    """50 exports: two requesters, both formats, four statuses, one a day over 50 days."""
    made: list[Export] = []
    statuses = [Status.READY, Status.FAILED, Status.RUNNING, Status.QUEUED]
    for index in range(50):
        spec = {
            **CSV_SPEC,
            "format": "ndjson" if index % 3 == 0 else "csv",
            "name": f"Weekly report {index:02d}" if index % 2 == 0 else "",
            "source_query": f"email:*@team{index}.example.com" if index % 5 == 0 else "",
        }
        requester = exporter if index % 4 == 0 else export_admin
        export = tasks.create_export(spec, requested_by=requester)
        Export.objects.filter(pk=export.pk).update(
            status=statuses[index % 4],
            created_at=timezone.now() - timedelta(days=50 - index),
            row_count=index * 10,
        )
        made.append(Export.objects.get(pk=export.pk))
    return made


def test_a_name_set_in_the_builder_shows_in_the_history_and_on_its_page(
    admin_client_: Client,
) -> None:
    from tests.fixtures.exports import builder_post

    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/",
        builder_post([("email", "")], name="  Churn list for CRM  "),
    )
    export = Export.objects.get()
    assert response.status_code == 302
    assert export.name == "Churn list for CRM"
    assert (
        "Churn list for CRM" in admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    )
    assert (
        "Churn list for CRM"
        in admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    )
    assert AuditEvent.objects.get(action="exports.create").details["name"] == "Churn list for CRM"
    # A re-run keeps the name, to be changed or kept.
    rerun = admin_client_.get(f"/t/userdesk-sandbox/exports/new/?rerun={export.pk}")
    assert rerun.context["form"].initial["name"] == "Churn list for CRM"


def test_an_exact_search_export_is_found_by_its_query_and_says_so_in_its_row(
    admin_client_: Client, fifty: list[Export]
) -> None:
    exact = tasks.create_export(
        {**CSV_SPEC, "match_query": "email_verified:true AND logins_count:[5 TO *]"},
        requested_by=None,
    )
    page = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"q": "logins_count:[5"}
    ).content.decode()
    assert rows(page) == [exact.pk]
    assert "only the users matching" in page
    assert "email_verified:true AND logins_count:[5 TO *]" in page


def test_any_of_50_exports_is_found_in_a_few_clicks(
    admin_client_: Client, fifty: list[Export]
) -> None:
    page = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert "50 exports." in page
    assert len(rows(page)) == 25

    # By name (one click: type and Enter).
    target = fifty[14]
    body = admin_client_.get("/t/userdesk-sandbox/exports/", {"q": "report 14"}).content.decode()
    assert rows(body) == [target.pk]
    # By its number, with or without "#".
    assert rows(
        admin_client_.get("/t/userdesk-sandbox/exports/", {"q": f"#{target.pk}"}).content.decode()
    ) == [target.pk]
    # By text of the search query it came from.
    body = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"q": "team35.example"}
    ).content.decode()
    assert rows(body) == [fifty[35].pk]

    # Status, format, requester, date: each narrows to exactly the matching ones.
    def found(**params: str) -> set[int]:
        return set(rows(admin_client_.get("/t/userdesk-sandbox/exports/", params).content.decode()))

    assert found(status="failed") == {e.pk for e in fifty if e.status == Status.FAILED}
    assert found(status="active") == {
        e.pk for e in fifty if e.status in (Status.RUNNING, Status.QUEUED)
    }
    ndjson_failed = {e.pk for e in fifty if e.format == "ndjson" and e.status == Status.FAILED}
    assert found(status="failed", format="ndjson") == ndjson_failed
    theirs = {e.pk for e in fifty if e.requested_by_label == "exporter@example.com"}
    assert found(requester="exporter@example.com") == theirs
    day = fifty[40].created_at.date()
    assert found(date_from=day.isoformat(), date_to=day.isoformat()) == {fifty[40].pk}
    assert found(date_from=day.isoformat()) == {e.pk for e in fifty[40:]}

    # Sorting: oldest first, most rows, by name; paging keeps filters and sort in the URL.
    oldest = admin_client_.get("/t/userdesk-sandbox/exports/", {"sort": "oldest"}).content.decode()
    assert rows(oldest)[:3] == [fifty[0].pk, fifty[1].pk, fifty[2].pk]
    most = admin_client_.get("/t/userdesk-sandbox/exports/", {"sort": "rows"}).content.decode()
    assert rows(most)[0] == fifty[49].pk
    named = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"sort": "name", "q": "Weekly"}
    ).content.decode()
    assert rows(named) == [e.pk for e in fifty if e.name][:25]
    assert "Page 1 of 1" not in named  # 25 named of them: exactly one page, no pager
    csv_pages = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"format": "csv", "sort": "oldest"}
    )
    text = csv_pages.content.decode()
    assert "Page 1 of 2" in text
    assert 'href="?format=csv&amp;sort=oldest&amp;page=2"' in text
    second = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"format": "csv", "sort": "oldest", "page": "2"}
    )
    csv_ones = [e.pk for e in fifty if e.format == "csv"]
    assert rows(text) + rows(second.content.decode()) == csv_ones
    # The filters stay filled in, so the next change starts from them.
    form = csv_pages.context["form"]
    assert (form["format"].value(), form["sort"].value()) == ("csv", "oldest")


def test_history_filters_say_when_nothing_matches_and_refuse_a_backwards_range(
    admin_client_: Client, fifty: list[Export]
) -> None:
    body = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"q": "no such export"}
    ).content.decode()
    assert rows(body) == []
    assert "No exports match these filters." in body
    assert "Clear filters" in body
    response = admin_client_.get(
        "/t/userdesk-sandbox/exports/", {"date_from": "2030-02-01", "date_to": "2030-01-01"}
    )
    body = response.content.decode()
    assert "The end date is before the start date." in body
    assert "Fix the filters above" in body
    bad = admin_client_.get("/t/userdesk-sandbox/exports/", {"status": "exploded"}).content.decode()
    assert "Select a valid choice" in bad


def test_the_history_of_someone_who_sees_only_their_own_offers_no_requester(
    exporter: User, fifty: list[Export]
) -> None:
    client = Client()
    client.force_login(exporter)
    response = client.get("/t/userdesk-sandbox/exports/")
    assert 'type="hidden" name="requester"' in response.content.decode()
    # Asking for someone else's exports by URL shows nothing of theirs.
    other = client.get(
        "/t/userdesk-sandbox/exports/", {"requester": "admin@example.com"}
    ).content.decode()
    assert rows(other) == []


def test_history_empty_state(admin_client_: Client) -> None:
    body = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert "No exports yet." in body
    assert 'role="search"' not in body


def test_cancel_asks_first_then_stops_the_worker_and_publishes_nothing(
    admin_client_: Client, export_admin: User, use_sandbox: SandboxServer, export_settings: Path
) -> None:
    use_sandbox.set_faults(job_pending_seconds=3600)
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    following = pipeline.advance(export.pk, export.step)
    assert following is not None
    export.refresh_from_db()
    assert export.status == Status.SUBMITTED

    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/cancel/")
    assert page.status_code == 200
    assert f"Cancel export #{export.pk}" in page.content.decode()
    export.refresh_from_db()
    assert export.status == Status.SUBMITTED  # a GET changes nothing

    response = admin_client_.post(f"/t/userdesk-sandbox/exports/{export.pk}/cancel/")
    assert response.status_code == 302
    export.refresh_from_db()
    assert export.status == Status.CANCELLED
    assert export.failure_reason == "Cancelled by admin@example.com"
    assert [e.message for e in export.events.all()][-1] == "Cancelled by admin@example.com"
    event = AuditEvent.objects.get(action="exports.cancel")
    assert (event.actor, event.target) == (export_admin, f"export #{export.pk}")

    # The job finishes at Auth0, the worker comes back for its next step: nothing happens.
    use_sandbox.shift_clock(3600)
    assert pipeline.advance(export.pk, following.step) is None
    assert drive(export.pk).status == Status.CANCELLED
    assert stored_files(export_settings) == []
    body = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert 'data-status="cancelled"' in body
    assert "Cancelled by admin@example.com" in body


def test_a_worker_in_the_middle_of_a_step_loses_the_export_to_a_cancel(
    export_admin: User, export_settings: Path
) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    claimed = lease.claim(export.pk, export.step)
    assert isinstance(claimed, lease.Claim)
    assert lease.cancel(export, by="admin@example.com")
    with pytest.raises(lease.LeaseLost):
        lease.transition(claimed, Status.READY, "Ready")
    export.refresh_from_db()
    assert export.status == Status.CANCELLED


def test_a_settled_export_cannot_be_cancelled(admin_client_: Client, export_admin: User) -> None:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 5}, requested_by=export_admin).pk)
    assert export.status == Status.READY
    response = admin_client_.post(f"/t/userdesk-sandbox/exports/{export.pk}/cancel/", follow=True)
    assert "has already settled (ready)" in response.content.decode()
    export.refresh_from_db()
    assert export.status == Status.READY
    assert not AuditEvent.objects.filter(action="exports.cancel").exists()


def test_cancel_is_for_those_who_run_exports(
    agent_client: Client, exporter: User, export_admin: User
) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    assert agent_client.post(f"/t/userdesk-sandbox/exports/{export.pk}/cancel/").status_code == 403
    theirs = Client()
    theirs.force_login(exporter)
    assert theirs.post(f"/t/userdesk-sandbox/exports/{export.pk}/cancel/").status_code == 404
    export.refresh_from_db()
    assert export.status == Status.QUEUED


def test_an_export_can_be_renamed_from_its_page(
    admin_client_: Client, export_admin: User, exporter: User
) -> None:
    export = tasks.create_export({**CSV_SPEC, "name": "Draft"}, requested_by=export_admin)
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert 'value="Draft"' in page
    response = admin_client_.post(
        f"/t/userdesk-sandbox/exports/{export.pk}/rename/", {"name": " Final list "}
    )
    assert response.status_code == 302
    export.refresh_from_db()
    assert export.name == "Final list"
    event = AuditEvent.objects.get(action="exports.rename")
    assert (event.target, event.details) == (
        f"export #{export.pk}",
        {"before": "Draft", "after": "Final list"},
    )
    too_long = admin_client_.post(
        f"/t/userdesk-sandbox/exports/{export.pk}/rename/", {"name": "x" * 121}, follow=True
    )
    assert "at most 120 characters" in too_long.content.decode()
    assert Export.objects.get(pk=export.pk).name == "Final list"
    theirs = Client()
    theirs.force_login(exporter)
    assert (
        theirs.post(
            f"/t/userdesk-sandbox/exports/{export.pk}/rename/", {"name": "Mine"}
        ).status_code
        == 404
    )
    assert admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/rename/").status_code == 405
