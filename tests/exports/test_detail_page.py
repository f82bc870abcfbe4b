"""What an admin expects of an export's page: the queued banner goes once
the export moves on, a stalled export says so and when it resumes, a filtered export's
conditions survive a re-run and a template, plain failure reasons, readable audit details."""

from __future__ import annotations

import gzip
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from exports import lease, pipeline, tasks
from exports.models import Export, ExportTemplate, Status
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("use_sandbox", "export_settings")
HTMX = {"HX-Request": "true"}
CONDITION = {"column": "email", "operator": "contains", "value": "a"}


def test_the_queued_banner_goes_once_the_export_moves_on(
    admin_client_: Client, export_admin: User, use_sandbox: SandboxServer
) -> None:
    from tests.fixtures.exports import builder_post

    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")]), follow=True
    )
    export = Export.objects.get()
    body = response.content.decode()
    assert body.count(f"Export #{export.pk} is queued") == 1
    # Inside the block htmx replaces, not a flash message above it that would stay.
    status_block = body[body.index('id="export-status"') :]
    assert 'id="queued-banner"' in status_block
    assert 'class="messages"' not in body

    use_sandbox.set_faults(job_pending_seconds=3600)
    assert pipeline.advance(export.pk, export.step) is not None
    polled = admin_client_.get(
        f"/t/userdesk-sandbox/exports/{export.pk}/", headers=HTMX
    ).content.decode()
    assert "is queued" not in polled
    use_sandbox.shift_clock(3600)
    settled = admin_client_.get(f"/t/userdesk-sandbox/exports/{drive(export.pk).pk}/", headers=HTMX)
    assert settled.status_code == 286
    assert "is queued" not in settled.content.decode()


def test_a_stalled_export_says_so_and_its_timeline_records_the_resume(
    admin_client_: Client, export_admin: User, settings: Any
) -> None:
    settings.EXPORT_STALE_SECONDS = 300
    settings.EXPORT_SWEEP_SECONDS = 30
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    claimed = lease.claim(export.pk, export.step)
    assert isinstance(claimed, lease.Claim)
    lease.transition(claimed, Status.RUNNING, "Auth0 started the job")
    # The worker is killed: its lease lapses and nothing moves for two minutes.
    quiet_since = timezone.now() - timedelta(minutes=2)
    Export.objects.filter(pk=export.pk).update(
        lease_expires_at=quiet_since + timedelta(seconds=30), heartbeat_at=quiet_since
    )
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    resume_by = timezone.localtime(quiet_since + timedelta(seconds=330)).strftime("%H:%M:%S")
    assert "Stalled: the worker was lost" in body
    assert f"It resumes by {resume_by} UTC" in body
    row = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert f'Stalled</span> <span class="muted nowrap">resumes by {resume_by}' in row
    assert tasks.sweep_exports() == 0  # not yet past EXPORT_STALE_SECONDS

    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert tasks.sweep_exports() == 1
    messages = [event.message for event in Export.objects.get(pk=export.pk).events.all()]
    assert any(
        m.startswith("Worker lost: no progress since") and "resumed by the recovery sweep" in m
        for m in messages
    ), messages
    # Sent again just now: no longer shown as stalled.
    assert (
        "Stalled"
        not in admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    )


def test_a_moving_export_is_not_called_stalled(admin_client_: Client, export_admin: User) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    claimed = lease.claim(export.pk, export.step)
    assert isinstance(claimed, lease.Claim)
    lease.transition(claimed, Status.RUNNING, "Auth0 started the job")
    assert (
        "Stalled"
        not in admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    )


def _filtered(admin_client_: Client, export_admin: User) -> tuple[Export, Export]:
    parent = drive(tasks.create_export({**CSV_SPEC, "limit": 40}, requested_by=export_admin).pk)
    assert parent.status == Status.READY, parent.failure_reason
    admin_client_.post(
        f"/t/userdesk-sandbox/exports/{parent.pk}/derive/",
        {
            "c-TOTAL_FORMS": "5",
            "c-INITIAL_FORMS": "0",
            "c-0-column": CONDITION["column"],
            "c-0-operator": CONDITION["operator"],
            "c-0-value": CONDITION["value"],
        },
    )
    child = drive(Export.objects.get(parent=parent).pk)
    assert child.status == Status.READY, child.failure_reason
    return parent, child


def _post_builder(admin_client_: Client, url: str) -> Any:
    """Submit the builder as the page renders it for `url`, its prefill untouched."""
    form = admin_client_.get(url).context["form"]
    data: dict[str, Any] = {
        "format": form.initial.get("format", "csv"),
        "limit": form.initial.get("limit") or "",
        "connection": form.initial.get("connection", ""),
        "conditions": form.initial.get("conditions", ""),
    }
    if form.initial.get("keep_conditions"):
        data["keep_conditions"] = "on"
    picked = [r.row for r in form.field_rows if r.row.on]
    for index, row in enumerate(picked):
        data.update(
            {
                f"r-{index}-kind": row.kind,
                f"r-{index}-name": row.name,
                f"r-{index}-on": "on",
                f"r-{index}-export_as": row.export_as,
                f"r-{index}-order": str(index + 1),
            }
        )
    data.update({"r-TOTAL_FORMS": str(len(picked)), "r-INITIAL_FORMS": "0"})
    return admin_client_.post("/t/userdesk-sandbox/exports/new/", data)


