"""Userdesk's own records are kept AUDIT_RETENTION_DAYS (audit events and what
they describe) and RECENT_SEARCH_DAYS (recent searches), pruned by beat's hourly task, which a real
worker runs here; docs/operator/storage.md has one table of everything Userdesk stores."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from config.celery import app as celery_app
from staff import audit
from staff.models import AuditEvent
from tests.fixtures.celery import wait_for
from tests.fixtures.personas import make_staff
from users_admin.models import RecentSearch

ROOT = Path(__file__).resolve().parents[2]
STORAGE = ROOT / "docs" / "operator" / "storage.md"


def event_aged(actor: User, days: float, action: str = audit.SIGN_IN) -> AuditEvent:
    event = audit.record_for(None, actor, action, actor.username)
    # Only the retention may change the log; a test ages a row beneath the model's refusal.
    models.QuerySet.update(
        AuditEvent.objects.filter(pk=event.pk), at=timezone.now() - timedelta(days=days)
    )
    return event


def search_aged(owner: User, days: float, query: str) -> RecentSearch:
    return RecentSearch.objects.create(
        owner=owner,
        query_string=f"q={query}",
        digest=RecentSearch.digest_of(f"q={query}"),
        query=query,
        searched_at=timezone.now() - timedelta(days=days),
    )


def test_defaults_are_years_of_audit_and_weeks_of_searches() -> None:
    assert 365 <= settings.AUDIT_RETENTION_DAYS <= 10 * 365
    assert settings.RECENT_SEARCH_DAYS <= 90


def test_beat_prunes_past_retention_with_a_real_worker(celery_worker: Any, settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 400
    settings.RECENT_SEARCH_DAYS = 30
    agent = make_staff("agent@example.com", None)
    old, kept = event_aged(agent, 401), event_aged(agent, 399)
    gone_search, kept_search = search_aged(agent, 31, "old"), search_aged(agent, 29, "new")
    (entry,) = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "staff.tasks.prune_records"
    ]
    assert entry["schedule"] <= 3600
    celery_app.send_task(entry["task"])
    pruned = wait_for(lambda: AuditEvent.objects.filter(action=audit.RECORDS_PRUNED).first())
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=kept.pk).exists()
    assert not RecentSearch.objects.filter(pk=gone_search.pk).exists()
    assert RecentSearch.objects.filter(pk=kept_search.pk).exists()
    assert pruned.actor_label == "retention"
    assert pruned.details["audit events"] == 1
    assert pruned.details["recent searches"] == 1


def test_a_staff_member_whose_events_expired_can_be_deleted(settings: Any, db: None) -> None:
    settings.AUDIT_RETENTION_DAYS = 10
    leaver = make_staff("leaver@example.com", None)
    event_aged(leaver, 11)
    out = StringIO()
    call_command("prune_records", stdout=out)
    assert "1 audit events" in out.getvalue()
    leaver.delete()  # nothing names them as who acted any more
    (pruned,) = AuditEvent.objects.filter(action=audit.RECORDS_PRUNED)
    assert pruned.details["audit events"] == 1


def test_nothing_past_retention_leaves_no_event(db: None) -> None:
    call_command("prune_records", stdout=StringIO())
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("app", ["staff", "users_admin", "exports", "management_api"])
def test_the_storage_table_names_every_model(app: str) -> None:
    """A new model needs its row: what it holds, where, for how long, who reads it."""
    table = STORAGE.read_text()
    rows = re.findall(r"^\| .*$", table, flags=re.MULTILINE)
    named = {label for row in rows for label in re.findall(r"`(\w+\.\w+)`", row)}
    for model in apps.get_app_config(app).get_models():
        if model._meta.managed:
            assert model._meta.label in named, f"add {model._meta.label} to {STORAGE}"
