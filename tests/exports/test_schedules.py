"""Scheduled exports: due times (zones, DST, month ends), the changed-since query and its
overlap, one export per occurrence whatever the beats, skipped and failed runs notified."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from exports import matching, notify, recurrence, scheduling
from exports.models import Export, ExportSchedule, ExportSpec, ScheduleRun, Status
from exports.schedule_models import RunOutcome, Scope
from management_api.tenants import current_tenant_slug
from staff.models import AuditEvent
from users_admin.models import SavedSearch


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def due_at(schedule: ExportSchedule) -> datetime:
    """When the schedule runs next (set on every schedule these tests start)."""
    assert schedule.next_run_at is not None
    return schedule.next_run_at


# --- Due times -----------------------------------------------------------------------------


def test_daily_in_a_zone_is_that_zones_wall_clock() -> None:
    after = utc(2026, 1, 10, 12, 0)
    # 07:00 in Paris in winter is 06:00 UTC: today's has passed, tomorrow's is next.
    assert recurrence.next_occurrence(
        after, frequency="daily", at=time(7, 0), zone="Europe/Paris"
    ) == utc(2026, 1, 11, 6, 0)
    # 07:00 in Los Angeles is 15:00 UTC: still today.
    assert recurrence.next_occurrence(
        after, frequency="daily", at=time(7, 0), zone="America/Los_Angeles"
    ) == utc(2026, 1, 10, 15, 0)


def test_strictly_after() -> None:
    at = utc(2026, 1, 10, 6, 0)
    assert recurrence.next_occurrence(
        at, frequency="daily", at=time(7, 0), zone="Europe/Paris"
    ) == utc(2026, 1, 11, 6, 0)


def test_daily_keeps_the_wall_clock_across_dst() -> None:
    # Paris moves to CEST on 2026-03-29: 07:00 is 06:00 UTC before and 05:00 UTC after.
    first = recurrence.next_occurrence(
        utc(2026, 3, 28, 7, 0), frequency="daily", at=time(7, 0), zone="Europe/Paris"
    )
    second = recurrence.next_occurrence(
        first, frequency="daily", at=time(7, 0), zone="Europe/Paris"
    )
    assert first == utc(2026, 3, 29, 5, 0)
    assert second == utc(2026, 3, 30, 5, 0)
    before = recurrence.next_occurrence(
        utc(2026, 3, 27, 7, 0), frequency="daily", at=time(7, 0), zone="Europe/Paris"
    )
    assert before == utc(2026, 3, 28, 6, 0)


def test_a_time_in_the_spring_gap_runs_the_gap_later() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: it runs at 03:30 CEST (01:30 UTC), once.
    runs = recurrence.next_occurrence(
        utc(2026, 3, 28, 12, 0), frequency="daily", at=time(2, 30), zone="Europe/Paris"
    )
    assert runs == utc(2026, 3, 29, 1, 30)
    assert recurrence.next_occurrence(
        runs, frequency="daily", at=time(2, 30), zone="Europe/Paris"
    ) == utc(2026, 3, 30, 0, 30)


def test_an_ambiguous_autumn_time_runs_once() -> None:
    # 02:30 happens twice in Paris on 2026-10-25 (CEST, then CET): the first one only.
    first = recurrence.next_occurrence(
        utc(2026, 10, 24, 12, 0), frequency="daily", at=time(2, 30), zone="Europe/Paris"
    )
    assert first == utc(2026, 10, 25, 0, 30)
    following = recurrence.next_occurrence(
        first, frequency="daily", at=time(2, 30), zone="Europe/Paris"
    )
    assert following == utc(2026, 10, 26, 1, 30)


def test_weekly_on_a_weekday() -> None:
    # 2026-12-06 is a Sunday; Monday 09:00 in New York (EST) is 14:00 UTC.
    monday = recurrence.next_occurrence(
        utc(2026, 12, 6, 12, 0),
        frequency="weekly",
        at=time(9, 0),
        zone="America/New_York",
        weekday=0,
    )
    assert monday == utc(2026, 12, 7, 14, 0)
    assert recurrence.next_occurrence(
        monday, frequency="weekly", at=time(9, 0), zone="America/New_York", weekday=0
    ) == utc(2026, 12, 14, 14, 0)


def test_weekly_when_the_zone_is_already_on_the_next_day() -> None:
    # Sunday 23:00 UTC is Monday 08:00 in Tokyo: Monday 09:00 there is an hour away.
    assert recurrence.next_occurrence(
        utc(2026, 12, 6, 23, 0),
        frequency="weekly",
        at=time(9, 0),
        zone="Asia/Tokyo",
        weekday=0,
    ) == utc(2026, 12, 7, 0, 0)


@pytest.mark.parametrize(
    ("after", "day", "expected"),
    [
        (utc(2026, 1, 31, 12, 0), 31, utc(2026, 2, 28, 8, 0)),  # February is shorter
        (utc(2028, 1, 31, 12, 0), 31, utc(2028, 2, 29, 8, 0)),  # a leap year
        (utc(2026, 2, 28, 12, 0), 31, utc(2026, 3, 31, 8, 0)),  # back to the 31st
        (utc(2026, 4, 15, 12, 0), 31, utc(2026, 4, 30, 8, 0)),  # a 30-day month
        (utc(2026, 12, 15, 12, 0), 1, utc(2027, 1, 1, 8, 0)),  # over the year's end
        (utc(2026, 12, 1, 7, 0), 1, utc(2026, 12, 1, 8, 0)),  # later today
    ],
)
def test_monthly_month_ends(after: datetime, day: int, expected: datetime) -> None:
    assert (
        recurrence.next_occurrence(
            after, frequency="monthly", at=time(8, 0), zone="UTC", day_of_month=day
        )
        == expected
    )


# --- The changed-since query --------------------------------------------------------------


def test_changed_since_query_narrows_the_source_and_is_answerable() -> None:
    since = utc(2026, 12, 6, 9, 45, 1, 250000)
    query = recurrence.changed_since_query("email:*@example.com", field="updated_at", since=since)
    assert query == '(email:*@example.com) AND updated_at:["2026-12-06T09:45:01.250Z" TO *]'
    compiled = matching.compile_query(query)
    assert set(compiled.fields) == {"email", "updated_at"}
    bare = recurrence.changed_since_query("", field="created_at", since=since)
    assert bare == 'created_at:["2026-12-06T09:45:01.250Z" TO *]'
    matching.compile_query(bare)


# --- Starting runs ------------------------------------------------------------------------

SPEC = {
    "format": "ndjson",
    "fields": [{"name": "user_id"}, {"name": "email"}],
    "name": "",
}


@pytest.fixture
def owner(export_admin: User) -> User:
    export_admin.email = "admin@example.com"
    export_admin.save()
    return export_admin


def make_schedule(owner: User, **fields: Any) -> ExportSchedule:
    values: dict[str, Any] = {
        "name": "Weekly sign-ups",
        "owner": owner,
        "tenant": current_tenant_slug(),
        "source_label": "Template “People”",
        "spec": SPEC,
        "frequency": "weekly",
        "at_time": time(7, 0),
        "zone": "Europe/Paris",
        "scope": Scope.CREATED,
        "next_run_at": timezone.now() - timedelta(minutes=1),
    }
    values.update(fields)
    return ExportSchedule.objects.create(**values)


@pytest.fixture
def quiet_broker(settings: Any) -> None:
    # The export's first step is sent on commit; with no broker, it is logged and kept queued.
    settings.CELERY_BROKER_URL = "memory://"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.mark.django_db(transaction=True)
def test_one_export_per_occurrence_whatever_the_beats(owner: User, quiet_broker: None) -> None:
    schedule = make_schedule(owner)
    occurrence = due_at(schedule)
    # Two beats saw it due at the same moment; both try to start it.
    first = scheduling.start_occurrence(schedule.pk, occurrence)
    second = scheduling.start_occurrence(schedule.pk, occurrence)
    assert first is not None
    assert second is None
    assert Export.objects.count() == 1
    assert ScheduleRun.objects.get().export == Export.objects.get()
    schedule.refresh_from_db()
    assert due_at(schedule) > timezone.now()
    assert scheduling.run_due() == 0
    # A retry that inserts the same occurrence's run again is refused by the constraint.
    schedule.next_run_at = occurrence
    schedule.save()
    assert scheduling.start_occurrence(schedule.pk, occurrence) is None
    assert Export.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_changed_since_starts_at_the_last_success_less_the_overlap(
    owner: User, quiet_broker: None, settings: Any
) -> None:
    settings.EXPORT_SCHEDULE_OVERLAP_MINUTES = 15
    schedule = make_schedule(owner)
    first = scheduling.start_occurrence(schedule.pk, due_at(schedule))
    assert first is not None
    assert first.export is not None
    assert first.window_start is None  # the first run holds every user
    assert first.export.match_query == ""
    assert first.export.requested_by == owner
    Export.objects.filter(pk=first.export.pk).update(status=Status.READY)

    schedule.refresh_from_db()
    due = timezone.now() - timedelta(seconds=1)
    ExportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due)
    second = scheduling.start_occurrence(schedule.pk, due)
    assert second is not None
    assert second.export is not None
    expected_start = first.export.created_at - timedelta(minutes=15)
    assert second.window_start == expected_start
    assert second.export.match_query == (
        f"created_at:[{recurrence.lucene_instant(expected_start)} TO *]"
    )

    # Retention deleting the successful run's file does not reset the window; a failed run
    # after it moves nothing.
    Export.objects.filter(pk=first.export.pk).update(status=Status.PURGED)
    Export.objects.filter(pk=second.export.pk).update(status=Status.FAILED)
    assert scheduling.window_start(schedule) == expected_start


@pytest.mark.django_db(transaction=True)
def test_a_run_is_skipped_while_the_previous_export_runs_and_the_owner_is_told(
    owner: User, quiet_broker: None
) -> None:
    schedule = make_schedule(owner, scope=Scope.FULL)
    first = scheduling.start_occurrence(schedule.pk, due_at(schedule))
    assert first is not None
    assert first.export is not None
    assert first.export.status == Status.QUEUED
    due = timezone.now() - timedelta(seconds=1)
    ExportSchedule.objects.filter(pk=schedule.pk).update(next_run_at=due)
    skipped = scheduling.start_occurrence(schedule.pk, due)
    assert skipped is not None
    assert skipped.outcome == RunOutcome.SKIPPED
    assert skipped.export is None
    assert f"export #{first.export.pk}" in skipped.message
    assert Export.objects.count() == 1
    assert [m.to for m in mail.outbox] == [["admin@example.com"]]
    assert "was skipped" in mail.outbox[0].subject
    assert schedule.get_absolute_url() in mail.outbox[0].body
    assert not scheduling.notify_run(skipped.pk)  # once


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_query_cannot_be_answered_fails_and_is_told(
    owner: User, quiet_broker: None
) -> None:
    spec = {**SPEC, "match_query": "name:foo~2"}
    schedule = make_schedule(owner, spec=spec, scope=Scope.FULL)
    run = scheduling.start_occurrence(schedule.pk, due_at(schedule))
    assert run is not None
    assert run.outcome == RunOutcome.FAILED
    assert run.failed
    assert "Fuzzy" in run.message
    assert Export.objects.count() == 0
    assert "could not start" in mail.outbox[0].subject


@pytest.mark.django_db(transaction=True)
def test_a_paused_schedule_does_not_run(owner: User, quiet_broker: None) -> None:
    make_schedule(owner, paused=True)
    assert scheduling.run_due() == 0
    assert ScheduleRun.objects.count() == 0


# --- The pages and their audit rows -------------------------------------------------------

BASE = "/t/userdesk-sandbox/exports/schedules/"


def form_data(source: str, **overrides: str) -> dict[str, str]:
    data = {
        "tenant": "userdesk-sandbox",
        "name": "Monday sign-ups",
        "source": source,
        "scope": Scope.CREATED,
        "frequency": "weekly",
        "weekday": "0",
        "day_of_month": "1",
        "at_time": "07:00",
        "zone": "Europe/Paris",
    }
    data.update(overrides)
    return data


@pytest.fixture
def template(owner: User) -> Any:
    from exports.models import ExportTemplate

    return ExportTemplate.objects.create(
        name="People", owner=owner, tenant="userdesk-sandbox", spec=SPEC
    )


def test_a_template_scheduled_weekly_is_audited(
    admin_client_: Client, template: Any, owner: User
) -> None:
    response = admin_client_.post(f"{BASE}new/", form_data(f"template:{template.pk}"))
    schedule = ExportSchedule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == schedule.get_absolute_url()
    assert schedule.owner == owner
    assert schedule.tenant == "userdesk-sandbox"
    assert schedule.spec == ExportSpec.from_data(SPEC).as_data()
    assert schedule.source_label == "Template “People”"
    assert due_at(schedule) > timezone.now()
    assert due_at(schedule).astimezone(ZoneInfo("Europe/Paris")).weekday() == 0
    event = AuditEvent.objects.get(action="exports.schedule_created")
    assert event.actor == owner
    assert event.details["after"]["when"] == "Weekly on Monday at 07:00 (Europe/Paris)"

    page = admin_client_.get(schedule.get_absolute_url())
    text = page.content.decode()
    assert "No run has succeeded yet" in text
    assert "15 minutes" in text
    assert "No runs yet." in text


def test_a_saved_search_is_scheduled_as_its_query(admin_client_: Client, owner: User) -> None:
    saved = SavedSearch.objects.create(
        owner=owner, name="Gmail", tenant="userdesk-sandbox", query_string="q=email%3A*%40gmail.com"
    )
    response = admin_client_.post(f"{BASE}new/", form_data(f"search:{saved.pk}"))
    assert response.status_code == 302
    schedule = ExportSchedule.objects.get()
    assert schedule.spec["match_query"] == "email:*@gmail.com"
    assert schedule.spec["format"] == "ndjson"
    assert {"name": "updated_at"} in schedule.spec["fields"]


def test_bad_input_is_refused_at_the_field(admin_client_: Client, template: Any) -> None:
    data = form_data(f"template:{template.pk}", at_time="25:99", zone="Mars/Olympus")
    data["day_of_month"] = "32"
    response = admin_client_.post(f"{BASE}new/", data)
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"at_time", "zone", "day_of_month"}
    assert 'id="error-summary"' in response.content.decode()
    assert ExportSchedule.objects.count() == 0
    # Someone else's template is not on offer.
    response = admin_client_.post(f"{BASE}new/", form_data("template:999999"))
    assert "source" in response.context["form"].errors


def test_pause_resume_and_delete_are_audited_and_safe_twice(
    admin_client_: Client, owner: User
) -> None:
    schedule = make_schedule(owner)
    url = schedule.get_absolute_url()
    pause = {"tenant": "userdesk-sandbox"}
    assert admin_client_.post(f"{url}pause/", pause).status_code == 302
    assert admin_client_.post(f"{url}pause/", pause).status_code == 302  # twice: nothing more
    schedule.refresh_from_db()
    assert schedule.paused
    assert schedule.next_run_at is None
    paused = AuditEvent.objects.filter(action="exports.schedule_paused")
    assert paused.count() == 1
    assert paused.get().details["before"]["paused"] is False
    assert paused.get().details["after"]["paused"] is True

    admin_client_.post(f"{url}pause/", {**pause, "resume": "1"})
    schedule.refresh_from_db()
    assert not schedule.paused
    assert due_at(schedule) > timezone.now()
    assert AuditEvent.objects.filter(action="exports.schedule_resumed").count() == 1

    assert admin_client_.get(f"{url}delete/").status_code == 200
    assert admin_client_.post(f"{url}delete/", pause).status_code == 302
    assert not ExportSchedule.objects.exists()
    deleted = AuditEvent.objects.get(action="exports.schedule_deleted")
    assert deleted.details["before"]["name"] == "Weekly sign-ups"
    assert admin_client_.post(f"{url}delete/", pause).status_code == 404


def test_another_tenants_schedule_is_not_found(admin_client_: Client, owner: User) -> None:
    schedule = make_schedule(owner, tenant="elsewhere")
    assert admin_client_.get(f"{BASE}{schedule.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_runs_export_names_its_schedule_on_its_page_and_in_its_email(
    owner: User, quiet_broker: None
) -> None:
    schedule = make_schedule(owner)
    run = scheduling.start_occurrence(schedule.pk, due_at(schedule))
    assert run is not None
    assert run.export is not None
    Export.objects.filter(pk=run.export.pk).update(status=Status.READY, row_count=3)
    assert notify.export_settled(run.export.pk)
    assert "Made by the schedule “Weekly sign-ups” (Weekly on Monday" in mail.outbox[0].body
    assert schedule.get_absolute_url() in mail.outbox[0].body

    client = Client()
    client.force_login(owner)
    page = client.get(run.export.get_absolute_url()).content.decode()
    assert 'id="from-schedule"' in page
    assert f'href="{schedule.get_absolute_url()}"' in page
    history = client.get("/t/userdesk-sandbox/exports/").content.decode()
    assert f'scheduled by <a href="{schedule.get_absolute_url()}">Weekly sign-ups</a>' in history


@pytest.mark.django_db(transaction=True)
def test_a_schedule_of_a_tenant_no_longer_configured_fails_its_run(
    owner: User, quiet_broker: None
) -> None:
    schedule = make_schedule(owner, tenant="gone")
    assert scheduling.run_due() == 1
    run = ScheduleRun.objects.get()
    assert run.outcome == RunOutcome.FAILED
    assert run.message.startswith("Could not start:")
    assert Export.objects.count() == 0
    schedule.refresh_from_db()
    assert due_at(schedule) > timezone.now()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["deactivated", "role removed"])
def test_no_export_is_made_in_the_name_of_an_owner_who_lost_the_right(
    owner: User, quiet_broker: None, change: str
) -> None:
    schedule = make_schedule(owner)
    if change == "deactivated":
        owner.is_active = False
        owner.save()
    else:
        owner.groups.clear()
    run = scheduling.start_occurrence(schedule.pk, due_at(schedule))
    assert run is not None
    assert run.outcome == RunOutcome.FAILED
    assert owner.get_username() in run.message
    assert Export.objects.count() == 0


def test_the_page_says_where_files_go_with_s3_storage(
    admin_client_: Client, owner: User, settings: Any
) -> None:
    schedule = make_schedule(owner)
    page = admin_client_.get(schedule.get_absolute_url()).content.decode()
    assert "s3://" not in page
    settings.EXPORT_S3_BUCKET = "acme-exports"
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "acme-exports", "location": "userdesk/exports"},
        },
    }
    page = admin_client_.get(schedule.get_absolute_url()).content.decode()
    assert "s3://acme-exports/userdesk/exports/" in page


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_the_same_moment_make_one_export(owner: User, quiet_broker: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (DATABASE_URL); SQLite serialises them")
    schedule = make_schedule(owner)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def beat() -> None:
        try:
            barrier.wait()
            results.append(scheduling.run_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 1
    assert Export.objects.count() == 1
