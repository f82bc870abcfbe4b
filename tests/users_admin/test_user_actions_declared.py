"""The support actions' declarations: what follows from them, and carrying one out with no request
(the way a bulk run does)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from management_api import update_user
from staff.audit import action_label
from staff.models import StaffCapability
from staff.permissions import ROLE_CAPABILITIES, SUPPORT_GROUP, SUPPORT_LEAD_GROUP, Capability
from tests.fixtures.sandbox import SandboxServer
from users_admin.actions import ACTIONS, NotApplicable, perform, state
from users_admin.workbench import Workbench


def test_every_action_capability_is_a_permission_with_its_label_and_roles() -> None:
    codenames = {codename for codename, _ in StaffCapability._meta.permissions}
    for action in ACTIONS.values():
        assert action.capability in codenames
        assert getattr(Capability, action.capability.upper()) is action.capability
        assert action.capability.label
        for role in action.capability.roles:
            assert action.capability in ROLE_CAPABILITIES[role]
    assert set(Capability) >= {action.capability for action in ACTIONS.values()}
    assert pickle.loads(pickle.dumps(Capability.BLOCK_USERS)) is Capability.BLOCK_USERS


def test_the_audit_log_names_each_action_by_its_title() -> None:
    for name, action in ACTIONS.items():
        assert action_label(f"users.{name}") == action.title
    assert action_label("users.no-such-action") == "Users: no such action"


@pytest.mark.django_db(databases=["default", "sandbox"])  # makemigrations reads both histories
def test_the_migrations_hold_every_declared_permission() -> None:
    call_command("makemigrations", "staff", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_a_new_capability_reaches_its_roles_at_migrate_and_a_removed_grant_stays_removed() -> None:
    lead = Group.objects.get(name=SUPPORT_LEAD_GROUP)
    Permission.objects.filter(codename="reset_mfa").delete()  # as if just declared
    lead.permissions.remove(Permission.objects.get(codename="block_users"))  # an admin's choice
    call_command("migrate", verbosity=0)
    granted = set(lead.permissions.values_list("codename", flat=True))
    assert "reset_mfa" in granted
    assert "block_users" not in granted
    support = Group.objects.get(name=SUPPORT_GROUP)
    assert not support.permissions.filter(codename="reset_mfa").exists()


@pytest.mark.django_db(transaction=True)
def test_the_link_permission_says_it_links_an_account_by_its_user_id_too() -> None:
    """Django names a permission once: the migration renames the row a database already has."""
    executor = MigrationExecutor(connection)
    executor.migrate([("staff", "0010_capabilities")])
    Permission.objects.filter(codename="link_accounts").update(
        name="Link a user's duplicate accounts and unlink them"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    description = Capability.LINK_ACCOUNTS.description
    assert "by its user id" in description
    assert Permission.objects.get(codename="link_accounts").name == description


@pytest.mark.usefixtures("fresh_cache")
def test_an_action_is_performed_with_no_request(
    use_sandbox: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    block, user_id = ACTIONS["block"], fresh_user["user_id"]
    bench = state(block, user_id)
    assert bench is not None
    assert block.applies_to(bench) is None
    assert block.preview(bench, {}) == ({"blocked": False}, {"blocked": True})
    result = perform(block, user_id, {})
    assert (result.before, result.after) == ({"blocked": False}, {"blocked": True})
    with pytest.raises(NotApplicable, match="already blocked"):
        perform(block, user_id, {})


@pytest.mark.usefixtures("fresh_cache")
def test_each_action_says_why_it_does_not_apply(
    use_sandbox: SandboxServer, fresh_user: dict[str, Any]
) -> None:
    use_sandbox.set_faults(rate_limit_plan="off")  # every action's reads, one after the other
    user_id = fresh_user["user_id"]
    update_user(user_id, {"email_verified": True})
    reasons = {
        name: action.applies_to(bench)
        for name, action in ACTIONS.items()
        if (bench := state(action, user_id)) is not None
    }
    assert reasons == {
        "block": None,
        "unblock": "The user is not blocked.",
        "clear-blocks": "The user has no brute-force block.",
        "resend-verification": "The email address is already verified.",
        "password-link": None,
        "remove-mfa": "The user has no MFA method enrolled.",
        "sign-out": "The user has no session and no refresh token: there is nothing to sign out.",
        "edit-metadata": None,
        "edit-profile": None,
        "link-account": None,
        "unlink-account": "The user has no linked account.",
        "delete": None,
        "assign-role": None,
        "remove-role": "The user has no role assigned directly.",
        "remove-membership": "The user is a member of no organization.",
        "organization-roles": "The user is a member of no organization.",
        "revoke-session": "The user has no session.",
        "revoke-refresh-token": "The user has no refresh token.",
    }


def test_the_metadata_preview_is_auth0s_one_level_merge() -> None:
    bench = Workbench("auth0|1", {"user_metadata": {"theme": "dark", "lang": "en"}})
    data = {"which": "user_metadata", "patch": {"lang": None, "beta": True}}
    assert ACTIONS["edit-metadata"].preview(bench, data) == (
        {"user_metadata": {"theme": "dark", "lang": "en"}},
        {"user_metadata": {"theme": "dark", "beta": True}},
    )
