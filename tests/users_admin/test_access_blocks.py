"""The brute-force panel: each blocked address listed, and one clearing that
says it lifts them all (Auth0 has no per-address unblock)."""

from __future__ import annotations

import pytest
from django.test import Client

from management_api import Outcome
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sandbox_api import api_get, enc
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import brute_force_blocked
from tests.fixtures.user_actions import PAGE
from users_admin.workbench import Workbench

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def _blocks_panel(html: str) -> str:
    return fragment_text(html.split('id="brute-force"', 1)[1].split("</section>", 1)[0])


def test_every_blocked_address_is_listed_and_clearing_says_it_lifts_all(
    agent_client: Client, lead_client: Client, use_sandbox: SandboxServer
) -> None:
    user = next(
        u
        for u in brute_force_blocked(use_sandbox)
        if len(api_get(use_sandbox, f"/api/v2/user-blocks/{enc(u['user_id'])}")["blocked_for"]) > 1
    )
    blocks = api_get(use_sandbox, f"/api/v2/user-blocks/{enc(user['user_id'])}")["blocked_for"]
    # A lead sees each address; an agent the same rows with the addresses masked.
    lead_panel = _blocks_panel(lead_client.get(PAGE.format(user["user_id"])).content.decode())
    for block in blocks:
        assert block["ip"] in lead_panel
    html = agent_client.get(PAGE.format(user["user_id"])).content.decode()
    panel = _blocks_panel(html)
    assert panel.count("(masked)") == len(blocks)
    assert not any(block["ip"] in panel for block in blocks)
    assert (
        f"Auth0 has no per-address unblock: clearing lifts all {len(blocks)} blocks at once."
        in panel
    )
    status = html.split('class="card status-panel"', 1)[1].split("</section>", 1)[0]
    assert f"clearing lifts all {len(blocks)} blocks at once" in fragment_text(status)
    # One clearing in the status panel, not one button per address.
    assert status.count("action-clear-blocks") == 1


def test_a_single_block_is_one_sentence() -> None:
    block = {"identifier": "a@example.com", "ip": "192.0.2.1"}
    bench = Workbench("auth0|1", {}, blocks=Outcome(value=[block]))
    assert [p.text for p in bench.problems] == [
        "Locked after too many failed sign-ins from 192.0.2.1 (as a@example.com): that address "
        "cannot sign in until the block is cleared."
    ]
