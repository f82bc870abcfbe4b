"""The requester is emailed once when their export is ready or failed, from
the worker after the status change, with an absolute link to the export."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from exports import notify, pipeline, tasks
from exports.models import Export, Status
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("use_sandbox", "export_settings")


@pytest.fixture(autouse=True)
def locmem(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.USERDESK_BASE_URL = "https://userdesk.example.com"


def test_a_ready_export_emails_its_requester_once_with_a_link(export_admin: User) -> None:
    export = tasks.create_export(
        {**CSV_SPEC, "limit": 7, "name": "Monthly churn"}, requested_by=export_admin
    )
    done = drive(export.pk)
    assert done.status == Status.READY, done.failure_reason
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["admin@example.com"]
    assert sent.subject == f"Export #{export.pk} “Monthly churn” is ready"
    assert f"https://userdesk.example.com/t/userdesk-sandbox/exports/{export.pk}/" in sent.body
    assert "7 rows" in sent.body
    assert "on userdesk-sandbox (development)" in sent.body
    assert done.notified_at is not None
    assert done.events.filter(message="Emailed admin@example.com").count() == 1

    # A re-delivered task, a second sweep, a second call: no second email.
    assert pipeline.advance(export.pk, done.step) is None
    assert pipeline.advance(export.pk, done.step - 1) is None
    assert notify.export_settled(export.pk) is False
    assert len(mail.outbox) == 1


def test_a_failed_export_emails_the_reason(export_admin: User, use_sandbox: SandboxServer) -> None:
    use_sandbox.set_faults(job_fail="the tenant is being migrated")
    export = drive(tasks.create_export(CSV_SPEC, requested_by=export_admin).pk)
    assert export.status == Status.FAILED
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.subject == f"Export #{export.pk} failed"
    assert "the tenant is being migrated" in sent.body
    assert f"https://userdesk.example.com/t/userdesk-sandbox/exports/{export.pk}/" in sent.body


def test_no_email_while_running_nor_for_a_cancelled_export(
    export_admin: User, use_sandbox: SandboxServer
) -> None:
    from exports import lease

    use_sandbox.set_faults(job_pending_seconds=3600)
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    following = pipeline.advance(export.pk, export.step)
    assert following is not None
    assert mail.outbox == []
    assert lease.cancel(Export.objects.get(pk=export.pk), by="admin@example.com")
    assert pipeline.advance(export.pk, following.step) is None
    assert mail.outbox == []


def test_a_mail_server_that_refuses_does_not_fail_the_export(
    export_admin: User, settings: Any
) -> None:
    # A real SMTP backend pointed at a port nobody listens on.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9
    settings.EMAIL_TIMEOUT = 2
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 3}, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    assert export.events.filter(message="The email to admin@example.com could not be sent").exists()


@pytest.mark.slow
def test_a_real_worker_emails_once_even_when_the_task_is_delivered_twice(
    celery_worker: Any, admin_client_: Client, settings: Any
) -> None:
    from exports.tasks import run_export
    from tests.fixtures.celery import wait_for
    from tests.fixtures.exports import builder_post

    settings.EXPORT_LEASE_SECONDS = 5
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/",
        builder_post([("email", "")], limit="9", name="Twice sent"),
    )
    assert response.status_code == 302
    export = Export.objects.get()
    # The broker delivers the first step a second time (a redelivery after a lost ack).
    run_export.apply_async((export.pk, export.step))

    def settled() -> Export | None:
        row = Export.objects.get(pk=export.pk)
        return row if row.is_settled and row.notified_at else None

    done: Export = wait_for(settled, timeout=90, every=0.1)
    assert done.status == Status.READY, done.failure_reason
    wait_for(lambda: done.events.filter(message="Emailed admin@example.com").exists())
    assert [m.subject for m in mail.outbox] == [f"Export #{export.pk} “Twice sent” is ready"]


def test_links_follow_the_port_make_run_was_given(tmp_path: Any) -> None:
    """Links follow PORT_WEB (they pointed at http://127.0.0.1:8000 whatever it was)."""
    from tests.fixtures.processes import embedded_env, python

    code = "from django.conf import settings; print(settings.USERDESK_BASE_URL)"
    env = embedded_env(tmp_path, PORT_WEB="8100")
    env.pop("USERDESK_BASE_URL", None)
    moved = python(env, code)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8100"
    env.pop("PORT_WEB")
    default = python(env, code)
    assert default.stdout.strip().splitlines()[-1] == "http://127.0.0.1:8000"
    named = python({**env, "PORT_WEB": "8100", "USERDESK_BASE_URL": "https://u.example"}, code)
    assert named.stdout.strip().splitlines()[-1] == "https://u.example"
