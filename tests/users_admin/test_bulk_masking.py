"""A bulk run's pages and result file mask personal data as the user page does: the keys of
PII_MASKED_FIELDS (and PII_MASKED_METADATA_KEYS in metadata) in the users' ids, emails and
before/after values, for a role without "seeing personal data"; a reveal unmasks that user
on the page, never in the file of many users."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from staff.permissions import SUPPORT_LEAD_GROUP
from tests.fixtures.bulk import BULK, DB, make_run
from tests.fixtures.personas import take_capability
from users_admin import bulk, bulk_rows
from users_admin.models import BulkEntry, BulkItem, BulkRun
from users_admin.pii import MASK
from users_admin.pii_models import Reveal

BIRTHDATE = "1987-03-14"


@pytest.fixture
def masked_settings(settings: Any) -> None:
    settings.PII_MASKED_FIELDS = [*settings.PII_MASKED_FIELDS, "email"]
    settings.PII_MASKED_METADATA_KEYS = ["birthdate"]


def previewed_run() -> BulkRun:
    """Two users whose metadata patch changes a masked key, previewed."""
    run = make_run(
        [
            {"identities": DB, "email": "ann@compromised.example"},
            {"identities": DB, "email": "bob@compromised.example"},
        ]
    )
    patch = {"birthdate": BIRTHDATE, "plan": "gold"}
    bulk.choose(run, bulk.ACTIONS["metadata"], {"which": "user_metadata", "patch": patch}, "r", "")
    bulk.compute_preview(run.pk, BulkRun.objects.get(pk=run.pk).preview_version)
    return BulkRun.objects.get(pk=run.pk)


def sample(page: str) -> str:
    """The preview's table of users."""
    return page.split('id="preview-sample"', 1)[1].split("</table>", 1)[0]


def text(response: Any) -> str:
    """The page as read: ids and addresses without the line-break hints between their parts."""
    return str(response.content.decode()).replace("<wbr>", "")


@pytest.mark.django_db
@pytest.mark.usefixtures("masked_settings")
def test_a_lead_without_personal_data_sees_the_preview_masked_unless_revealed(
    lead_client: Client, support_lead: User
) -> None:
    run = previewed_run()
    whole = text(lead_client.get(f"{BULK}/{run.pk}/"))
    assert "ann@compromised.example" in whole
    assert BIRTHDATE in whole
    take_capability(SUPPORT_LEAD_GROUP)
    page = sample(text(lead_client.get(f"{BULK}/{run.pk}/")))
    assert "ann@compromised.example" not in page
    assert "bob@compromised.example" not in page
    assert BIRTHDATE not in page  # the users' values (the patch typed is the requester's)
    assert MASK in page
    assert "gold" in page  # what is not personal data stays
    assert 'href="/t/userdesk-sandbox/users/auth0%7C0/"' in page  # ids are not masked here
    Reveal.objects.create(
        staff=support_lead,
        tenant=run.tenant,
        user_id="auth0|0",
        reason="sign_in_problem",
        ticket="SUP-1",
        token=uuid.uuid4(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    revealed = sample(text(lead_client.get(f"{BULK}/{run.pk}/")))
    assert "ann@compromised.example" in revealed
    assert "bob@compromised.example" not in revealed


@pytest.mark.django_db
@pytest.mark.usefixtures("masked_settings")
def test_the_result_file_and_the_first_users_are_masked_without_the_capability(
    lead_client: Client, settings: Any
) -> None:
    run = previewed_run()
    for block in run.blocks.all():  # the items a worker makes as it reaches the users
        bulk_rows.make_items(run, block)
    BulkItem.objects.filter(run=run).update(
        outcome="done",
        before={"user_metadata": {"birthdate": "1970-01-01"}},
        after={"user_metadata": {"birthdate": BIRTHDATE}},
        answer={"status": 200},
    )
    assert (
        "ann@compromised.example"
        in b"".join(
            lead_client.get(f"{BULK}/{run.pk}/results.csv").streaming_content  # type: ignore[attr-defined]
        ).decode()
    )
    take_capability(SUPPORT_LEAD_GROUP)
    csv = b"".join(
        lead_client.get(f"{BULK}/{run.pk}/results.csv").streaming_content  # type: ignore[attr-defined]
    ).decode()
    assert "compromised.example" not in csv
    assert BIRTHDATE not in csv
    assert "1970-01-01" not in csv
    assert csv.count(MASK) == 2 * 3  # each user's email, before and after
    # A list's first users and the lines that select nobody, with ids masked too.
    settings.PII_MASKED_FIELDS = [*settings.PII_MASKED_FIELDS, "user_id"]
    listed = make_run([{"identities": DB, "email": "cy@compromised.example"}])
    BulkEntry.objects.create(
        run=listed,
        line=2,
        entry="dee@compromised.example",
        problem="ambiguous",
        candidates=["auth0|7", "auth0|8"],
    )
    page = text(lead_client.get(f"{BULK}/{listed.pk}/"))
    assert "compromised.example" not in page
    assert "auth0|7" not in page
    assert "auth0|0" not in page
    assert "/users/auth0" not in page  # no link that spells the masked id
    assert page.count(MASK) >= 4
