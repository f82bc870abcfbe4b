"""Four eyes on bulk runs: above BULK_APPROVAL_THRESHOLD users, and every delete, a second
staff member allowed to approve (never the requester) approves or rejects the frozen preview;
requests expire; one pending run per selection and action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from staff.models import AuditEvent
from tests.fixtures.bulk import previewed
from users_admin.models import BulkRun, BulkRunStatus

# The bulk pages of the test tenant.
BULK = "/t/userdesk-sandbox/bulk"


@pytest.fixture
def threshold(settings: Any) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 2


@pytest.mark.django_db
@pytest.mark.usefixtures("threshold")
def test_a_run_at_the_threshold_starts_without_approval(lead_client: Client) -> None:
    run = previewed(2)
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "Start the run" in page
    assert lead_client.post(f"{BULK}/{run.pk}/request/").status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    assert run.approved_by is None
    event = AuditEvent.objects.get(action="bulk.requested")
    assert event.details["needs_approval"] is False


@pytest.mark.django_db
@pytest.mark.usefixtures("threshold")
def test_a_larger_run_waits_for_a_second_lead_who_sees_the_frozen_preview(
    lead_client: Client, second_lead_client: Client, second_lead: User, support_lead: User
) -> None:
    run = previewed(3)
    assert "Request approval" in lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    requested = lead_client.post(f"{BULK}/{run.pk}/request/")
    # back to the run's page at its Approval section, which says it waits
    assert requested.headers["Location"].endswith(f"{BULK}/{run.pk}/#bulk-decision")
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PENDING
    assert run.requested_by == support_lead
    assert run.expires_at is not None

    own = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "You cannot approve your own run" in own
    assert "Approve and start" not in own
    assert lead_client.post(f"{BULK}/{run.pk}/approve/").status_code == 403
    assert lead_client.post(f"{BULK}/{run.pk}/reject/", {"reason": "my own"}).status_code == 403
    # The action is frozen once requested.
    changed = {"action": "unblock", "reason": "another reason"}
    lead_client.post(f"{BULK}/{run.pk}/action/", changed)
    assert BulkRun.objects.get(pk=run.pk).action == "block"

    theirs = second_lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "Approve and start" in theirs
    assert "Ticket 7: compromised (ticket T-7)" in theirs
    assert "<dd>3</dd>" in theirs
    assert "sign them out everywhere too" in theirs
    assert second_lead_client.post(f"{BULK}/{run.pk}/approve/").status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    assert run.approved_by == second_lead
    event = AuditEvent.objects.get(action="bulk.approved")
    assert event.actor == second_lead
    assert event.details["requested_by"] == support_lead.username
    assert (
        "approved by second-lead@userdesk.test"
        in lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("threshold")
def test_a_rejection_records_why(lead_client: Client, second_lead_client: Client) -> None:
    run = previewed(3)
    lead_client.post(f"{BULK}/{run.pk}/request/")
    refused = second_lead_client.post(f"{BULK}/{run.pk}/reject/", {"reason": " "})
    assert refused.status_code == 200  # the page again, the reason field in error
    assert "Type why you reject" in refused.content.decode()
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.PENDING
    second_lead_client.post(f"{BULK}/{run.pk}/reject/", {"reason": "Wrong   domain"})
    run.refresh_from_db()
    assert (run.status, run.rejection_reason) == (BulkRunStatus.REJECTED, "Wrong domain")
    assert "Wrong domain" in lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert AuditEvent.objects.get(action="bulk.rejected").details["why"] == "Wrong domain"
    second_lead_client.post(f"{BULK}/{run.pk}/approve/")
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.REJECTED


@pytest.mark.django_db
def test_every_delete_needs_approval_by_a_lead_who_may_delete(
    lead_client: Client, second_lead_client: Client, settings: Any
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = True
    run = previewed(1, action="delete")
    lead_client.post(f"{BULK}/{run.pk}/request/")
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PENDING
    settings.USERDESK_ALLOW_USER_DELETE = False
    assert second_lead_client.post(f"{BULK}/{run.pk}/approve/").status_code == 403
    settings.USERDESK_ALLOW_USER_DELETE = True
    assert second_lead_client.post(f"{BULK}/{run.pk}/approve/").status_code == 302
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.QUEUED


@pytest.mark.django_db
@pytest.mark.usefixtures("threshold")
def test_a_request_nobody_approves_in_time_expires(
    lead_client: Client, second_lead_client: Client
) -> None:
    run = previewed(3)
    lead_client.post(f"{BULK}/{run.pk}/request/")
    BulkRun.objects.filter(pk=run.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    second_lead_client.post(f"{BULK}/{run.pk}/approve/")
    run.refresh_from_db()
    assert run.status == BulkRunStatus.EXPIRED
    assert run.approved_by is None
    assert "Nobody approved it" in second_lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert AuditEvent.objects.filter(action="bulk.expired").count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("threshold")
def test_one_pending_run_per_selection_and_action(lead_client: Client) -> None:
    first, second = previewed(3), previewed(3)
    other_action = previewed(3, action="sign-out")
    lead_client.post(f"{BULK}/{first.pk}/request/")
    response = lead_client.post(f"{BULK}/{second.pk}/request/", follow=True)
    assert f"Run #{first.pk} with the same users and action already waits" in (
        response.content.decode()
    )
    assert BulkRun.objects.get(pk=second.pk).status == BulkRunStatus.PREVIEWED
    lead_client.post(f"{BULK}/{other_action.pk}/request/")
    assert BulkRun.objects.get(pk=other_action.pk).status == BulkRunStatus.PENDING


@pytest.mark.django_db
def test_a_preview_that_changes_nobody_cannot_be_requested(lead_client: Client) -> None:
    run = previewed(2, action="unblock")  # nobody is blocked
    response = lead_client.post(f"{BULK}/{run.pk}/request/", follow=True)
    assert "there is nothing to run" in response.content.decode()
    assert BulkRun.objects.get(pk=run.pk).status == BulkRunStatus.PREVIEWED
