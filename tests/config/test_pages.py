"""The shell: navigation per role, the audit log page, error pages and security headers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse

from staff.models import AuditEvent
from staff.views import server_error


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="nav" aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav, "no main navigation"
    return re.findall(r">([^<>]+)</a>", nav.group(1))


def lookup_url_exists() -> bool:
    try:
        reverse("users_admin:lookup")
    except NoReverseMatch:
        return False
    return True


def test_support_agent_sees_search_but_not_exports_or_audit(agent_client: Client) -> None:
    html = agent_client.get("/password/").content.decode()
    expected = ["Search users", "Email lookup"] if lookup_url_exists() else ["Search users"]
    assert nav_links(html) == expected
    assert "Signed in as" in html
    assert "agent@example.com" in html
    assert 'action="/sign-out/"' in html


def test_export_admin_sees_every_section(admin_client_: Client) -> None:
    html = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    lookup = ["Email lookup"] if lookup_url_exists() else []
    assert nav_links(html) == ["Search users", *lookup, "Exports", "Audit log"]
    assert '<a href="/t/userdesk-sandbox/audit/" aria-current="page">Audit log</a>' in html


def test_outsider_sees_no_sections(outsider_client: Client) -> None:
    assert nav_links(outsider_client.get("/password/").content.decode()) == []


def test_shell_loads_htmx_from_static_and_sends_csrf_on_body(support_agent: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(support_agent)
    html = client.get("/password/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert "<script>" not in html
    assert "style=" not in html
    body = re.search(
        r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\", "
        r"\"X-Userdesk-Tenant\": \"userdesk-sandbox\"\}'[^>]*>",
        html,
    )
    assert body, "CSRF token or tenant missing from hx-headers on <body>"

    # What htmx sends with every request is accepted; without it the POST is refused.
    assert client.post("/sign-out/").status_code == 403
    assert client.post("/sign-out/", headers={"X-CSRFToken": body.group(1)}).status_code == 302


def test_messages_are_shown(agent_client: Client) -> None:
    storage_cookie = CookieStorage(RequestFactory().get("/"))
    storage_cookie.add(constants.SUCCESS, "Export queued.")
    response = agent_client.get("/password/")
    assert "Export queued." not in response.content.decode()
    # A message added by a previous request is rendered on the next page.
    carrier = HttpResponse()
    storage_cookie.update(carrier)
    agent_client.cookies["messages"] = carrier.cookies["messages"].value
    html = agent_client.get("/password/").content.decode()
    assert '<li class="alert success"><span role="status">Export queued.</span></li>' in html


# --- Audit log ------------------------------------------------------------------------------


def add_event(actor: User, action: str, at: datetime, target: str = "") -> AuditEvent:
    event = AuditEvent.objects.create(
        actor=actor, actor_label=actor.username, action=action, target=target
    )
    # `at` is auto_now_add; queryset.update() is refused (append-only), so backdate in SQL.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE staff_auditevent SET at = %s WHERE id = %s", [at, event.pk])
    return event


def rows(html: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    if body is None:
        return []
    return re.findall(r'data-action="([^"]+)"', body.group(1))


def test_audit_log_is_for_export_admins_only(agent_client: Client, outsider_client: Client) -> None:
    assert agent_client.get("/t/userdesk-sandbox/audit/").status_code == 403
    assert outsider_client.get("/t/userdesk-sandbox/audit/").status_code == 403


def test_audit_log_empty_state(admin_client_: Client) -> None:
    html = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    assert 'class="empty"' in html
    assert "No events yet" in html


def test_audit_log_lists_and_filters_events(
    admin_client_: Client, export_admin: User, support_agent: User
) -> None:
    now = datetime.now(UTC)
    add_event(support_agent, "users.search", now - timedelta(days=3), target="email:*@acme.com")
    add_event(support_agent, "users.view", now - timedelta(days=1), target="auth0|1")
    add_event(export_admin, "exports.download", now, target="export 7")

    html = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    assert rows(html) == ["exports.download", "users.view", "users.search"]
    assert "3 events." in html
    assert "email:*@acme.com" in html

    assert rows(admin_client_.get("/t/userdesk-sandbox/audit/?actor=AGENT@").content.decode()) == [
        "users.view",
        "users.search",
    ]
    one = admin_client_.get("/t/userdesk-sandbox/audit/?action=users.view").content.decode()
    assert rows(one) == ["users.view"]
    assert "1 event matches these filters." in one
    assert (
        "2 events match these filters."
        in admin_client_.get("/t/userdesk-sandbox/audit/?actor=AGENT@").content.decode()
    )
    since = (now - timedelta(days=2)).date().isoformat()
    assert rows(
        admin_client_.get(f"/t/userdesk-sandbox/audit/?date_from={since}").content.decode()
    ) == [
        "exports.download",
        "users.view",
    ]
    until = (now - timedelta(days=2)).date().isoformat()
    assert rows(
        admin_client_.get(f"/t/userdesk-sandbox/audit/?date_to={until}").content.decode()
    ) == ["users.search"]

    filtered = admin_client_.get("/t/userdesk-sandbox/audit/?actor=nobody").content.decode()
    assert rows(filtered) == []
    assert "No events match these filters." in filtered
    # Actors and actions link to the log filtered on them.
    assert 'href="?actor=agent%40example.com"' in html
    assert 'href="?action=users.view"' in html
    # The action filter offers the actions that exist.
    assert '<option value="users.search">Searched users</option>' in html


def test_audit_log_rejects_a_backwards_date_range(admin_client_: Client) -> None:
    html = admin_client_.get(
        "/t/userdesk-sandbox/audit/?date_from=2026-05-02&date_to=2026-05-01"
    ).content.decode()
    assert "The end date is before the start date." in html
    assert "Fix the filters above" in html


def test_audit_log_paginates_and_keeps_filters(admin_client_: Client, export_admin: User) -> None:
    now = datetime.now(UTC)
    for number in range(60):
        add_event(export_admin, "users.search", now - timedelta(minutes=number), f"q{number}")
    add_event(export_admin, "users.view", now, "other")

    first = admin_client_.get("/t/userdesk-sandbox/audit/?action=users.search").content.decode()
    assert len(rows(first)) == 50
    assert "Page 1 of 2" in first
    assert 'href="?action=users.search&amp;page=2" rel="next"' in first

    second = admin_client_.get(
        "/t/userdesk-sandbox/audit/?action=users.search&page=2"
    ).content.decode()
    assert len(rows(second)) == 10
    assert "q59" in second
    assert "Page 2 of 2" in second
    assert 'rel="prev"' in second
    # An out-of-range page shows the last page rather than an error.
    beyond = admin_client_.get(
        "/t/userdesk-sandbox/audit/?action=users.search&page=99"
    ).content.decode()
    assert "Page 2 of 2" in beyond


def test_audit_log_form_is_labelled_for_keyboard_and_screen_readers(admin_client_: Client) -> None:
    html = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    for field in ("actor", "action", "date_from", "date_to"):
        assert f'<label for="id_{field}">' in html
        assert f'id="id_{field}"' in html
    assert 'type="date"' in html
    assert 'method="get"' in html


# --- Error pages ------------------------------------------------------------------------------


def test_403_page_is_styled(agent_client: Client) -> None:
    response = agent_client.get("/t/userdesk-sandbox/audit/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "You don't have access to this page" in html
    assert "Your role does not include reading the audit log." in html
    assert "css/app.css" in html
    assert 'aria-label="Main"' in html


def test_404_page_is_styled(agent_client: Client) -> None:
    response = agent_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "css/app.css" in html


def test_500_page_renders_without_a_user_or_session() -> None:
    # The failing request may never have reached the session or auth middleware.
    response = server_error(RequestFactory().get("/boom/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert "css/app.css" in html
    assert "Sign out" not in html


def test_unknown_address_gives_anonymous_visitors_a_plain_404(db: None) -> None:
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert 'aria-label="Main"' not in html


# --- Security headers --------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sign-in/", "/healthz"])
def test_security_headers(db: None, path: str) -> None:
    response = Client().get(path)
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_signed_in_pages_carry_the_csp_too(admin_client_: Client) -> None:
    response = admin_client_.get("/t/userdesk-sandbox/audit/")
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


# --- The start page ------------------------------------------------------------------------


def test_start_page_opens_the_first_section_of_the_role(
    agent_client: Client, admin_client_: Client, outsider_client: Client
) -> None:
    assert agent_client.get("/")["Location"] == "/t/userdesk-sandbox/users/"
    assert admin_client_.get("/")["Location"] == "/t/userdesk-sandbox/users/"
    outsider = outsider_client.get("/")
    assert outsider.status_code == 200
    assert "Your account has no role yet" in outsider.content.decode()
