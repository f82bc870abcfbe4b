"""A weekly "users created since the last run" schedule, run twice by a real Celery worker
against a real sandbox server: the first file holds every user of the connection, the second
only the users created in the sandbox between the two runs."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import time, timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone

from exports import scheduling
from exports.models import Export, ExportSchedule, ScheduleRun, Status
from exports.schedule_models import RunOutcome, Scope
from management_api.tenants import current_tenant_slug
from tests.fixtures.celery import wait_for
from tests.fixtures.sandbox import SandboxServer, make_sandbox_server, point_dashboard_at

DATABASE = "Username-Password-Authentication"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = make_sandbox_server(
        tmp_path_factory.mktemp("schedules-sandbox"),
        users=60,
        seed=19,
        SANDBOX_SEARCH_LAG_SECONDS="0",
        SANDBOX_RATE_LIMIT_PLAN="off",
    )
    try:
        yield server
    finally:
        server.stop()


def user_ids(export: Export) -> set[str]:
    with export.open_file() as kept:
        lines = gzip.decompress(kept.read()).splitlines()
    return {orjson.loads(line)["user_id"] for line in lines}


def run_beat_and_wait(schedule: ExportSchedule, runs_before: int) -> ScheduleRun:
    """Make the schedule due, send the beat's task to the worker, wait for the run's export."""
    ExportSchedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(seconds=1)
    )
    scheduling.run_due_schedules.apply_async()
    run: ScheduleRun = wait_for(
        lambda: (
            ScheduleRun.objects.filter(schedule=schedule).count() > runs_before
            and ScheduleRun.objects.filter(schedule=schedule).order_by("-id").first()
        ),
        timeout=60,
    )
    assert run.outcome == RunOutcome.STARTED, run.message
    assert run.export_id is not None
    export_id = run.export_id
    export = wait_for(lambda: (e := Export.objects.get(pk=export_id)).is_settled and e, timeout=120)
    assert export.status == Status.READY, export.failure_reason
    return run


def export_of(run: ScheduleRun) -> Export:
    assert run.export is not None
    return run.export


@pytest.mark.slow
@pytest.mark.usefixtures("export_settings")
def test_a_weekly_created_since_schedule_run_twice_by_the_worker(
    celery_worker: Any, tenant: SandboxServer, export_admin: User, settings: Any
) -> None:
    point_dashboard_at(settings, tenant)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EXPORT_SCHEDULE_OVERLAP_MINUTES = 0
    export_admin.email = "admin@example.com"
    export_admin.save()
    with tenant.api() as api:
        connection = next(c for c in api.get("/api/v2/connections").json() if c["name"] == DATABASE)
        before = set()
        for page in range(10):
            got = api.get(
                "/api/v2/users",
                params={"q": f"identities.connection:{DATABASE}", "per_page": 100, "page": page},
            ).json()
            before |= {user["user_id"] for user in got}
            if len(got) < 100:
                break
    assert before
    schedule = ExportSchedule.objects.create(
        name="New sign-ups",
        owner=export_admin,
        tenant=current_tenant_slug(),
        source_label="Template “Sign-ups”",
        spec={
            "format": "ndjson",
            "fields": [{"name": "user_id"}, {"name": "email"}],
            "connection_id": connection["id"],
            "connection_name": DATABASE,
        },
        scope=Scope.CREATED,
        frequency="weekly",
        weekday=0,
        at_time=time(7, 0),
        zone="Europe/Paris",
    )

    first = run_beat_and_wait(schedule, 0)
    assert first.window_start is None
    assert user_ids(export_of(first)) == before
    assert "New sign-ups" in export_of(first).name
    assert export_of(first).requested_by == export_admin

    with tenant.api() as api:
        created = set()
        for n in range(3):
            response = api.post(
                "/api/v2/users",
                json={
                    "connection": DATABASE,
                    "email": f"new-{n}@example.org",
                    "password": "Correct-Horse-9-battery",
                },
            )
            assert response.status_code == 201, response.text
            created.add(response.json()["user_id"])

    second = run_beat_and_wait(schedule, 1)
    assert second.window_start == export_of(first).created_at
    assert user_ids(export_of(second)) == created
    assert export_of(second).scanned_count == len(before) + len(created)
    # Each ready export emailed its owner.
    assert [m.to for m in mail.outbox] == [["admin@example.com"]] * 2
    schedule.refresh_from_db()
    assert schedule.next_run_at is not None
    assert schedule.next_run_at > timezone.now()
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 2
    # The schedule's page lists both runs: every user first, then only the new ones.
    client = Client()
    client.force_login(export_admin)
    html = client.get(schedule.get_absolute_url()).content.decode()
    assert html.count('data-outcome="started"') == 2
    assert f"{len(before)} rows" in html
    assert f"{len(created)} rows" in html
    assert "created_at on or after" in html
    assert Export.objects.count() == 2
