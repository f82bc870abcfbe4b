"""A verification job page is its sender's and about the user it was sent to, and an
action's first outcome is shown to whoever submitted the form, not to whoever holds its token."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from staff.models import AuditEvent
from staff.permissions import SUPPORT_GROUP
from tests.fixtures.personas import make_staff, signed_in
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import fragment_text
from tests.fixtures.user_actions import REASON, action_url, form_token, send_verification

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")


def test_an_export_jobs_id_is_no_verification_email(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    with use_sandbox.api() as api:
        job = api.post("/api/v2/jobs/users-exports", json={"format": "json"}).json()
    url = reverse("users_admin:verification_job", args=[job["id"]])
    answer = agent_client.get(url)
    assert answer.status_code == 404
    assert "verification email" not in fragment_text(answer.content.decode()).lower()


def test_a_job_page_is_its_senders_and_about_their_user(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    use_sandbox.set_faults(email_template_disabled=True)
    user_id = fresh_user["user_id"]
    job_id = send_verification(agent_client, user_id)
    url = reverse("users_admin:verification_job", args=[job_id])
    colleague = signed_in(make_staff("colleague@example.com", SUPPORT_GROUP))
    assert colleague.get(url).status_code == 404
    assert colleague.get(url, {"user": user_id}).status_code == 404
    # `?user=` names nobody: the page is about the user the email went to.
    own = agent_client.get(url, {"user": "auth0|someone-else"}).content.decode()
    assert "someone-else" not in own
    assert reverse("users_admin:detail", args=[user_id]) in own


def test_an_actions_outcome_is_not_shown_to_another_holder_of_its_token(
    agent_client: Client, fresh_user: dict[str, Any], support_agent: User
) -> None:
    user_id = fresh_user["user_id"]
    url = action_url("resend-verification", user_id)
    form = {"token": form_token(agent_client.get(url).content.decode()), "reason": REASON}
    assert "queued a verification" in fragment_text(agent_client.post(url, form).content.decode())
    colleague = signed_in(make_staff("colleague@example.com", SUPPORT_GROUP))
    replay = fragment_text(colleague.post(url, form).content.decode())
    assert "already used" in replay
    assert "queued a verification email" not in replay
    assert fresh_user["email"] not in replay
    # Its submitter still sees the first outcome on a resend of the same form.
    assert "nothing was sent again" in fragment_text(agent_client.post(url, form).content.decode())
    assert AuditEvent.objects.filter(action="users.resend-verification").count() == 1
