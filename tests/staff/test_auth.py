"""Sign-in, sign-out, password change, sign-in throttling, add_staff and the admin."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from staff.models import AuditEvent
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP, Capability, can
from tests.fixtures.personas import PASSWORD


def sign_in(client: Client, username: str, password: str) -> Any:
    return client.post("/sign-in/", {"username": username, "password": password})


def test_sign_in_page_is_public_and_styled(db: None) -> None:
    response = Client().get("/sign-in/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "css/app.css" in html
    assert 'autocomplete="username"' in html
    assert '<label for="id_username">Email address:</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_sign_in_redirects_to_the_start_page(support_agent: User) -> None:
    client = Client()
    response = sign_in(client, "agent@example.com", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/password/").status_code == 200


def test_sign_in_honours_next(support_agent: User) -> None:
    client = Client()
    response = client.post(
        "/sign-in/?next=/password/",
        {"username": "Agent@Example.com", "password": PASSWORD, "next": "/password/"},
    )
    assert response["Location"] == "/password/"


def test_wrong_password_shows_the_error_on_the_form(support_agent: User) -> None:
    response = sign_in(Client(), "agent@example.com", "not the password")
    assert response.status_code == 200
    html = response.content.decode()
    assert "That email address and password do not match a staff account." in html


def test_sign_out_is_a_post(agent_client: Client) -> None:
    assert agent_client.get("/sign-out/").status_code == 405
    response = agent_client.post("/sign-out/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/"
    assert agent_client.get("/t/userdesk-sandbox/users/")["Location"].startswith("/sign-in/")


def test_password_change_keeps_this_session(support_agent: User) -> None:
    client = Client()
    sign_in(client, "agent@example.com", PASSWORD)
    page = client.get("/password/")
    assert page.status_code == 200
    assert "Change your password" in page.content.decode()

    new_password = "a much longer passphrase 2026"
    response = client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    assert response["Location"] == "/password/done/"
    assert "Password changed" in client.get("/password/done/").content.decode()
    assert client.get("/password/").status_code == 200

    client.post("/sign-out/")
    assert sign_in(Client(), "agent@example.com", new_password).status_code == 302


def test_password_change_shows_errors_next_to_fields(agent_client: Client) -> None:
    response = agent_client.post(
        "/password/", {"old_password": "wrong", "new_password1": "x", "new_password2": "y"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your old password was entered incorrectly" in html
    assert 'aria-invalid="true"' in html


def test_repeated_failed_sign_ins_are_locked_out_with_a_clear_message(
    support_agent: User,
) -> None:
    client = Client()
    for _ in range(4):
        assert sign_in(client, "agent@example.com", "guess").status_code == 200
    locked = sign_in(client, "agent@example.com", "guess")
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many failed sign-ins" in html
    assert "locked after 5 failed attempts" in html
    assert "Try again in 15 minutes" in html
    assert "css/app.css" in html

    # Even the right password is refused while the lock holds.
    assert sign_in(client, "agent@example.com", PASSWORD).status_code == 429
    # The lock is per account: from another address too, but another staff member signs in.
    elsewhere = Client(REMOTE_ADDR="198.51.100.23")
    assert sign_in(elsewhere, "agent@example.com", PASSWORD).status_code == 429
    User.objects.create_user("other@example.com", password=PASSWORD)
    assert sign_in(Client(), "other@example.com", PASSWORD).status_code == 302


# --- add_staff ---------------------------------------------------------------------------


def add_staff(*args: str, stdin: str = "") -> str:
    """Run add_staff as from a script: standard input is not a terminal."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdin", io.StringIO(stdin))
        call_command("add_staff", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_add_staff_creates_a_support_agent_who_can_sign_in() -> None:
    out = add_staff(
        "New.Agent@Example.com",
        "--role",
        "support",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    assert "Created new.agent@example.com with the support role." in out
    assert "Password:" not in out
    user = User.objects.get(username="new.agent@example.com")
    assert [g.name for g in user.groups.all()] == [SUPPORT_GROUP]
    assert can(user, Capability.SEARCH_USERS)
    assert not can(user, Capability.RUN_EXPORTS)
    assert sign_in(Client(), "new.agent@example.com", "a long enough passphrase").status_code == 302


@pytest.mark.django_db
def test_add_staff_generates_and_prints_a_password_without_a_terminal() -> None:
    out = add_staff("admin2@example.com", "--role", "export-admin")
    password = out.split("Password: ", 1)[1].strip()
    assert len(password) >= 16
    user = User.objects.get(username="admin2@example.com")
    assert [g.name for g in user.groups.all()] == [EXPORT_ADMIN_GROUP]
    assert can(user, Capability.VIEW_AUDIT_LOG)
    assert sign_in(Client(), "admin2@example.com", password).status_code == 302


@pytest.mark.django_db
def test_add_staff_updates_the_role_and_keeps_the_password(support_agent: User) -> None:
    out = add_staff("agent@example.com", "--role", "export-admin")
    assert "Updated agent@example.com with the export-admin role." in out
    assert "Password unchanged." in out
    support_agent.refresh_from_db()
    assert [g.name for g in support_agent.groups.all()] == [EXPORT_ADMIN_GROUP]
    assert support_agent.check_password(PASSWORD)

    out = add_staff("agent@example.com", "--role", "support", "--generate-password")
    password = out.split("Password: ", 1)[1].strip()
    support_agent.refresh_from_db()
    assert [g.name for g in support_agent.groups.all()] == [SUPPORT_GROUP]
    assert support_agent.check_password(password)


@pytest.mark.django_db
def test_add_staff_rejects_bad_input() -> None:
    with pytest.raises(CommandError, match="valid email"):
        add_staff("not-an-email", "--role", "support", "--generate-password")
    with pytest.raises(CommandError, match="too short"):
        add_staff("short@example.com", "--role", "support", "--password-stdin", stdin="abc\n")
    with pytest.raises(CommandError, match="invalid choice"):
        add_staff("x@example.com", "--role", "owner")
    assert not User.objects.exists()


# --- Django admin: superusers only ----------------------------------------------------------


def test_admin_is_closed_to_staff_who_are_not_superusers(support_agent: User) -> None:
    support_agent.is_staff = True
    support_agent.save()
    client = Client()
    client.force_login(support_agent)
    response = client.get("/django-admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/django-admin/login/")
    assert client.get("/django-admin/auth/user/").status_code == 302


def test_admin_is_open_to_superusers_and_shows_audit_events_read_only(db: None) -> None:
    root = User.objects.create_superuser("root@example.com", "root@example.com", PASSWORD)
    event = AuditEvent.objects.create(actor=root, actor_label=root.username, action="users.view")
    client = Client()
    client.force_login(root)
    assert client.get("/django-admin/").status_code == 200
    listing = client.get("/django-admin/staff/auditevent/")
    assert listing.status_code == 200
    assert "users.view" in listing.content.decode()
    assert client.get("/django-admin/staff/auditevent/add/").status_code == 403
    assert client.get(f"/django-admin/staff/auditevent/{event.pk}/delete/").status_code == 403
    detail = client.post(f"/django-admin/staff/auditevent/{event.pk}/change/", {"action": "x"})
    assert detail.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "users.view"


@pytest.mark.django_db
def test_add_staff_prompt_needs_a_terminal(support_agent: User) -> None:
    with pytest.raises(CommandError, match="needs a terminal"):
        add_staff("agent@example.com", "--role", "support", "--prompt-password")
    support_agent.refresh_from_db()
    assert support_agent.check_password(PASSWORD)