def _emails(export: Export) -> list[str]:
    lines = gzip.decompress(export.open_file().read()).decode().splitlines()[1:]
    return sorted(line.split(",")[1] for line in lines)


def test_a_rerun_of_a_filtered_export_keeps_its_conditions(
    admin_client_: Client, export_admin: User
) -> None:
    _, child = _filtered(admin_client_, export_admin)
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/new/?rerun={child.pk}").content.decode()
    assert "email contains a" in page
    assert (
        _post_builder(
            admin_client_, f"/t/userdesk-sandbox/exports/new/?rerun={child.pk}"
        ).status_code
        == 302
    )
    rerun = Export.objects.latest("pk")
    assert rerun.filter_conditions == [CONDITION]
    assert rerun.parent is None
    rerun = drive(rerun.pk)
    assert rerun.status == Status.READY, rerun.failure_reason
    # The same rows as the filtered export, from a fresh Auth0 file.
    assert rerun.auth0_job_id
    assert rerun.auth0_job_id != child.auth0_job_id
    assert _emails(rerun) == _emails(child)
    assert all("a" in email for email in _emails(rerun))


def test_a_template_of_a_filtered_export_keeps_its_conditions(
    admin_client_: Client, export_admin: User
) -> None:
    _, child = _filtered(admin_client_, export_admin)
    admin_client_.post(
        f"/t/userdesk-sandbox/exports/{child.pk}/save-template/", {"name": "With an a"}
    )
    template = ExportTemplate.objects.get(name="With an a")
    assert template.spec["conditions"] == [CONDITION]
    url = f"/t/userdesk-sandbox/exports/new/?template={template.pk}"
    assert _post_builder(admin_client_, url).status_code == 302
    made = drive(Export.objects.latest("pk").pk)
    assert made.status == Status.READY, made.failure_reason
    assert made.filter_conditions == [CONDITION]
    assert _emails(made) == _emails(child)


def test_the_template_name_box_holds_as_many_characters_as_a_template_name(
    admin_client_: Client, export_admin: User
) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    box = re.search(r'<input[^>]*id="template-name"[^>]*>', page)
    assert box is not None
    assert f'maxlength="{ExportTemplate._meta.get_field("name").max_length}"' in box.group(0)


def test_conditions_can_be_dropped_and_must_fit_the_columns(
    admin_client_: Client, export_admin: User
) -> None:
    from tests.fixtures.exports import builder_post

    carried = json.dumps([CONDITION])
    # Unticked: the export keeps every row.
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")], conditions=carried)
    )
    assert response.status_code == 302
    assert Export.objects.get().filter_conditions == []
    # Kept, but the column they test is no longer picked: said at the box.
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/",
        builder_post([("name", "")], keep_conditions="on", conditions=carried),
    )
    assert response.status_code == 200
    assert "“email” is not a column of this export." in response.content.decode()
    tampered = builder_post([("email", "")], conditions='[{"column": 1}]', keep_conditions="on")
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", tampered)
    assert "The row conditions could not be read" in response.content.decode()
    assert Export.objects.count() == 1


