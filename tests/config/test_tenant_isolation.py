"""Isolation through the pages: every stored thing of one tenant (an export and its file, an
export template, a saved and a recent search, a bulk run, audit rows) is neither listed nor
opened, downloaded or changed from another tenant's URL, even by a member with a role on both.
The queries' own scoping is tested in tests/management_api/test_tenants.py; here the views
that read them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from exports import tasks
from exports.models import Export, ExportTemplate, Status
from management_api import Tenant, tenant_scope
from staff.models import AuditEvent, TenantRole
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_LEAD_GROUP
from tests.fixtures.bulk import previewed
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.personas import make_staff, signed_in
from users_admin import saved
from users_admin.models import BulkRun, BulkRunStatus, RecentSearch, SavedSearch


@pytest.fixture
def both_roles(db: None) -> User:
    """Export admin and Support lead on every tenant: sees every export and bulk run of one."""
    user = make_staff("both@example.com", EXPORT_ADMIN_GROUP)
    user.groups.add(Group.objects.get(name=SUPPORT_LEAD_GROUP))
    return user


def posted(client: Client, url: str, **data: str) -> int:
    """A POST from a page of the URL's tenant (its form's tenant field), so only the scoping of
    the row can refuse it."""
    return client.post(url, {"tenant": url.split("/")[2], **data}).status_code


def test_a_staging_export_and_template_are_nowhere_on_production(
    two_tenants: tuple[Tenant, Tenant], both_roles: User
) -> None:
    client = signed_in(both_roles)
    with tenant_scope("staging"):
        export = drive(tasks.create_export({**CSV_SPEC, "limit": 3}, requested_by=both_roles).pk)
        template = ExportTemplate.objects.create(owner=both_roles, name="Monthly", spec={})
    assert export.status == Status.READY, export.failure_reason
    here, there = f"/t/staging/exports/{export.pk}/", f"/t/prod/exports/{export.pk}/"
    assert client.get(here).status_code == 200
    assert client.get(f"{here}download/original/").status_code == 200

    assert client.get(there).status_code == 404
    assert client.get(f"{there}download/original/").status_code == 404
    for verb in ("rename", "save-template", "derive", "cancel", "delete"):
        assert posted(client, f"{there}{verb}/", name="Taken") == 404, verb
    history = client.get("/t/prod/exports/").content.decode()
    assert f"/exports/{export.pk}/" not in history
    builder = client.get("/t/prod/exports/new/", {"template": template.pk}).content.decode()
    assert "Monthly" not in builder
    assert posted(client, f"/t/prod/exports/templates/{template.pk}/delete/") == 404

    export.refresh_from_db()
    assert (export.status, export.name) == (Status.READY, "")
    assert ExportTemplate.objects.filter(pk=template.pk).exists()
    assert not ExportTemplate.objects.filter(tenant="prod").exists()
    assert Export.objects.filter(tenant="prod").count() == 0
    # On its own tenant the template goes.
    assert posted(client, f"/t/staging/exports/templates/{template.pk}/delete/") == 302
    assert not ExportTemplate.objects.filter(pk=template.pk).exists()


def test_staging_searches_and_bulk_runs_are_nowhere_on_production(
    two_tenants: tuple[Tenant, Tenant], both_roles: User, settings: Any
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 100
    client = signed_in(both_roles)
    with tenant_scope("staging"):
        shared = SavedSearch.objects.create(
            owner=both_roles, name="Staging team", query_string="q=a", shared=True
        )
        saved.remember(both_roles, "q=staging-only", "staging-only")
        run = previewed(2)
    assert RecentSearch.objects.get().tenant == "staging"

    search = client.get("/t/prod/users/").content.decode()
    assert "Staging team" not in search
    assert "staging-only" not in search
    assert "staging-only" in client.get("/t/staging/users/").content.decode()
    # Deleting twice is safe: one not found on this tenant is "already gone", and stays.
    assert posted(client, f"/t/prod/searches/{shared.pk}/delete/") == 302
    assert SavedSearch.objects.filter(pk=shared.pk).exists()

    there = f"/t/prod/bulk/{run.pk}/"
    assert client.get(f"/t/staging/bulk/{run.pk}/").status_code == 200
    assert client.get(there).status_code == 404
    assert client.get(f"{there}results.csv").status_code == 404
    for verb in ("request", "approve", "cancel", "pause", "retry", "undo"):
        assert posted(client, f"{there}{verb}/", reason="Ticket 7: wrong tenant") == 404, verb
    assert posted(client, f"{there}reject/", reason="Ticket 7: wrong tenant") == 404
    assert f"/bulk/{run.pk}/" not in client.get("/t/prod/bulk/").content.decode()
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWED
    assert BulkRun.objects.get().tenant == "staging"


def test_audit_rows_of_a_tenant_are_shown_only_to_its_members(
    two_tenants: tuple[Tenant, Tenant], db: None
) -> None:
    """Export admin on prod alone: staging's rows are not on the audit log, not even asked for
    by the tenant filter, nor on a user's timeline of prod."""
    member = make_staff("prod-admin@example.com", None)
    TenantRole.objects.create(
        user=member, tenant="prod", group=Group.objects.get(name=EXPORT_ADMIN_GROUP)
    )
    AuditEvent.objects.create(action="users.view", target="auth0|prod-row", tenant="prod")
    AuditEvent.objects.create(action="users.view", target="auth0|staging-row", tenant="staging")
    client = signed_in(member)
    page = client.get("/t/prod/audit/").content.decode()
    assert "auth0|prod-row" in page
    assert "auth0|staging-row" not in page
    asked = client.get("/t/prod/audit/", {"tenant": "staging"}).content.decode()
    assert "auth0|staging-row" not in asked
    assert client.get("/t/staging/audit/").status_code == 403
