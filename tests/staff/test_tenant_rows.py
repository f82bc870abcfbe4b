"""Rows of a tenant slug no longer configured: `make run`'s prepare_demo gives the earlier
one-tenant demo's rows (`userdesk-sandbox`) to the sandbox tenant it now calls `production`,
names any other slug with the command that moves it (`move_tenant_rows`), and changes nothing
where every slug is configured, as in a one-tenant deployment on today's AUTH0_* variables."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.test import Client

from config import settings as product
from exports.models import ExportTemplate
from ops.management.commands.prepare_demo import Command as PrepareDemo
from staff import audit
from staff.models import AuditEvent, TenantRole
from staff.permissions import SUPPORT_GROUP
from users_admin.models import SavedSearch


def demo_tenant(slug: str, sandbox: str, environment: str) -> dict[str, Any]:
    """One of `make run`'s tenants (the Makefile's demo_tenant): a sandbox by its domain."""
    return {
        "slug": slug,
        "name": f"{slug.title()} (sandbox)",
        "environment": environment,
        "colour": product.TENANT_DEFAULT_COLOURS[environment],
        "domain": f"{sandbox}.sandbox.local",
        "base_url": "http://127.0.0.1:9",
        "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret",
        "audience": f"https://{sandbox}.sandbox.local/api/v2/",
        "log_retention_days": 30,
        "plan": "enterprise",
    }


@pytest.fixture
def demo_tenants(settings: Any) -> None:
    settings.AUTH0_TENANTS = [
        demo_tenant("production", "userdesk-sandbox", "production"),
        demo_tenant("staging", "userdesk-staging", "staging"),
    ]


def prepare_rows() -> str:
    """prepare_demo's step for stored rows, as `make run` runs it; what it printed."""
    out = StringIO()
    PrepareDemo(stdout=out)._rows_of_former_tenants()
    return out.getvalue()


def test_the_earlier_demos_rows_move_to_the_production_sandbox_tenant(
    demo_tenants: None, support_lead: User
) -> None:
    old = "userdesk-sandbox"
    SavedSearch.objects.create(owner=support_lead, name="Mine", query_string="q=1", tenant=old)
    SavedSearch.objects.create(owner=support_lead, name="Taken", query_string="q=2", tenant=old)
    SavedSearch.objects.create(
        owner=support_lead, name="Taken", query_string="q=3", tenant="production"
    )
    ExportTemplate.objects.create(owner=support_lead, name="Monthly", spec={}, tenant=old)
    support = Group.objects.get(name=SUPPORT_GROUP)
    TenantRole.objects.create(user=support_lead, tenant=old, group=support)
    AuditEvent.objects.create(action="users.view", target="auth0|1", tenant=old)

    said = prepare_rows()

    assert "The earlier demo's tenant userdesk-sandbox is now production" in said
    assert "kept, their names already taken: saved search: 1" in said
    assert set(SavedSearch.objects.values_list("name", "tenant")) == {
        ("Mine", "production"),
        ("Taken", "production"),
        ("Taken", old),
    }
    assert ExportTemplate.objects.get().tenant == "production"
    assert TenantRole.objects.get().tenant == "production"
    # Audit events are append-only: they keep their tenant, and one more says what moved.
    assert AuditEvent.objects.get(action="users.view").tenant == old
    (moved,) = AuditEvent.objects.filter(action=audit.TENANT_ROWS_MOVED)
    assert (moved.target, moved.tenant, moved.actor_label) == (
        old,
        "production",
        "manage.py prepare_demo",
    )
    assert moved.details["moved"]["saved search"] == 1
    # Run again (every `make run`): only the kept row is left, and it is not moved twice.
    again = prepare_rows()
    assert "moved no rows (kept, their names already taken: saved search: 1)" in again
    assert AuditEvent.objects.filter(action=audit.TENANT_ROWS_MOVED).count() == 1


def test_another_former_slug_is_named_with_the_command_that_moves_it(
    demo_tenants: None, support_lead: User
) -> None:
    SavedSearch.objects.create(owner=support_lead, name="EU", query_string="q=1", tenant="old-eu")
    said = prepare_rows()
    assert "tenant old-eu (saved search: 1) belong to no configured tenant" in said
    assert "uv run python manage.py move_tenant_rows old-eu SLUG" in said
    assert SavedSearch.objects.get().tenant == "old-eu"

    with pytest.raises(CommandError, match="'nowhere' is configured"):
        call_command("move_tenant_rows", "old-eu", "nowhere")
    with pytest.raises(CommandError, match="No stored row has the unconfigured tenant slug"):
        call_command("move_tenant_rows", "staging", "production")
    out = StringIO()
    call_command("move_tenant_rows", "old-eu", "staging", stdout=out)
    assert out.getvalue() == "Moved from old-eu to staging: saved search: 1.\n"
    assert SavedSearch.objects.get().tenant == "staging"
    assert prepare_rows() == ""


def test_a_one_tenant_deployment_sees_nothing_change(
    settings: Any, support_lead: User, lead_client: Client
) -> None:
    """Today's AUTH0_* variables, no AUTH0_TENANTS: the one tenant's rows stay where they are and
    its pages show them, whether it is the sandbox or a real Auth0 domain."""
    assert settings.AUTH0_TENANTS == []
    SavedSearch.objects.create(owner=support_lead, name="Ours", query_string="q=1")
    assert SavedSearch.objects.get().tenant == "userdesk-sandbox"
    assert prepare_rows() == ""
    assert SavedSearch.objects.get().tenant == "userdesk-sandbox"
    assert "Ours" in lead_client.get("/t/userdesk-sandbox/users/").content.decode()

    settings.AUTH0_DOMAIN, settings.AUTH0_DOMAIN_SET = "acme.eu.auth0.com", True
    settings.AUTH0_TENANT_SLUG = "acme-eu"
    SavedSearch.objects.update(tenant="acme-eu")
    assert prepare_rows() == ""
    assert SavedSearch.objects.get().tenant == "acme-eu"
    assert not AuditEvent.objects.filter(action=audit.TENANT_ROWS_MOVED).exists()
