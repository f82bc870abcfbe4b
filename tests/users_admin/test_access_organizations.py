"""Organization memberships through the user page: the user's organizations
with their organization roles; a lead changes those roles and removes the membership."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import UNTHROTTLED, api_get, enc, role_id
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import ACME
from tests.fixtures.user_actions import PAGE, REASON, action_url, panel_text, post

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def org_roles(server: SandboxServer, user_id: str) -> list[str]:
    path = f"/api/v2/organizations/{ACME}/members/{enc(user_id)}/roles"
    return sorted(r["name"] for r in api_get(server, path))


def test_a_lead_changes_organization_roles(
    lead_client: Client, acme_member: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(**UNTHROTTLED)  # its reads of the sandbox: see UNTHROTTLED
    user_id = acme_member["user_id"]
    panel = panel_text(lead_client, user_id, "organizations")
    assert "Acme Corporation acme" in panel
    assert "Organization roles: team-owner" in panel
    analyst = role_id(use_sandbox, "analyst")

    def give_analyst() -> str:
        return post(
            lead_client,
            "organization-roles",
            user_id,
            f"?organization={ACME}",
            organization=ACME,
            roles=[analyst],
        )

    outcome = give_analyst()
    assert "Organization roles in acme are now: analyst." in outcome
    assert org_roles(use_sandbox, user_id) == ["analyst"]
    event = AuditEvent.objects.get(action="users.organization-roles")
    assert event.details["before"] == {"organization": "acme", "roles": ["team-owner"]}
    assert event.details["after"] == {"organization": "acme", "roles": ["analyst"]}
    assert api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/roles") == []  # tenant roles
    unchanged = give_analyst()  # the same roles again
    assert "Nothing changed" in unchanged


def test_a_lead_removes_a_membership(
    lead_client: Client, support_lead: User, acme_member: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(**UNTHROTTLED)  # its reads of the sandbox: see UNTHROTTLED
    user_id = acme_member["user_id"]
    outcome = post(
        lead_client, "remove-membership", user_id, f"?organization={ACME}", organization=ACME
    )
    assert "Removed from acme" in outcome
    assert api_get(use_sandbox, f"/api/v2/users/{enc(user_id)}/organizations") == []
    event = AuditEvent.objects.get(action="users.remove-membership")
    assert event.actor == support_lead
    assert event.details["before"] == {
        "organization": "acme",
        "member": True,
        "roles": [role_id(use_sandbox, "team-owner")],
    }
    assert "Not a member of any organization." in panel_text(lead_client, user_id, "organizations")
    page = fragment_text(lead_client.get(PAGE.format(user_id)).content.decode())
    assert f"Removed from an organization by {support_lead} reason: {REASON} acme" in page
    again = lead_client.get(action_url("remove-membership", user_id)).content.decode()
    assert "The user is a member of no organization." in fragment_text(again)


def test_any_tenant_role_is_reachable_as_an_organization_role(
    lead_client: Client, acme_member: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    """The organization roles panel pages through the tenant's roles and searches them by name
    (Auth0's name_filter), as the assign panel does; the member's roles stay listed, ticked,
    and the boxes ticked ride along with a search."""
    use_sandbox.set_faults(**UNTHROTTLED)  # its reads of the sandbox: see UNTHROTTLED
    user_id = acme_member["user_id"]
    url = action_url("organization-roles", user_id) + f"?organization={ACME}"
    first = lead_client.get(url).content.decode()
    assert "58 roles; page 1 of 3." in fragment_text(first)
    assert f"?organization={ACME}&amp;q=&amp;page=1" in first  # "More roles" keeps the member
    last = fragment_text(lead_client.get(url + "&page=2").content.decode())
    assert "page 3 of 3" in last
    assert "zephyr-reader" in last
    owner, zephyr = role_id(use_sandbox, "team-owner"), role_id(use_sandbox, "zephyr-reader")
    found = lead_client.get(url + "&q=ZEPHYR").content.decode()
    assert "2 roles match “ZEPHYR”" in fragment_text(found)
    assert re.search(rf'value="{owner}"[^>]*checked', found)  # held: listed and ticked
    assert "apollo-reader" not in found
    # A search with the boxes as ticked (team-owner unticked, zephyr-reader ticked on the
    # previous search) keeps them, though zephyr-reader is not on this page.
    carried = lead_client.get(url + f"&q=apollo&ticked=1&roles={zephyr}").content.decode()
    assert re.search(rf'value="{zephyr}"[^>]*checked', carried)
    assert not re.search(rf'value="{owner}"[^>]*checked', carried)
    outcome = post(
        lead_client,
        "organization-roles",
        user_id,
        f"?organization={ACME}&q=zephyr",
        organization=ACME,
        roles=[owner, zephyr],
    )
    assert "Organization roles in acme are now: team-owner, zephyr-reader." in outcome
    assert org_roles(use_sandbox, user_id) == ["team-owner", "zephyr-reader"]
    unknown = post(
        lead_client, "organization-roles", user_id, organization=ACME, roles=["rol_NoSuchRole0000"]
    )
    assert "Auth0 has no role rol_NoSuchRole0000 any more: search again." in unknown
