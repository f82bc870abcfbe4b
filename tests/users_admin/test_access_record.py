"""The access record: every look at a user's data is an audit event, a
refused attempt too, a search query is kept whole, and the audit page answers "who looked at
this user" from the user page, for Support too (that user only)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from staff.models import AuditEvent
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.search import fragment_text
from tests.fixtures.user_actions import REASON, action_url, form_token, send_verification

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")
T = "/t/userdesk-sandbox"


def events_about(target: str) -> list[tuple[str, str]]:
    return [
        (event.action, event.actor_label)
        for event in AuditEvent.objects.filter(target=target).order_by("id")
    ]


def test_every_page_showing_a_users_data_leaves_a_row(
    lead_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer
) -> None:
    user_id = fresh_user["user_id"]
    assert lead_client.get(f"{T}/users/{user_id}/").status_code == 200
    assert lead_client.get(f"{T}/timeline/{user_id}/", {"page": 0}).status_code == 200
    url = action_url("edit-metadata", user_id)
    form = lead_client.get(url, {"which": "user_metadata"}).content.decode()
    preview = lead_client.post(
        url,
        {
            "token": form_token(form),
            "reason": REASON,
            "which": "user_metadata",
            "document": '{"theme": "light"}',
            "stage": "preview",
        },
    )
    assert "diff-add" in preview.content.decode()
    # A verification job's page is its sender's: sent from the user page, as staff do.
    job_id = send_verification(lead_client, user_id)
    page = lead_client.get(f"{T}/verification-jobs/{job_id}/")
    assert page.status_code == 200
    lead = "lead@example.com"
    assert events_about(user_id) == [
        ("users.view", lead),
        ("users.view_timeline", lead),
        ("users.view_action", lead),
        ("users.preview_action", lead),
        ("users.view_action", lead),
        ("users.resend-verification", lead),
        ("users.view_verification_job", lead),
    ]
    opened = AuditEvent.objects.filter(target=user_id, action="users.view_action")
    assert [e.details for e in opened.order_by("pk")] == [
        {"support_action": "edit-metadata"},
        {"support_action": "resend-verification"},
    ]
    assert AuditEvent.objects.get(action="users.view_verification_job").details == {"job": job_id}
    # The user's own timeline lists the looks, and hides them on request.
    timeline = lead_client.get(f"{T}/timeline/{user_id}/").content.decode()
    assert "Action previewed in Userdesk" in fragment_text(timeline)
    hidden = lead_client.get(f"{T}/timeline/{user_id}/", {"views": "hide"}).content.decode()
    # Only the change stays: the looks are hidden.
    assert hidden.count('<li class="entry userdesk') == 1
    assert "Verification email resent" in fragment_text(hidden)


def test_an_export_page_with_its_preview_is_a_recorded_look(
    admin_client_: Client, export_admin: User
) -> None:
    from exports import tasks
    from tests.fixtures.celery import CSV_SPEC

    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    assert admin_client_.get(f"{T}/exports/{export.pk}/").status_code == 200
    # Its live status (htmx polling) is not a look of its own.
    admin_client_.get(f"{T}/exports/{export.pk}/", headers={"HX-Request": "true"})
    assert events_about(f"export #{export.pk}") == [("exports.view", "admin@example.com")]


def test_a_refused_attempt_is_recorded_with_what_was_tried(
    agent_client: Client, fresh_user: dict[str, Any]
) -> None:
    user_id = fresh_user["user_id"]
    refused = agent_client.post(
        action_url("block", user_id) + "?from=search", {"token": "x", "reason": "because"}
    )
    assert refused.status_code == 403
    export = agent_client.get(f"{T}/exports/?q=secret")
    assert export.status_code == 403
    events = list(AuditEvent.objects.filter(action="access.refused").order_by("id"))
    assert [(e.actor_label, e.target) for e in events] == [
        ("agent@example.com", action_url("block", user_id) + "?from=search"),
        ("agent@example.com", f"{T}/exports/?q=secret"),
    ]
    assert events[0].details == {
        "method": "POST",
        "page": "users_admin:action",
        "posted_fields": ["reason", "token"],
        "reason": "Your role does not include blocking and unblocking users.",
    }
    assert events[1].details["method"] == "GET"
    assert events[1].tenant == "userdesk-sandbox"


def test_a_long_search_query_is_recorded_whole(agent_client: Client) -> None:
    words = " OR ".join(f'email:"someone-{n}@example.com"' for n in range(30))
    assert len(words) > 500
    agent_client.get(f"{T}/users/", {"mode": "advanced", "q": words})
    event = AuditEvent.objects.get(action="users.search")
    assert event.details["in_full"] == words
    assert len(event.target) == 500


def test_support_reads_who_looked_at_one_user_in_one_click(
    agent_client: Client, lead_client: Client, fresh_user: dict[str, Any]
) -> None:
    user_id = fresh_user["user_id"]
    lead_client.get(f"{T}/users/{user_id}/")
    lead_client.get(f"{T}/users/auth0|someoneelse/")
    page = agent_client.get(f"{T}/users/{user_id}/").content.decode()
    link = re.search(r'<a href="([^"]*)">Who looked at this user', page)
    assert link, "the user page links to the events about the user"
    html = agent_client.get(link[1].replace("&amp;", "&")).content.decode()
    assert "<h1>Who looked at this user</h1>" in html
    shown = re.findall(r'<td data-label="Actor" class="audit-actor"><a [^>]*>([^<]+)</a>', html)
    assert shown == ["agent@example.com", "lead@example.com"]
    assert "auth0|someoneelse" not in html
    # The user filter is fixed to the user the page was opened for.
    assert re.search(r'<input[^>]*name="user"[^>]*disabled', html)
    # Without a user, the whole log stays closed to Support; the read and the refusal are events.
    assert agent_client.get(f"{T}/audit/").status_code == 403
    reads = AuditEvent.objects.filter(action="audit.read", actor_label="agent@example.com")
    assert [e.target for e in reads] == [user_id]
    assert AuditEvent.objects.filter(action="access.refused", target=f"{T}/audit/").exists()


def test_the_audit_page_reads_as_words(admin_client_: Client, export_admin: User) -> None:
    AuditEvent.objects.create(
        actor=export_admin,
        actor_label=export_admin.username,
        action="exports.rename",
        target="export #3",
        details={"before": "", "after": "Weekly"},
    )
    html = admin_client_.get(f"{T}/audit/").content.decode()
    row = html.split("<tbody>", 1)[1]
    assert "After:</span> Weekly" in row
    assert "Before:" not in row
    assert 'data-action="exports.rename">Exports: rename</a>' in row
    assert '<option value="exports.rename">Exports: rename</option>' in html
    assert '<option value="audit.read">Read the audit log</option>' in html
    assert 'data-action="audit.read"' not in row
    # Its own reads (each after the page is read) are listed when asked for.
    reads = admin_client_.get(f"{T}/audit/", {"action": "audit.read"}).content.decode()
    assert reads.count('data-action="audit.read"') == 1
    assert "Filter action:</span> audit.read" not in reads
    again = admin_client_.get(f"{T}/audit/", {"action": "audit.read"}).content.decode()
    assert "Filter action:</span> audit.read" in again


def test_a_refused_form_csrf_is_a_recorded_attempt(support_agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(support_agent)
    refused = client.post(f"{T}/searches/save/", {"name": "x", "query_string": "q=a"})
    assert refused.status_code == 403
    assert "The form was not accepted" in refused.content.decode()
    event = AuditEvent.objects.get(action="access.refused")
    assert (event.actor, event.target) == (support_agent, f"{T}/searches/save/")
    assert event.details["posted_fields"] == ["name", "query_string"]


def test_hostile_inputs_on_the_new_pages_answer_clearly(
    lead_client: Client, agent_client: Client
) -> None:
    huge = "9" * 40
    assert lead_client.get(f"{T}/data-packages/{huge}/").status_code == 404
    assert lead_client.post(f"{T}/data-packages/{huge}/download/").status_code == 404
    long_user = agent_client.get(f"{T}/audit/", {"user": "x" * 600})
    assert long_user.status_code == 200
    assert "Ensure this value has at most 500 characters" in long_user.content.decode()
    assert agent_client.get(f"{T}/audit/", {"user": "²", "page": "²"}).status_code == 200
