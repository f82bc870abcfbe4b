"""The access actions through the user page against the sandbox server:
roles, organizations, single sessions and refresh tokens; each audited with its reason, on the
timeline, and offered to leads only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import api_get, enc, role_id
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import seeded
from tests.fixtures.user_actions import (
    PAGE,
    REASON,
    action_url,
    form_token,
    open_panel,
    panel_text,
    post,
)

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def test_a_lead_assigns_and_removes_a_role(
    lead_client: Client, support_lead: User, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    # The test's own reads of the sandbox (role ids, the user's roles) do not wait out a 429
    # as Userdesk's paced client does, so the sandbox's limits are off for them.
    use_sandbox.set_faults(rate_limit_plan="off")
    user_id = fresh_user["user_id"]
    assert "No role assigned directly." in panel_text(lead_client, user_id, "roles")
    editor = role_id(use_sandbox, "editor")

    panel = fragment_text(
        lead_client.get(action_url("assign-role", user_id) + "?q=EDI").content.decode()
    )
    assert "editor (Changes projects)" in panel
    assert "admin" not in panel  # the search narrowed the list
    outcome = post(lead_client, "assign-role", user_id, role=editor, q="EDI", page="0")
    assert "Role editor assigned" in outcome
    roles = api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/roles")
    assert [r["name"] for r in roles] == ["editor"]
    event = AuditEvent.objects.get(action="users.assign-role")
    assert (event.actor, event.details["reason"]) == (support_lead, REASON)
    assert (event.details["before"], event.details["after"]) == (
        {"roles": []},
        {"roles": ["editor"]},
    )

    roles = panel_text(lead_client, user_id, "roles")
    assert "update:projects on Userdesk demo API from role editor" in roles
    page = fragment_text(lead_client.get(PAGE.format(user_id)).content.decode())
    assert re.search(f"Role assigned by \\S+ reason: {REASON} editor", page)  # on the timeline

    outcome = post(lead_client, "remove-role", user_id, f"?role={editor}", role=editor)
    assert "Role editor removed" in outcome
    assert api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/roles") == []
    removed = AuditEvent.objects.get(action="users.remove-role")
    assert removed.details["after"] == {"roles": []}
    assert "Role removed" in fragment_text(lead_client.get(PAGE.format(user_id)).content.decode())


def test_the_role_list_pages_and_refuses_an_unknown_role(
    lead_client: Client, fresh_user: dict[str, Any]
) -> None:
    user_id = fresh_user["user_id"]
    first = fragment_text(lead_client.get(action_url("assign-role", user_id)).content.decode())
    assert re.search(r"58 roles; page 1 of 3\.", first)
    last = fragment_text(
        lead_client.get(action_url("assign-role", user_id) + "?page=2").content.decode()
    )
    assert "page 3 of 3" in last
    assert "zephyr-reader" in last
    assert "No role matches “nothing-like-it”" in fragment_text(
        lead_client.get(action_url("assign-role", user_id) + "?q=nothing-like-it").content.decode()
    )
    refused = post(lead_client, "assign-role", user_id, role="rol_doesNotExist0000", q="", page="0")
    assert "Select a valid choice" in refused
    token = form_token(lead_client.get(action_url("assign-role", user_id)).content.decode())
    response = lead_client.post(
        action_url("assign-role", user_id), {"token": token, "reason": "", "user_id": user_id}
    )
    # The field in error takes the focus (htmx focuses [autofocus] in what it swaps in).
    focused = re.findall(r"<input[^>]*autofocus[^>]*>", response.content.decode())
    assert len(focused) == 1
    assert 'name="role"' in focused[0]
    assert not AuditEvent.objects.filter(action="users.assign-role").exists()


def test_a_support_agent_sees_roles_but_is_offered_no_change(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    user = seeded(
        use_sandbox,
        "SELECT DISTINCT u.user_id FROM sandbox_membership m JOIN sandbox_userrole r "
        "ON r.user_id = m.user_id JOIN sandbox_tenantuser u ON u.id = m.user_id ORDER BY u.id",
    )[0]
    html = "".join(
        [agent_client.get(PAGE.format(user["user_id"])).content.decode()]
        + [open_panel(agent_client, user["user_id"], p) for p in ("roles", "organizations")]
    )
    page = fragment_text(html)
    roles = api_get(use_sandbox, f"/api/v2/users/{enc(user['user_id'])}/roles")
    for role in roles:
        assert role["name"] in page
    assert "Organization roles:" in page
    for name in (
        "assign-role",
        "remove-role",
        "remove-membership",
        "organization-roles",
        "revoke-session",
        "revoke-refresh-token",
    ):
        assert f"/actions/{name}/" not in html
        assert agent_client.get(action_url(name, user["user_id"])).status_code == 403
