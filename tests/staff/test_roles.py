"""The roles' capabilities, as the data migrations made them (adjustable in Django's admin)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User

from staff.permissions import Capability as C
from staff.permissions import can

SUPPORT = {C.SEARCH_USERS, C.RESEND_VERIFICATION, C.SEND_PASSWORD_LINK, C.CLEAR_BRUTE_FORCE}
LEAD = SUPPORT | {C.BLOCK_USERS, C.RESET_MFA, C.SIGN_OUT_EVERYWHERE, C.EDIT_METADATA}
LEAD |= {C.REQUEST_BULK_RUNS, C.APPROVE_BULK_RUNS}
LEAD |= {C.MANAGE_ROLES, C.MANAGE_ORGANIZATION_MEMBERS, C.REVOKE_SESSIONS}
LEAD |= {C.LINK_ACCOUNTS, C.EDIT_PROFILES, C.CREATE_USERS}
LEAD |= {C.REQUEST_BULK_RUNS, C.APPROVE_BULK_RUNS, C.SEE_PERSONAL_DATA, C.BUILD_DATA_PACKAGES}
EXPORT_ADMIN = {
    C.SEE_PERSONAL_DATA,
    C.BUILD_DATA_PACKAGES,
    C.SEARCH_USERS,
    C.RUN_EXPORTS,
    C.VIEW_ALL_EXPORTS,
    C.DOWNLOAD_EXPORTS,
    C.RUN_IMPORTS,
    C.SCHEDULE_EXPORTS,
    C.VIEW_AUDIT_LOG,
}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("support_agent", SUPPORT), ("support_lead", LEAD), ("export_admin", EXPORT_ADMIN)],
)
def test_each_role_has_exactly_its_capabilities(
    persona: str, expected: set[C], request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(persona)
    assert {cap for cap in C if can(user, cap)} == expected


def test_delete_is_for_support_leads_only_when_the_setting_allows_it(
    support_lead: User, support_agent: User, export_admin: User, settings: Any
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = False
    assert not can(support_lead, C.DELETE_USERS)
    assert not can(support_lead, C.RUN_BULK_DELETES)
    settings.USERDESK_ALLOW_USER_DELETE = True
    for capability in (C.DELETE_USERS, C.RUN_BULK_DELETES):
        assert can(support_lead, capability)
        assert not can(support_agent, capability)
        assert not can(export_admin, capability)


def test_a_group_edited_in_the_admin_changes_what_its_members_can_do(
    support_agent: User,
) -> None:
    group = Group.objects.get(name="Support")
    group.permissions.add(Permission.objects.get(codename="block_users"))
    user = User.objects.get(pk=support_agent.pk)  # a fresh object: no cached permissions
    assert can(user, C.BLOCK_USERS)
