"""History, detail, downloads, derivatives and who may see what, through the test client."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import downloads, tasks
from exports.models import Export, ExportTemplate, Status
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, drive, stored_files
from tests.fixtures.sandbox import SandboxServer

pytestmark = pytest.mark.usefixtures("use_sandbox", "export_settings")

# The derive form's formset management fields, as the page renders them.
CONDITION_FORMS = {"c-TOTAL_FORMS": "5", "c-INITIAL_FORMS": "0"}


@pytest.fixture
def exporter_client(exporter: User) -> Client:
    client = Client()
    client.force_login(exporter)
    return client


def ready(user: User | None, **spec: Any) -> Export:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 60, **spec}, requested_by=user).pk)
    assert export.status == Status.READY, export.failure_reason
    return export


def test_history_lists_newest_first_with_details(
    admin_client_: Client, export_admin: User, exporter: User
) -> None:
    first = ready(export_admin)
    second = tasks.create_export({**CSV_SPEC, "format": "ndjson"}, requested_by=exporter)
    response = admin_client_.get("/t/userdesk-sandbox/exports/")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.index(f"#{second.pk}<") < body.index(f"#{first.pk}<")
    assert 'data-status="ready"' in body
    assert 'data-status="queued"' in body
    assert "exporter@example.com" in body
    assert "admin@example.com" in body
    # The queued one polls its row; the ready one does not.
    assert f'hx-get="/t/userdesk-sandbox/exports/{second.pk}/?view=row"' in body
    assert f'hx-get="/t/userdesk-sandbox/exports/{first.pk}/?view=row"' not in body
    assert f"/t/userdesk-sandbox/exports/{first.pk}/download/original/" in body


def test_others_see_only_their_own(
    exporter_client: Client, export_admin: User, exporter: User
) -> None:
    theirs = ready(export_admin)
    mine = tasks.create_export(CSV_SPEC, requested_by=exporter)
    body = exporter_client.get("/t/userdesk-sandbox/exports/").content.decode()
    assert f"/t/userdesk-sandbox/exports/{mine.pk}/" in body
    assert f"/t/userdesk-sandbox/exports/{theirs.pk}/" not in body
    assert exporter_client.get(f"/t/userdesk-sandbox/exports/{theirs.pk}/").status_code == 404
    response = exporter_client.get(f"/t/userdesk-sandbox/exports/{theirs.pk}/download/original/")
    assert response.status_code == 404
    # The refused attempt on someone else's export is audited.
    refused = AuditEvent.objects.get(action="exports.download")
    assert (refused.actor, refused.target) == (exporter, f"export #{theirs.pk}")
    assert refused.details["outcome"] == "refused"


def test_agents_and_outsiders_are_refused(
    agent_client: Client, outsider_client: Client, export_admin: User
) -> None:
    export = ready(export_admin)
    for client in (agent_client, outsider_client):
        assert client.get("/t/userdesk-sandbox/exports/").status_code == 403
        assert client.get(f"/t/userdesk-sandbox/exports/{export.pk}/").status_code == 403
        for variant in ("original", "uncompressed", "json", "import"):
            assert (
                client.get(
                    f"/t/userdesk-sandbox/exports/{export.pk}/download/{variant}/"
                ).status_code
                == 403
            )
        assert client.post(f"/t/userdesk-sandbox/exports/{export.pk}/delete/").status_code == 403
    assert Export.objects.filter(pk=export.pk).exists()


def test_row_polling_stops_when_settled(admin_client_: Client, export_admin: User) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    htmx = {"HX-Request": "true"}
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/?view=row", headers=htmx)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="export-row-{export.pk}"')
    assert 'hx-trigger="every 2s"' in body
    assert "<html" not in body
    assert response["Vary"].count("HX-Request") == 1

    drive(export.pk)
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/?view=row", headers=htmx)
    assert response.status_code == 286
    assert 'data-status="ready"' in response.content.decode()
    assert "every 2s" not in response.content.decode()

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/", headers=htmx)
    assert response.status_code == 286
    assert 'id="export-status"' in response.content.decode()
    # The settled block brings its download buttons with it.
    assert f"/t/userdesk-sandbox/exports/{export.pk}/download/json/" in response.content.decode()


def test_running_progress_shows_percentage_and_time_left(
    admin_client_: Client, export_admin: User
) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    Export.objects.filter(pk=export.pk).update(
        status=Status.RUNNING, percentage_done=42, time_left_seconds=17
    )
    body = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert 'value="42"' in body
    assert "42%" in body
    assert "about 17 s left" in body


def test_detail_shows_spec_timeline_verification_and_escaped_preview(
    admin_client_: Client, export_admin: User
) -> None:
    export = ready(export_admin, fields=[{"name": "email"}, {"name": "name"}])
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert export.auth0_job_id in body
    assert "Timeline" in body
    assert "Verification" in body
    assert export.sha256 in body
    sample = response.context["preview"]
    assert sample.header == ["email", "name"]
    assert len(sample.rows) == 50
    # Shown without Auth0's leading quote, and escaped by the template.
    assert not any(cell.startswith("'") for row in sample.rows for cell in row)
    assert "<script" not in body.split('class="table preview-table"')[1]


def test_downloads_stream_every_variant_and_are_audited(
    admin_client_: Client, export_admin: User, export_settings: Path
) -> None:
    export = ready(export_admin)
    kept = stored_files(export_settings)[0].read_bytes()

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/")
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == kept  # type: ignore[attr-defined]
    disposition = response["Content-Disposition"]
    assert f"userdesk-export-{export.pk}-userdesk-sandbox-all-connections-" in disposition
    assert ".csv.gz" in disposition

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/uncompressed/")
    assert response.streaming
    assert b"".join(response.streaming_content) == gzip.decompress(kept)  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/csv")

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/json/")
    users = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert isinstance(users, list)
    assert len(users) == 60
    assert not users[0]["email"].startswith("'")
    # Every connection's users: no Auth0 import file, and the page says why.
    assert (
        admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/import/").status_code
        == 404
    )
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    assert "No import-ready file is offered for this export" in page
    assert "It holds all connections" in page

    variants = list(
        AuditEvent.objects.filter(action="exports.download")
        .order_by("at", "id")
        .values_list("details__variant", flat=True)
    )
    assert variants == ["original", "uncompressed", "json", "import"]
    assert (
        AuditEvent.objects.filter(
            action="exports.download", actor=export_admin, target=f"export #{export.pk}"
        ).count()
        == 4
    )


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_each_declared_variant_is_offered_by_its_rule_and_served_under_its_name(
    admin_client_: Client, export_admin: User, fmt: str
) -> None:
    export = ready(export_admin, format=fmt)
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/").content.decode()
    plan = downloads.import_plan(export)
    offered = []
    for variant in downloads.VARIANTS:
        url = f"/t/userdesk-sandbox/exports/{export.pk}/download/{variant.slug}/"
        if not variant.offered(export, plan):
            assert url not in page
            assert admin_client_.get(url).status_code == 404
            continue
        offered.append(variant.slug)
        assert url in page
        response = admin_client_.get(url)
        assert response.status_code == 200
        assert downloads.attachment_name(response) == downloads.filename(export, variant.slug)
    assert offered == ["original", "uncompressed", "json"]
    assert f"{export.export_format.label} (.{fmt})" in page


def test_the_import_download_is_auth0s_import_format_named_before_download(
    admin_client_: Client, export_admin: User
) -> None:
    # The defect: user_id kept auth0|, the builder's titles (Id, Connection) and keys outside
    # Auth0's import schema (created_at) were in the "import-ready" JSON.
    export = ready(
        export_admin,
        connection_id="con_Db1Pw2Xk9LmQ4RtZ",
        connection_name="Username-Password-Authentication",
    )
    page = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/")
    body = page.content.decode()
    assert f"/t/userdesk-sandbox/exports/{export.pk}/download/import/" in body
    assert "Import-ready JSON for Auth0 (.json, or a .zip of ≤500 KB parts)" in body
    plan = page.context["import_plan"]
    assert [(c.title, ".".join(c.target) or c.reason) for c in plan.columns] == [
        ("Id", "user_id"),
        ("email", "email"),
        ("created_at", "not an attribute of Auth0's import schema"),
        ("Connection", "not an attribute of Auth0's import schema"),
    ]
    assert "left out: not an attribute of Auth0&#x27;s import schema" in body

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/import/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    name = f"userdesk-export-{export.pk}-userdesk-sandbox-username-password-authentication-"
    assert name in response["Content-Disposition"]
    assert response["Content-Disposition"].endswith('-import.json"')
    users = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert len(users) == 60
    assert all(set(user) == {"user_id", "email"} for user in users)
    assert not any(user["user_id"].startswith("auth0|") for user in users)
    served = AuditEvent.objects.get(action="exports.download", details__variant="import")
    assert served.details["filename"].endswith("-import.json")


def test_only_ready_exports_download(admin_client_: Client, export_admin: User) -> None:
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    assert (
        admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/").status_code
        == 404
    )
    assert (
        admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/bogus/").status_code
        == 404
    )


def test_filtered_derivative(
    admin_client_: Client, export_admin: User, sandbox_server: SandboxServer
) -> None:
    parent = ready(export_admin, limit=None, name="Churn check")
    data = {
        **CONDITION_FORMS,
        "c-0-column": "created_at",
        "c-0-operator": "after",
        "c-0-value": "2000-01-01",
        "c-1-column": "email",
        "c-1-operator": "contains",
        "c-1-value": "@",
    }
    response = admin_client_.post(f"/t/userdesk-sandbox/exports/{parent.pk}/derive/", data)
    child = Export.objects.get(parent=parent)
    assert response.status_code == 302
    assert response["Location"] == f"/t/userdesk-sandbox/exports/{child.pk}/"
    # Its own name, not its parent's.
    assert child.name == (
        "Churn check, filtered: created_at is on or after 2000-01-01 and email contains @"
    )
    assert child.filter_conditions[0] == {
        "column": "created_at",
        "operator": "after",
        "value": "2000-01-01",
    }
    child = drive(child.pk)
    assert child.status == Status.READY, child.failure_reason
    assert child.row_count is not None
    assert parent.row_count is not None
    assert 0 < child.row_count <= parent.row_count
    kept_parent = gzip.decompress(parent.open_file().read())
    kept_child = gzip.decompress(child.open_file().read())
    parent_lines = set(kept_parent.split(b"\n"))
    # Byte for byte: every kept row is a row of the parent, escaping and all.
    assert all(line in parent_lines for line in kept_child.split(b"\n"))
    body = admin_client_.get(f"/t/userdesk-sandbox/exports/{child.pk}/").content.decode()
    assert f"export #{parent.pk}" in body

    response = admin_client_.post(
        f"/t/userdesk-sandbox/exports/{parent.pk}/derive/",
        {
            **CONDITION_FORMS,
            "c-0-column": "created_at",
            "c-0-operator": "before",
            "c-0-value": "not a date",
        },
    )
    # The export's page again, the condition as typed, the message at its value box.
    assert response.status_code == 200
    body = response.content.decode()
    value_cell = body[body.index('id="id_c-0-value"') - 400 : body.index('id="id_c-0-value"') + 600]
    assert 'value="not a date"' in value_cell
    assert "“not a date” is not a date; use 2024-01-01" in value_cell
    assert 'class="messages"' not in body
    assert Export.objects.filter(parent=parent).count() == 1


def test_delete_asks_then_removes_row_and_file(
    admin_client_: Client, export_admin: User, export_settings: Path
) -> None:
    export = ready(export_admin)
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/delete/")
    assert response.status_code == 200
    assert f"Delete export #{export.pk}" in response.content.decode()
    assert Export.objects.filter(pk=export.pk).exists()
    response = admin_client_.post(f"/t/userdesk-sandbox/exports/{export.pk}/delete/")
    assert response.status_code == 302
    assert not Export.objects.filter(pk=export.pk).exists()
    assert stored_files(export_settings) == []
    assert AuditEvent.objects.filter(action="exports.delete").count() == 1


def test_save_as_template_from_history(admin_client_: Client, export_admin: User) -> None:
    export = ready(export_admin)
    response = admin_client_.post(
        f"/t/userdesk-sandbox/exports/{export.pk}/save-template/", {"name": "Monthly"}
    )
    assert response.status_code == 302
    template = ExportTemplate.objects.get(owner=export_admin)
    assert template.name == "Monthly"
    assert template.spec["fields"] == export.fields


def test_ndjson_export_downloads_and_filters(admin_client_: Client, export_admin: User) -> None:
    parent = ready(
        export_admin,
        format="ndjson",
        limit=None,
        fields=[{"name": "email"}, {"name": "logins_count"}, {"name": "user_metadata"}],
    )
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{parent.pk}/download/uncompressed/")
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).splitlines()  # type: ignore[attr-defined]
    assert len(lines) == parent.row_count == 300
    as_json = admin_client_.get(f"/t/userdesk-sandbox/exports/{parent.pk}/download/json/")
    users = json.loads(b"".join(as_json.streaming_content))  # type: ignore[attr-defined]
    assert [json.loads(line) for line in lines] == users

    response = admin_client_.post(
        f"/t/userdesk-sandbox/exports/{parent.pk}/derive/",
        {
            **CONDITION_FORMS,
            "c-0-column": "logins_count",
            "c-0-operator": "greater",
            "c-0-value": "10",
        },
    )
    child = drive(Export.objects.get(parent=parent).pk)
    assert child.status == Status.READY, child.failure_reason
    kept = gzip.decompress(child.open_file().read()).splitlines()
    assert kept
    assert set(kept) <= set(lines)
    assert all(json.loads(line)["logins_count"] > 10 for line in kept)
    expected = sum(1 for line in lines if (json.loads(line).get("logins_count") or 0) > 10)
    assert child.row_count == expected


def test_history_pages_through_25_at_a_time(admin_client_: Client, export_admin: User) -> None:
    made = [tasks.create_export(CSV_SPEC, requested_by=export_admin) for _ in range(27)]
    first = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    second = admin_client_.get("/t/userdesk-sandbox/exports/?page=2").content.decode()
    assert first.count('id="export-row-') == 25
    assert second.count('id="export-row-') == 2
    assert f'id="export-row-{made[-1].pk}"' in first
    assert f'id="export-row-{made[0].pk}"' in second
    assert "Page 1 of 2" in first
