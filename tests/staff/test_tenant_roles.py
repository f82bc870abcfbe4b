"""Per-tenant roles: roles given on one tenant through TenantRole,
`add_staff --tenant` and the OIDC role map's `Role@tenant`; staff.permissions decides for the
current tenant, and a tenant a member has nothing on is hidden and a 403."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from management_api import Tenant, tenant_scope
from staff.models import AuditEvent, TenantRole
from staff.oidc import mapped_roles
from staff.permissions import SUPPORT_GROUP, SUPPORT_LEAD_GROUP, Capability, can, tenants_for
from staff.roles import current_roles, set_roles
from tests.fixtures.personas import make_staff, signed_in


def on_tenant(user: User, slug: str, role: str) -> None:
    TenantRole.objects.create(user=user, tenant=slug, group=Group.objects.get(name=role))


@pytest.fixture
def prod_agent(db: None) -> User:
    """Support on prod, nothing on staging."""
    user = make_staff("eu-agent@example.com", None)
    on_tenant(user, "prod", SUPPORT_GROUP)
    return user


def test_a_member_with_nothing_on_a_tenant_neither_sees_it_nor_opens_it(
    two_tenants: tuple[Tenant, Tenant], prod_agent: User
) -> None:
    prod, _staging = two_tenants
    assert tenants_for(prod_agent) == (prod,)
    client = signed_in(prod_agent)
    page = client.get("/t/prod/lookup/")
    assert page.status_code == 200
    assert "tenant-switch" not in page.content.decode()  # staging is not offered
    assert client.get("/t/staging/lookup/").status_code == 403
    assert client.get("/")["Location"] == "/t/prod/"
    chooser = client.get("/users/").content.decode()
    assert 'href="/t/prod/users/"' in chooser
    assert "/t/staging/" not in chooser


def test_roles_differ_per_tenant_and_plain_groups_mean_every_tenant(
    two_tenants: tuple[Tenant, Tenant], prod_agent: User
) -> None:
    on_tenant(prod_agent, "staging", SUPPORT_LEAD_GROUP)
    user = User.objects.get(pk=prod_agent.pk)  # a fresh object, as each request has
    with tenant_scope("prod"):
        assert can(user, Capability.SEARCH_USERS)
        assert not can(user, Capability.BLOCK_USERS)
    with tenant_scope("staging"):
        assert can(user, Capability.BLOCK_USERS)
    assert len(tenants_for(user)) == 2
    everywhere = make_staff("lead@example.com", SUPPORT_LEAD_GROUP)
    for slug in ("prod", "staging"):
        with tenant_scope(slug):
            assert can(everywhere, Capability.BLOCK_USERS)
    boss = User.objects.create_superuser("root@example.com", "root@example.com", "x")
    assert len(tenants_for(boss)) == 2


def test_one_tenant_keeps_todays_roles(db: None) -> None:
    agent = make_staff("agent@example.com", SUPPORT_GROUP)
    nobody = make_staff("nobody@example.com", None)
    assert can(agent, Capability.SEARCH_USERS)
    assert len(tenants_for(nobody)) == 1  # told "no role yet", as before
    assert signed_in(nobody).get("/t/userdesk-sandbox/users/").status_code == 403


def test_add_staff_gives_a_role_on_one_tenant(two_tenants: tuple[Tenant, Tenant], db: None) -> None:
    call_command(
        "add_staff",
        "new@example.com",
        "--role",
        "support",
        "--tenant",
        "staging",
        "--generate-password",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    user = User.objects.get(username="new@example.com")
    assert current_roles(user) == {"Support@staging"}
    assert not user.groups.exists()
    event = AuditEvent.objects.get(action="staff.role_changed", target="new@example.com")
    assert event.details["after"] == "Support@staging"
    with pytest.raises(CommandError, match="nowhere"):
        call_command("add_staff", "x@example.com", "--role", "support", "--tenant", "nowhere")


def test_the_oidc_role_map_may_name_a_role_on_one_tenant(
    two_tenants: tuple[Tenant, Tenant], settings: Any, db: None
) -> None:
    settings.OIDC_ROLE_CLAIM = "groups"
    settings.OIDC_ROLE_MAP = {
        "eu-support": "Support@prod",
        "staging-leads": "Support lead@staging",
        "gone": "Support@nowhere",
        "all": "Export admin",
    }
    roles = mapped_roles({"groups": ["eu-support", "staging-leads", "gone"]})
    assert roles == {"Support@prod", "Support lead@staging"}
    user = make_staff("oidc@example.com", None)
    assert set_roles(user, roles, source="claim")
    assert current_roles(user) == roles
    assert set_roles(user, {"Export admin"}, source="claim")
    assert current_roles(user) == {"Export admin"}
    assert not TenantRole.objects.filter(user=user).exists()


def test_with_two_tenants_a_member_without_any_role_is_told_so_at_once(
    two_tenants: tuple[Tenant, Tenant], outsider_client: Client
) -> None:
    page = outsider_client.get("/")
    assert "Your account has no role yet" in page.content.decode()


def test_a_members_roles_are_read_in_one_query_and_agree_with_django(
    two_tenants: tuple[Tenant, Tenant], prod_agent: User
) -> None:
    on_tenant(prod_agent, "staging", SUPPORT_LEAD_GROUP)
    prod_agent.groups.add(Group.objects.create(name="Auditors"))  # a group that grants nothing
    prod_agent.user_permissions.add(Permission.objects.get(codename="run_exports"))
    user = User.objects.get(pk=prod_agent.pk)  # a fresh object, as each request has
    with CaptureQueriesContext(connection) as read, tenant_scope("staging"):
        shown = {cap for cap in Capability if can(user, cap)}
        assert len(tenants_for(user)) == 2
        assert user.has_perm(Capability.RUN_EXPORTS.perm)
        mine = user.get_all_permissions()
    assert len(read.captured_queries) == 1
    assert Capability.RUN_EXPORTS in shown
    assert Capability.BLOCK_USERS in shown  # Support lead on staging
    assert Capability.VIEW_AUDIT_LOG not in shown
    # What Django's ModelBackend reads for itself, in its own queries.
    assert mine == User.objects.get(pk=prod_agent.pk).get_all_permissions()
    with tenant_scope("prod"):
        assert not can(User.objects.get(pk=prod_agent.pk), Capability.BLOCK_USERS)
