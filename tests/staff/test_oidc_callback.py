"""A plain GET of the OIDC callback, with an `error` of anyone's choosing, answers no
sign-in this browser started: it signs nobody out, shows none of its text, and the audit rows it
leaves are bounded."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff import audit
from staff.models import AuditEvent
from staff.oidc import UNSTARTED_AUDITED_PER_HOUR
from tests.fixtures.client_addresses import an_address

CALLBACK = "/sign-in/oidc/callback/"


EVIL = "Your account is compromised: call +1 555 0100 now"


@pytest.fixture
def oidc_on(settings: Any) -> None:
    settings.OIDC_ISSUER = "https://idp.example.com/"
    settings.OIDC_PROVIDER_NAME = "Example IdP"
    settings.OIDC_RP_CLIENT_ID = "client"
    settings.OIDC_RP_CLIENT_SECRET = "secret"


def test_a_forged_error_neither_signs_out_nor_shows_its_text(
    oidc_on: None, agent_client: Client, support_agent: User
) -> None:
    answer = agent_client.get(
        CALLBACK,
        {"error": "access_denied", "error_description": EVIL},
        follow=True,
        REMOTE_ADDR=an_address(),
    )
    assert answer.status_code == 200
    assert EVIL not in answer.content.decode()
    assert "not started in this browser" in answer.content.decode()
    assert agent_client.session.get("_auth_user_id") == str(support_agent.pk)
    assert not AuditEvent.objects.filter(action=audit.SIGN_OUT).exists()
    (failure,) = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED)
    assert EVIL not in str(failure.details)
    assert failure.details["error"] == "access_denied"


def test_a_forged_error_with_a_state_of_its_own_changes_nothing(
    oidc_on: None, agent_client: Client, support_agent: User
) -> None:
    agent_client.get(
        CALLBACK, {"error": "login_required", "state": "made-up"}, REMOTE_ADDR=an_address()
    )
    assert agent_client.session.get("_auth_user_id") == str(support_agent.pk)


def test_anonymous_callbacks_leave_a_bounded_number_of_audit_rows(oidc_on: None, db: None) -> None:
    client = Client(REMOTE_ADDR=an_address())
    for number in range(UNSTARTED_AUDITED_PER_HOUR + 15):
        answer = client.get(CALLBACK, {"error": f"made-up-{number}", "error_description": EVIL})
        assert answer.status_code == 302
    failures = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED)
    assert failures.count() == UNSTARTED_AUDITED_PER_HOUR
    assert {event.details["error"] for event in failures} == {"other"}