def test_failure_reasons_are_plain_words(
    admin_client_: Client, export_admin: User, use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(job_pending_seconds=3600)
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    following = pipeline.advance(export.pk, export.step)
    assert following is not None
    Export.objects.filter(pk=export.pk).update(
        auth0_job_created_at=timezone.now() - timedelta(hours=25)
    )
    assert pipeline.advance(export.pk, following.step) is None
    export.refresh_from_db()
    assert export.failure_reason == (
        "Auth0 had not finished its export job after 24 hours (it last said “pending”), and "
        "Auth0 deletes a job after 24 hours. Run it again, perhaps with a limit or one "
        "connection."
    )


def test_audit_details_read_as_words(admin_client_: Client, export_admin: User) -> None:
    parent, child = _filtered(admin_client_, export_admin)
    admin_client_.post(
        f"/t/userdesk-sandbox/exports/{child.pk}/save-template/", {"name": "Readable"}
    )
    page = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    body = page[page.index("<main") :]  # the rows, not the page's htmx configuration
    assert "Conditions:</span> email contains a" in body
    assert f"Parent:</span> {parent.pk}" in body
    assert "Created:</span> yes" in body
    assert "From export:</span>" in body
    assert "True" not in body
    assert "[{" not in body
    assert "{&#x27;" not in body


def test_a_queued_export_no_worker_took_says_so(
    admin_client_: Client, export_admin: User, settings: Any
) -> None:
    settings.EXPORT_QUEUED_GRACE_SECONDS = 60
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    Export.objects.filter(pk=export.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert "Stalled: no worker has picked it up since" in body
    assert tasks.sweep_exports() == 1
    messages = [event.message for event in Export.objects.get(pk=export.pk).events.all()]
    assert "sent to a worker again by the recovery sweep" in messages[-1]


def test_an_exact_exports_stages_are_numbered_once_and_its_counts_grouped(
    admin_client_: Client, export_admin: User
) -> None:
    spec = {**CSV_SPEC, "match_query": "email_verified:true"}
    export = tasks.create_export(spec, requested_by=export_admin)
    Export.objects.filter(pk=export.pk).update(
        status=Status.FILTERING, scanned_count=1234567, matched_count=4321
    )
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    stages = body[body.index('class="exact-stages"') : body.index("</ol>")]
    # An <ol> numbers its items itself: "1. 1. Auth0's export job" read twice.
    assert "<li>Auth0's export job: done</li>" in stages
    assert "<li>Filtering: scanned 1,234,567 users, 4,321 matches…</li>" in stages
    assert "4,321 of 1,234,567 users scanned match" in body
    Export.objects.filter(pk=export.pk).update(status=Status.READY, row_count=4321)
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert "<dt>Rows</dt><dd>4,321</dd>" in body
    history = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert "4,321 rows" in history


def test_a_ready_exports_page_says_when_its_file_will_be_deleted(
    admin_client_: Client, export_admin: User, settings: Any
) -> None:
    """The page says when retention will delete the file."""
    settings.EXPORT_RETENTION_DAYS = 30
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 3}, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    when = export.ready_at + timedelta(days=30)
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    kept = body[body.index('id="kept-until"') :]
    assert f"{when:%Y-%m-%d %H:%M} UTC</time>: then the file is deleted (30 days" in kept


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (Status.QUEUED, "Waiting for a worker"),
        (Status.SUBMITTED, "Waiting for Auth0 to start its export job"),
        (Status.RUNNING, "Auth0 is building the file"),
        (Status.DOWNLOADING, "Downloading and checking the file from Auth0"),
    ],
)
def test_an_unsettled_exports_bar_has_words_beside_it(
    admin_client_: Client, export_admin: User, status: str, words: str
) -> None:
    """A pending job's bar has words beside it."""
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    Export.objects.filter(pk=export.pk).update(status=status, percentage_done=None)
    for path in (f"/t/userdesk-sandbox/exports/{export.pk}/", "/t/userdesk-sandbox/exports/"):
        body = admin_client_.get(path).content.decode()
        assert f'<span class="progress-words">{words}</span>' in body, path


@pytest.mark.parametrize(
    ("fmt", "query", "says"),
    [
        # CSV from Auth0's CSV, the query reading a chosen field: Auth0's rows as they are.
        ("csv", "email_verified:true", "The rows are as Auth0 wrote them"),
        # The query reads metadata: Auth0 wrote NDJSON and Userdesk wrote the CSV rows.
        ("csv", "user_metadata.plan:pro", "Userdesk wrote each kept row in CSV"),
        # NDJSON with a field only the query reads: Userdesk rewrote the lines without it.
        ("ndjson", "blocked:true", "Userdesk wrote each kept line again without"),
    ],
)
def test_about_this_file_says_who_wrote_the_rows(
    export_admin: User, fmt: str, query: str, says: str
) -> None:
    """The "About this file" text says Userdesk wrote the rows when it did."""
    from exports.downloads import about_text

    fields = [{"name": "user_id"}, {"name": "email_verified"}]
    spec = {**CSV_SPEC, "format": fmt, "fields": fields, "match_query": query}
    export = tasks.create_export(spec, requested_by=export_admin)
    text = " ".join(about_text(export).split())
    assert says in text
    if "Userdesk wrote" in says:
        assert "as Auth0 wrote them" not in text


def test_a_settled_exports_poll_swaps_cancel_for_delete_in_the_header(
    admin_client_: Client, export_admin: User
) -> None:
    """The header sits outside the polled status block: the poll that brings the settled
    state also replaces the header's Cancel with Delete (htmx's out-of-band swap)."""
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    url = f"/t/userdesk-sandbox/exports/{export.pk}/"
    first = admin_client_.get(url).content.decode()
    header = first[: first.index('id="export-status"')]
    assert f'href="/t/userdesk-sandbox/exports/{export.pk}/cancel/"' in header

    polled = admin_client_.get(url, headers=HTMX).content.decode()
    assert 'id="export-actions" hx-swap-oob="true"' in polled
    assert "Cancel export" in polled

    settled = admin_client_.get(f"/t/userdesk-sandbox/exports/{drive(export.pk).pk}/", headers=HTMX)
    assert settled.status_code == 286
    body = settled.content.decode()
    actions = body[body.index('id="export-actions"') : body.index("</span>")]
    assert 'hx-swap-oob="true"' in actions
    assert f'href="/t/userdesk-sandbox/exports/{export.pk}/delete/"' in actions
    assert "Cancel export" not in body
    # A history row's poll has no header to replace.
    row = admin_client_.get(f"{url}?view=row", headers=HTMX).content.decode()
    assert 'id="export-actions"' not in row
