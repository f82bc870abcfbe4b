"""Carrying out bulk runs against a real sandbox server: a real Celery worker sends each user at
the tenant's pace; pause, resume and cancel; no user sent twice after a worker dies (a POST in
doubt is recorded unknown); a 429 never fails a user; failed users retried as a new run; the
per-user result file."""

from __future__ import annotations

import csv
import io
import sqlite3
import time
from collections import Counter
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from management_api import pacing
from staff.audit import record_for
from staff.models import AuditEvent
from tests.fixtures.bulk import everyone, selected, tenant, use_tenant  # noqa: F401 (fixtures)
from tests.fixtures.celery import drive, wait_for
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.support_cases import with_devices
from users_admin import bulk, bulk_execute, bulk_rows, bulk_select, timeline
from users_admin.models import BulkItem, BulkOutcome, BulkRun, BulkRunStatus

# The bulk pages of the test tenant.
BULK = "/t/userdesk-sandbox/bulk"

# ruff: noqa: F811 (test arguments named after the imported fixtures they receive)

REASON = "Ticket 12: compromised accounts"


@pytest.fixture
def fast(settings: Any) -> None:
    settings.AUTH0_RATE_LIMIT_PLAN = "enterprise"  # 16 calls a second, a burst of 50
    settings.BULK_INTERACTIVE_RESERVE = 0.0
    settings.BULK_APPROVAL_THRESHOLD = 100_000


def user_ids_of(run: BulkRun, outcome: str | None = None) -> set[str]:
    items = run.items.all() if outcome is None else run.items.filter(outcome=outcome)
    return set(items.values_list("user_id", flat=True))


def in_process_run(client: Client, selection: dict[str, Any], action: dict[str, str]) -> BulkRun:
    """A run selected and previewed in this process (the snapshot's export driven here), then
    requested: queued for the worker."""
    assert client.post(f"{BULK}/new/", selection).status_code == 302
    run = BulkRun.objects.latest("pk")
    assert run.export is not None
    drive(run.export.pk)
    assert bulk_select.advance(run.pk) is None
    assert client.post(f"{BULK}/{run.pk}/action/", {**action, "reason": REASON}).status_code == 302
    run.refresh_from_db()
    bulk.compute_preview(run.pk, run.preview_version)
    assert client.post(f"{BULK}/{run.pk}/request/").status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    return run


def made_items(run: BulkRun) -> None:
    """The run's users made items, as its worker does when it reaches them."""
    for block in run.blocks.all():
        bulk_rows.make_items(run, block)


