"""Access with a reason: phone numbers, IP addresses, user agents and the
metadata keys of PII_MASKED_METADATA_KEYS are masked to roles without "seeing personal data";
*Reveal* (a reason code and a ticket) unmasks one user for PII_REVEAL_MINUTES, audited and on
the user's timeline; exports of masked fields need the capability."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from staff.models import AuditEvent
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_LEAD_GROUP
from tests.fixtures.personas import take_capability
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import fragment_text
from tests.fixtures.support_cases import seeded as seeded_where
from users_admin.pii import MASK, mask
from users_admin.pii_models import Reveal

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")
T = "/t/userdesk-sandbox"


def seeded(server: SandboxServer, query: str) -> dict[str, Any]:
    with server.api() as api:
        found = api.get(
            "/api/v2/users", params={"q": query, "search_engine": "v3", "per_page": 1}
        ).json()
    return dict(found[0])


@pytest.fixture
def phone_user(use_sandbox: SandboxServer) -> dict[str, Any]:
    return seeded(use_sandbox, "_exists_:phone_number AND _exists_:last_ip")


def reveal(client: Client, user_id: str, **data: str) -> Any:
    form = client.get(f"{T}/users/{user_id}/reveal/").content.decode()
    token = re.search(r'name="token" value="([0-9a-f-]{36})"', form)
    assert token, "the reveal form carries an idempotency token"
    posted = {"token": token[1], "reason": "sign_in_problem", "ticket": "SUP-4711", **data}
    return client.post(f"{T}/users/{user_id}/reveal/", posted)


def test_an_agent_sees_phone_and_addresses_masked_a_lead_does_not(
    agent_client: Client, lead_client: Client, phone_user: dict[str, Any]
) -> None:
    user_id, phone, ip = phone_user["user_id"], phone_user["phone_number"], phone_user["last_ip"]
    masked = agent_client.get(f"{T}/users/{user_id}/").content.decode()
    assert phone not in masked
    assert ip not in masked
    assert MASK in masked
    assert phone_user["email"] in masked  # emails stay: agents search by them
    assert "Reveal with a reason" in masked
    whole = lead_client.get(f"{T}/users/{user_id}/").content.decode()
    assert phone in whole
    assert ip in whole
    assert MASK not in whole
    # The timeline's older pages and the search results mask them too.
    timeline = agent_client.get(f"{T}/timeline/{user_id}/").content.decode()
    assert ip not in timeline
    results = agent_client.get(
        f"{T}/users/",
        {"q": f'user_id:"{user_id}"', "mode": "advanced", "columns": ["email", "phone_number"]},
    ).content.decode()
    assert phone_user["email"] in results
    assert phone not in results


def test_a_passwordless_sms_users_name_is_their_phone_number_and_masked_as_it(
    agent_client: Client, lead_client: Client, use_sandbox: SandboxServer
) -> None:
    """Auth0 names a passwordless SMS user by their phone number: the page's heading, the
    raw profile and the results mask it where it stands in `name` too."""
    (user,) = seeded_where(
        use_sandbox,
        "SELECT u.user_id FROM sandbox_tenantuser u WHERE u.user_id LIKE 'sms|%'"
        " AND json_extract(u.profile, '$.name') = json_extract(u.profile, '$.phone_number')"
        " LIMIT 1",
    )
    user_id, phone = user["user_id"], user["phone_number"]
    page = agent_client.get(f"{T}/users/{quote(user_id, safe='')}/").content.decode()
    assert phone not in page
    # search results are masked user by user, the same way
    assert mask([{"user_id": user_id, "name": phone, "phone_number": phone}]) == [
        {"user_id": user_id, "name": MASK, "phone_number": MASK}
    ]
    assert phone in lead_client.get(f"{T}/users/{quote(user_id, safe='')}/").content.decode()


def test_masked_metadata_keys(
    agent_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer, settings: Any
) -> None:
    settings.PII_MASKED_METADATA_KEYS = ["lang"]
    user_id = fresh_user["user_id"]
    html = agent_client.get(f"{T}/users/{user_id}/").content.decode()
    metadata = html.split('id="user-metadata-heading"', 1)[1].split("</section>", 1)[0]
    assert "&quot;theme&quot;: &quot;dark&quot;" in metadata
    assert "&quot;lang&quot;: &quot;•••••• (masked)&quot;" in metadata


def test_a_reveal_asks_a_reason_unmasks_one_user_for_a_while_and_is_on_the_timeline(
    agent_client: Client, phone_user: dict[str, Any], support_agent: User, settings: Any
) -> None:
    settings.PII_REVEAL_MINUTES = 7
    user_id, phone = phone_user["user_id"], phone_user["phone_number"]
    missing = reveal(agent_client, user_id, reason="", ticket=" ")
    assert missing.status_code == 400
    text = missing.content.decode()
    assert "Choose why you need to see this user&#x27;s personal data." in text
    assert "Type the ticket or case this is for." in text
    assert not Reveal.objects.exists()
    tampered = agent_client.post(
        f"{T}/users/{user_id}/reveal/", {"token": "x", "reason": "legal", "ticket": "SUP-1"}
    )
    assert tampered.status_code == 400
    assert "The form was damaged in transit" in tampered.content.decode()

    token = str(uuid.uuid4())
    data = {"token": token, "reason": "identity_check", "ticket": "SUP-4711"}
    done = agent_client.post(f"{T}/users/{user_id}/reveal/", data)
    assert done.status_code == 302
    again = agent_client.post(f"{T}/users/{user_id}/reveal/", data)  # sent twice: one reveal
    assert again.status_code == 302
    reveal_row = Reveal.objects.get()
    left = reveal_row.expires_at - timezone.now()
    assert timedelta(minutes=6) < left <= timedelta(minutes=7)
    event = AuditEvent.objects.get(action="users.reveal")
    assert (event.actor, event.target) == (support_agent, user_id)
    assert event.details["reason"] == "Checking the caller's identity, ticket SUP-4711"
    assert event.details["minutes"] == 7

    page = agent_client.get(f"{T}/users/{user_id}/").content.decode()
    assert phone in page
    assert "You revealed this user" in page
    timeline = fragment_text(page.split('id="timeline"', 1)[1])
    assert "Personal data revealed in Userdesk by agent@example.com" in timeline
    assert "reason: Checking the caller&#x27;s identity, ticket SUP-4711" in timeline

    # The reveal ends: masked again.
    Reveal.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert phone not in agent_client.get(f"{T}/users/{user_id}/").content.decode()


def test_search_results_show_a_revealed_user_unmasked_and_the_others_masked(
    agent_client: Client, use_sandbox: SandboxServer
) -> None:
    query = "_exists_:phone_number AND _exists_:last_ip"
    with use_sandbox.api() as api:
        found = api.get(
            "/api/v2/users", params={"q": query, "search_engine": "v3", "per_page": 2}
        ).json()
    revealed, other = found[0], found[1]
    assert reveal(agent_client, revealed["user_id"]).status_code == 302
    ids = " OR ".join(f'user_id:"{user["user_id"]}"' for user in found)
    results = agent_client.get(
        f"{T}/users/",
        {"q": ids, "mode": "advanced", "columns": ["email", "phone_number", "identities"]},
    ).content.decode()
    assert revealed["phone_number"] in results
    assert other["phone_number"] not in results
    assert MASK in results
    # Without a masked column, nothing is masked and both show alike.
    plain = agent_client.get(
        f"{T}/users/", {"q": ids, "mode": "advanced", "columns": ["email", "identities"]}
    ).content.decode()
    assert MASK not in plain
    assert revealed["email"] in plain
    assert other["email"] in plain


def test_the_metadata_editor_needs_a_reveal_when_masked(
    lead_client: Client, fresh_user: dict[str, Any]
) -> None:
    take_capability(SUPPORT_LEAD_GROUP)
    user_id = fresh_user["user_id"]
    editor = f"{T}/actions/edit-metadata/{user_id}/?which=user_metadata"
    refused = lead_client.get(editor)
    assert refused.status_code == 403
    assert "reveal it first" in refused.content.decode()
    assert reveal(lead_client, user_id).status_code == 302
    assert lead_client.get(editor).status_code == 200


def test_exports_of_masked_fields_need_the_capability(
    admin_client_: Client, export_admin: User
) -> None:
    from exports import tasks
    from exports.models import Export
    from tests.fixtures.celery import CSV_SPEC
    from tests.fixtures.exports import builder_post

    export = tasks.create_export(
        {**CSV_SPEC, "fields": [{"name": "user_id"}, {"name": "phone_number"}]},
        requested_by=export_admin,
    )
    take_capability(EXPORT_ADMIN_GROUP)
    fields = [("user_id", ""), ("phone_number", "")]
    refused = admin_client_.post(f"{T}/exports/new/", builder_post(fields))
    assert refused.status_code == 200
    assert "Your role sees phone_number masked, so it cannot export it" in refused.content.decode()
    assert Export.objects.count() == 1
    plain = admin_client_.post(f"{T}/exports/new/", builder_post(fields[:1]))
    assert plain.status_code == 302
    download = admin_client_.get(f"{T}/exports/{export.pk}/download/original/")
    assert download.status_code == 403
    assert "holds phone_number, which your role sees masked" in download.content.decode()


def test_the_audit_page_masks_what_events_recorded(
    agent_client: Client, support_lead: User, settings: Any
) -> None:
    settings.PII_MASKED_METADATA_KEYS = ["birthdate"]
    AuditEvent.objects.create(
        actor=support_lead,
        actor_label=support_lead.username,
        action="users.edit-metadata",
        target="auth0|42",
        details={
            "before": {"user_metadata": {"birthdate": "1970-01-02", "theme": "dark"}},
            "auth0": {"sent": {"user_metadata": {"birthdate": "1970-01-03"}}, "ip": "10.9.8.7"},
        },
    )
    html = agent_client.get(f"{T}/audit/", {"user": "auth0|42"}).content.decode()
    assert "theme: dark" in html
    assert "1970-01-0" not in html
    assert "10.9.8.7" not in html