def results(client: Client, run: BulkRun) -> list[dict[str, str]]:
    response = client.get(f"{BULK}/{run.pk}/results.csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def blocked_at_auth0(server: SandboxServer, user_ids: set[str]) -> set[str]:
    with server.api() as api:
        return {
            uid for uid in user_ids if api.get(f"/api/v2/users/{uid}").json().get("blocked") is True
        }


@pytest.mark.slow
@pytest.mark.usefixtures("fast")
def test_a_block_run_blocks_exactly_its_users_on_a_real_worker(
    celery_worker: Any, use_tenant: SandboxServer, lead_client: Client
) -> None:
    q = "app_metadata.plan:enterprise"
    lead_client.post(f"{BULK}/new/", {"source": "query", "query": q})
    run = selected(BulkRun.objects.get().pk)
    lead_client.post(f"{BULK}/{run.pk}/action/", {"action": "block", "reason": REASON})
    run = wait_for(lambda: BulkRun.objects.filter(pk=run.pk, status="previewed").first())
    already = {item.user_id for item in bulk_rows.every_item(run) if item.skip_reason}
    assert lead_client.post(f"{BULK}/{run.pk}/request/").status_code == 302

    run = wait_for(lambda: BulkRun.objects.filter(pk=run.pk, status="done").first(), timeout=120)
    everybody = user_ids_of(run)
    assert user_ids_of(run, BulkOutcome.DONE) == everybody - already
    assert user_ids_of(run, BulkOutcome.SKIPPED) == already
    assert run.outcomes == {"done": len(everybody - already), "skipped": len(already)}
    assert blocked_at_auth0(use_tenant, everybody) == everybody

    rows = results(lead_client, run)
    assert [r["user_id"] for r in rows] == list(
        run.items.order_by("position").values_list("user_id", flat=True)
    )
    done = next(r for r in rows if r["outcome"] == "done")
    assert done["before"] == '{"blocked": false}'
    assert done["after"] == '{"blocked": true}'
    assert AuditEvent.objects.filter(action="bulk.results_downloaded").count() == 1

    events = AuditEvent.objects.filter(action="users.block", details__bulk_run=run.pk)
    assert events.count() == len(everybody)
    one = events.filter(details__outcome="ok").first()
    assert one is not None
    assert one.details["reason"] == REASON
    assert one.details["after"] == {"blocked": True}
    assert {"bulk.started", "bulk.finished"} <= set(
        AuditEvent.objects.filter(target=str(run)).values_list("action", flat=True)
    )
    timeline = lead_client.get(reverse("users_admin:timeline", args=[one.target])).content
    lead = run.requested_by_label
    said = f"Blocked by bulk run #{run.pk} (requested by {lead}, no approval needed): {REASON}"
    assert said in timeline.decode()
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "Finished" in page
    assert f"{len(everybody)} of {len(everybody)} users (100%)" in page
    # How long it took and at what pace, beside what the preview expected.
    assert run.started_at is not None
    assert run.finished_at is not None
    took = (run.finished_at - run.started_at).total_seconds()
    pace = f"{len(everybody) / took:.1f} users a second on average"
    assert f"{run.finished_at:%Y-%m-%d %H:%M:%S}</time> UTC:" in page
    assert pace in page
    assert "the preview expected about" in page


@pytest.mark.slow
def test_pause_resume_and_cancel_from_the_page(
    celery_worker: Any, use_tenant: SandboxServer, lead_client: Client, settings: Any
) -> None:
    settings.AUTH0_RATE_LIMIT_PLAN = "free"  # 2 calls a second: 1 user
    settings.BULK_INTERACTIVE_RESERVE = 0.0
    settings.BULK_APPROVAL_THRESHOLD = 100_000
    lead_client.post(f"{BULK}/new/", {"source": "query", "query": "email_verified:true"})
    run = selected(BulkRun.objects.get().pk)
    data = {"action": "metadata", "reason": REASON, "which": "app_metadata"}
    lead_client.post(f"{BULK}/{run.pk}/action/", {**data, "patch": '{"bulk_test": 1}'})
    wait_for(lambda: BulkRun.objects.filter(pk=run.pk, status="previewed").first())
    lead_client.post(f"{BULK}/{run.pk}/request/")

    def sent() -> int:
        return BulkItem.objects.filter(run=run).exclude(outcome="").count()

    wait_for(lambda: sent() >= 3, timeout=30)
    polled = lead_client.get(f"{BULK}/{run.pk}/", headers={"HX-Request": "true"})
    assert "left" in polled.content.decode()
    assert lead_client.post(f"{BULK}/{run.pk}/pause/").status_code == 302
    wait_for(lambda: not BulkItem.objects.filter(run=run, outcome="sending").exists())
    paused_at = sent()
    time.sleep(1.0)
    assert sent() == paused_at
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.PAUSED

    lead_client.post(f"{BULK}/{run.pk}/resume/")
    wait_for(lambda: sent() >= paused_at + 3, timeout=30)
    lead_client.post(f"{BULK}/{run.pk}/cancel/")
    wait_for(lambda: not BulkItem.objects.filter(run=run, outcome="sending").exists())
    stopped_at = sent()
    time.sleep(1.0)
    total = run.selected_count or 0
    assert sent() == stopped_at < total
    run.refresh_from_db()
    assert run.status == BulkRunStatus.CANCELLED
    rows = results(lead_client, run)
    assert sum(r["outcome"] == "not sent" for r in rows) == total - stopped_at
    actions = set(AuditEvent.objects.filter(target=str(run)).values_list("action", flat=True))
    assert {"bulk.paused", "bulk.resumed", "bulk.cancelled"} <= actions


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_a_post_in_doubt_is_never_sent_again_an_idempotent_call_is(
    use_tenant: SandboxServer, lead_client: Client, everyone: list[dict[str, Any]]
) -> None:
    ids = [u["user_id"] for u in everyone if u["user_id"].startswith("auth0|")][:3]
    listed = {"source": "list", "users_file": _named(ids)}
    # Sign-out applies to users signed in somewhere (a session or a refresh token).
    signed_in = [u["user_id"] for u in with_devices(use_tenant)][:3]
    run = in_process_run(
        lead_client, {"source": "list", "users_file": _named(signed_in)}, {"action": "sign-out"}
    )
    # A worker died while sending the first user: its lease lapsed, its answer is lost.
    made_items(run)
    first = run.items.order_by("position").first()
    assert first is not None
    BulkItem.objects.filter(pk=first.pk).update(outcome=BulkOutcome.SENDING)
    BulkRun.objects.filter(pk=run.pk).update(status=BulkRunStatus.RUNNING)
    bulk_execute.execute(run.pk)
    first.refresh_from_db()
    # Sign-out's calls are DELETEs: sending again is harmless, so it was sent again.
    assert first.outcome == BulkOutcome.DONE

    verify = in_process_run(
        lead_client, {**listed, "users_file": _named(ids)}, {"action": "resend-verification"}
    )
    made_items(verify)
    targets = verify.items.filter(skip_reason="").order_by("position")
    doubt = targets.first()
    if doubt is None:
        pytest.skip("every listed user is verified")
    BulkItem.objects.filter(pk=doubt.pk).update(outcome=BulkOutcome.SENDING)
    before = use_tenant.requests_seen()
    bulk_execute.execute(verify.pk)
    doubt.refresh_from_db()
    assert doubt.outcome == BulkOutcome.UNKNOWN
    assert "not sent again" in doubt.message
    sent_jobs = sum(
        n - before.get(k, 0) for k, n in use_tenant.requests_seen().items() if "job" in k
    )
    assert sent_jobs <= targets.count() - 1


def _named(ids: list[str]) -> io.BytesIO:
    file = io.BytesIO("\n".join(ids).encode())
    file.name = "again.txt"
    return file


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_429s_slow_a_run_but_never_fail_a_user(
    use_tenant: SandboxServer, lead_client: Client, settings: Any, everyone: list[dict[str, Any]]
) -> None:
    settings.AUTH0_MAX_RETRIES = 0  # every 429 reaches the run
    ids = [u["user_id"] for u in everyone][10:20]
    run = in_process_run(
        lead_client, {"source": "list", "users_file": _named(ids)}, {"action": "sign-out"}
    )
    use_tenant.set_faults(rate_limit_share=0.3)
    bulk_execute.execute(run.pk)
    use_tenant.reset_faults()
    run.refresh_from_db()
    assert run.status == BulkRunStatus.DONE
    # Done, or skipped for having no session to sign out of: never failed.
    assert set(run.outcomes) <= {"done", "skipped"}
    assert sum(run.outcomes.values()) == 10
    skipped = run.items.filter(outcome=BulkOutcome.SKIPPED).exclude(
        message__contains="no session and no refresh token"
    )
    assert not skipped.exists()


def most_in_a_window(stamps: list[float], window: float) -> int:
    """The most stamps within `window` seconds of each other."""
    return max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("export_settings")
def test_a_run_on_a_low_plan_keeps_to_its_bucket_s_bulk_rate_and_no_429_fails_a_user(
    use_tenant: SandboxServer, lead_client: Client, settings: Any, everyone: list[dict[str, Any]]
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 100_000
    settings.AUTH0_RATE_LIMIT_PLAN = "essentials"
    settings.BULK_INTERACTIVE_RESERVE = 0.3
    ids = [u["user_id"] for u in everyone][50:80]
    data = {"action": "metadata", "which": "user_metadata", "patch": '{"paced": true}'}
    run = in_process_run(lead_client, {"source": "list", "users_file": _named(ids)}, data)
    assert run.change_count == len(ids)
    # Each user: GET (users_read, 350 a minute for bulk calls), PATCH (users_write, 140).
    bucket = pacing.bulk_rate(pacing.rate_for("essentials", "users_write"))
    assert run.expected_seconds == round(len(ids) / bucket.per_second)
    use_tenant.set_faults(rate_limit_plan="essentials")
    try:
        bulk_execute.execute(run.pk)
    finally:
        use_tenant.set_faults(rate_limit_plan="off")
    run.refresh_from_db()
    assert run.status == BulkRunStatus.DONE
    assert run.outcomes == {"done": len(ids)}
    stamps = [sent.timestamp() for sent in run.items.values_list("sent_at", flat=True) if sent]
    assert len(stamps) == len(ids)
    for window in (1.0, 3.0, 5.0):
        # The budget's burst, then its rate: one call of slack for a stamp at a window's edge.
        allowed = bucket.burst + window * bucket.per_second + 1
        assert most_in_a_window(stamps, window) <= allowed, window
    with use_tenant.api() as api:
        assert all(
            api.get(f"/api/v2/users/{uid}").json()["user_metadata"]["paced"] is True
            for uid in ids[:3]
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_failed_users_say_why_and_are_retried_as_a_new_run(
    use_tenant: SandboxServer, lead_client: Client, settings: Any, everyone: list[dict[str, Any]]
) -> None:
    settings.AUTH0_MAX_RETRIES = 0
    ids = [u["user_id"] for u in everyone][20:23]
    data = {"action": "metadata", "which": "user_metadata", "patch": '{"retried": true}'}
    run = in_process_run(lead_client, {"source": "list", "users_file": _named(ids)}, data)
    use_tenant.set_faults(error_share=1.0)
    bulk_execute.execute(run.pk)
    use_tenant.reset_faults()
    run.refresh_from_db()
    assert run.outcomes == {"failed": 3}
    item = run.items.first()
    assert item is not None
    assert "Auth0's answer was lost" in item.message
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "Retry the 3 failed" in page

    response = lead_client.post(f"{BULK}/{run.pk}/retry/")
    child = BulkRun.objects.get(parent=run)
    assert response["Location"] == f"{BULK}/{child.pk}/"
    assert (child.action, child.params, child.reason) == (run.action, run.params, run.reason)
    bulk.compute_preview(child.pk, child.preview_version)
    lead_client.post(f"{BULK}/{child.pk}/request/")
    bulk_execute.execute(child.pk)
    child.refresh_from_db()
    assert child.outcomes == {"done": 3}
    with use_tenant.api() as api:
        assert all(
            api.get(f"/api/v2/users/{uid}").json()["user_metadata"]["retried"] is True
            for uid in ids
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_undo_restores_exactly_the_keys_changed_and_skips_users_changed_since(
    use_tenant: SandboxServer, lead_client: Client, everyone: list[dict[str, Any]]
) -> None:
    ids = [u["user_id"] for u in everyone][30:33]
    with use_tenant.api() as api:
        before = {uid: api.get(f"/api/v2/users/{uid}").json() for uid in ids}
    data = {
        "action": "metadata",
        "which": "app_metadata",
        "patch": '{"undo_key": "set", "plan": "changed"}',
    }
    run = in_process_run(lead_client, {"source": "list", "users_file": _named(ids)}, data)
    bulk_execute.execute(run.pk)
    run.refresh_from_db()
    assert run.outcomes == {"done": 3}
    with use_tenant.api() as api:
        # Someone else changes the second user's key after the run.
        api.patch(f"/api/v2/users/{ids[1]}", json={"app_metadata": {"undo_key": "theirs"}})

    assert "Undo this run" in lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    lead_client.post(f"{BULK}/{run.pk}/undo/")
    undo = BulkRun.objects.get(parent=run)
    assert (undo.source, undo.action) == ("undo", "metadata")
    bulk.compute_preview(undo.pk, undo.preview_version)
    undo.refresh_from_db()
    assert undo.change_count == 3
    first = next(i for i in bulk_rows.every_item(undo) if i.user_id == ids[0])
    plan = (before[ids[0]].get("app_metadata") or {}).get("plan")
    assert bulk.planned(undo, first)[1] == {"app_metadata": {"plan": plan} if plan else {}}
    lead_client.post(f"{BULK}/{undo.pk}/request/")
    bulk_execute.execute(undo.pk)
    undo.refresh_from_db()
    assert undo.outcomes == {"done": 2, "skipped": 1}
    skipped = undo.items.get(outcome="skipped")
    assert skipped.user_id == ids[1]
    assert "Changed since the run by someone else (app_metadata: undo_key)" in skipped.message
    with use_tenant.api() as api:
        for uid in (ids[0], ids[2]):
            now = api.get(f"/api/v2/users/{uid}").json().get("app_metadata") or {}
            assert now == (before[uid].get("app_metadata") or {})
        assert api.get(f"/api/v2/users/{ids[1]}").json()["app_metadata"]["undo_key"] == "theirs"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_an_undo_run_s_restoring_patch_cannot_be_swapped_for_its_parent_s(
    use_tenant: SandboxServer, lead_client: Client, everyone: list[dict[str, Any]]
) -> None:
    """The undo's page offered "Choose another action" filled with the run's own patch: Enter in
    its ticket field made the undo a run setting the keys again (every user skipped, "this run
    undoes it" still said), and its "Sends" line named the run's values, not what it restores."""
    ids = [u["user_id"] for u in everyone][50:52]
    data = {"action": "metadata", "which": "app_metadata", "patch": '{"walk_plan": "gold"}'}
    run = in_process_run(lead_client, {"source": "list", "users_file": _named(ids)}, data)
    bulk_execute.execute(run.pk)
    lead_client.post(f"{BULK}/{run.pk}/undo/")
    undo = BulkRun.objects.get(parent=run)
    bulk.compute_preview(undo.pk, undo.preview_version)
    page = lead_client.get(f"{BULK}/{undo.pk}/").content.decode()
    assert "Choose another action" not in page
    counts = page.split('id="preview-counts"')[1].split("</dl>")[0]
    assert f"walk_plan</code>: as before run #{run.pk}, each user" in counts
    assert "gold" not in counts

    again = {**data, "reason": undo.reason, "ticket": "T-2"}
    assert lead_client.post(f"{BULK}/{undo.pk}/action/", again).status_code == 302
    undo.refresh_from_db()
    assert undo.params["undo"] is True
    assert (undo.status, undo.change_count, undo.ticket) == (BulkRunStatus.PREVIEWED, 2, "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast", "export_settings")
def test_undo_of_a_block_run_unblocks_its_users(
    use_tenant: SandboxServer, lead_client: Client, everyone: list[dict[str, Any]]
) -> None:
    ids = [u["user_id"] for u in everyone][40:44]
    run = in_process_run(
        lead_client, {"source": "list", "users_file": _named(ids)}, {"action": "block"}
    )
    bulk_execute.execute(run.pk)
    changed = user_ids_of(BulkRun.objects.get(pk=run.pk), BulkOutcome.DONE)
    assert changed
    assert blocked_at_auth0(use_tenant, set(ids)) == set(ids)
    lead_client.post(f"{BULK}/{run.pk}/undo/")
    undo = BulkRun.objects.get(parent=run)
    assert undo.action == "unblock"
    bulk.compute_preview(undo.pk, undo.preview_version)
    lead_client.post(f"{BULK}/{undo.pk}/request/")
    bulk_execute.execute(undo.pk)
    assert BulkRun.objects.get(pk=undo.pk).outcomes == {"done": len(changed)}
    assert blocked_at_auth0(use_tenant, changed) == set()


@pytest.mark.django_db
def test_the_timeline_says_which_run_who_asked_who_approved_and_why() -> None:
    common: dict[str, Any] = {"bulk_run": 12, "requested_by": "A", "approved_by": "B"}
    common["reason"] = "why"
    record_for(None, None, "users.block", "auth0|1", outcome="ok", **common)
    record_for(
        None, None, "users.unblock", "auth0|1", outcome="skipped", skipped="Not blocked.", **common
    )
    record_for(
        None, None, "users.block", "auth0|1", outcome="error", auth0={"message": "No"}, **common
    )
    entries, _ = timeline.merged("auth0|1", None)
    assert [(e.title, e.detail, e.failure) for e in entries] == [
        ("Blocked: failed by bulk run #12 (requested by A, approved by B): why", "No", True),
        (
            "Not unblocked (skipped) by bulk run #12 (requested by A, approved by B): why",
            "Not blocked.",
            False,
        ),
        ("Blocked by bulk run #12 (requested by A, approved by B): why", "", False),
    ]


@pytest.mark.slow
@pytest.mark.usefixtures("export_settings")
def test_a_killed_worker_s_run_finishes_on_another_with_no_email_sent_twice(
    celery_broker: str,
    worker_process: Any,
    use_tenant: SandboxServer,
    lead_client: Client,
    settings: Any,
    everyone: list[dict[str, Any]],
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 100_000
    settings.EXPORT_LEASE_SECONDS = 3
    unverified = [u["user_id"] for u in everyone if u["user_id"].startswith("auth0|")][:60]
    # Professional: "other" (the verification job) at 150 a minute, 2.5 users a second.
    pace = {"AUTH0_RATE_LIMIT_PLAN": "professional", "BULK_INTERACTIVE_RESERVE": "0"}
    run = in_process_run(
        lead_client,
        {"source": "list", "users_file": _named(unverified)},
        {"action": "resend-verification"},
    )
    # Started once the run is queued: a worker already up raced this process for the snapshot.
    first = worker_process(EXPORT_LEASE_SECONDS="3", **pace).start()
    targets = run.change_count or 0
    assert targets > 10

    wait_for(lambda: BulkItem.objects.filter(run=run, outcome="done").count() >= 5, timeout=60)
    first.kill()
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.RUNNING

    worker_process(EXPORT_LEASE_SECONDS="3", **pace).start()
    from users_admin.tasks import sweep_bulk_runs

    wait_for(lambda: sweep_bulk_runs() > 0, timeout=30, every=0.5)
    run = wait_for(
        lambda: BulkRun.objects.filter(pk=run.pk, status="done").first(), timeout=120, every=0.5
    )
    outcomes = run.outcomes
    assert outcomes.get("failed", 0) == 0
    assert outcomes.get("done", 0) + outcomes.get("unknown", 0) == targets
    # Never sent twice: at most one verification job a user, one for every user done.
    jobs = verification_jobs(use_tenant, set(unverified))
    assert max(jobs.values()) == 1, jobs
    assert set(jobs) >= user_ids_of(run, BulkOutcome.DONE)
    unknown = run.items.filter(outcome="unknown")
    assert all("not sent again" in item.message for item in unknown)


def verification_jobs(server: SandboxServer, user_ids: set[str]) -> Counter[str]:
    """Verification email jobs the sandbox holds, per user (read from its own database)."""
    with sqlite3.connect(server.db_path) as db:
        rows = db.execute(
            "SELECT user_id FROM sandbox_exportjob WHERE type = 'verification_email'"
        ).fetchall()
    return Counter(uid for (uid,) in rows if uid in user_ids)
