"""Every account event on the audit record, and the sign-in page's count of attempts left."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from exports.models import ExportTemplate
from staff import audit
from staff.models import AuditEvent
from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP, SUPPORT_LEAD_GROUP
from staff.roles import current_roles
from tests.fixtures.personas import PASSWORD


def sign_in(client: Client, username: str, password: str) -> object:
    return client.post("/sign-in/", {"username": username, "password": password})


def test_a_password_sign_in_and_sign_out_are_recorded(support_agent: User) -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    sign_in(client, "Agent@Example.com", PASSWORD)
    client.post("/sign-out/")
    signed_in, signed_out = AuditEvent.objects.order_by("id")
    assert (signed_in.action, signed_in.actor, signed_in.details) == (
        audit.SIGN_IN,
        support_agent,
        {"method": "password"},
    )
    assert signed_in.ip_address == "203.0.113.7"
    assert (signed_out.action, signed_out.actor) == (audit.SIGN_OUT, support_agent)


def test_failed_sign_ins_say_how_many_attempts_are_left_and_the_lock_is_recorded(
    support_agent: User,
) -> None:
    page = sign_in(Client(REMOTE_ADDR="203.0.113.7"), "agent@example.com", "guess")
    assert "4 attempts left before sign-in for this account is locked for 15 minutes." in (
        page.content.decode()  # type: ignore[attr-defined]
    )
    # From other addresses the same account's count goes on (a spread attack).
    for count, address in ((3, "198.51.100.1"), (2, "198.51.100.2"), (1, "198.51.100.3")):
        html = sign_in(Client(REMOTE_ADDR=address), "agent@example.com", "guess")
        assert f"{count} attempt{'s' if count > 1 else ''} left" in html.content.decode()  # type: ignore[attr-defined]
    locked = sign_in(Client(REMOTE_ADDR="198.51.100.4"), "agent@example.com", "guess")
    assert locked.status_code == 429  # type: ignore[attr-defined]

    failures = AuditEvent.objects.filter(action=audit.SIGN_IN_FAILED)
    assert failures.count() == 5
    assert {event.actor_label for event in failures} == {"agent@example.com"}
    assert {event.details["method"] for event in failures} == {"password"}
    (lockout,) = AuditEvent.objects.filter(action=audit.LOCKED_OUT)
    assert lockout.target == "agent@example.com"
    assert lockout.ip_address == "198.51.100.4"
    assert lockout.details == {"failures": "5", "minutes": "15"}


def test_a_password_change_is_recorded(agent_client: Client, support_agent: User) -> None:
    response = agent_client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a whole new passphrase 42",
            "new_password2": "a whole new passphrase 42",
        },
    )
    assert response.status_code == 302
    (event,) = AuditEvent.objects.filter(action=audit.PASSWORD_CHANGED)
    assert event.actor == support_agent


def test_a_role_change_in_djangos_admin_is_recorded(support_agent: User) -> None:
    superuser = User.objects.create_superuser("root@example.com", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(superuser)
    page = client.get(f"/django-admin/auth/user/{support_agent.pk}/change/")
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in {"groups", "user_permissions", "password"}
    }
    data.update(
        groups=[Group.objects.get(name=EXPORT_ADMIN_GROUP).pk],
        date_joined_0=support_agent.date_joined.strftime("%Y-%m-%d"),
        date_joined_1=support_agent.date_joined.strftime("%H:%M:%S"),
        is_active="on",
        # The inline of roles on one tenant: one added.
        **{
            "tenant_roles-TOTAL_FORMS": "1",
            "tenant_roles-INITIAL_FORMS": "0",
            "tenant_roles-0-tenant": "userdesk-sandbox",
            "tenant_roles-0-group": str(Group.objects.get(name=SUPPORT_LEAD_GROUP).pk),
        },
    )
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/django-admin/auth/user/{support_agent.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert current_roles(support_agent) == {EXPORT_ADMIN_GROUP, "Support lead@userdesk-sandbox"}
    (event,) = AuditEvent.objects.filter(action=audit.ROLE_CHANGED)
    assert event.actor == superuser
    assert event.target == "agent@example.com"
    assert event.details == {
        "source": "admin",
        "before": SUPPORT_GROUP,
        "after": f"{EXPORT_ADMIN_GROUP}, Support lead@userdesk-sandbox",
    }


def test_a_role_change_by_add_staff_is_recorded(support_agent: User) -> None:
    call_command("add_staff", "agent@example.com", "--role", "export-admin", stdout=io.StringIO())
    (event,) = AuditEvent.objects.filter(action=audit.ROLE_CHANGED)
    assert event.actor_label == "manage.py (add_staff)"
    assert event.details["before"] == SUPPORT_GROUP
    assert event.details["after"] == EXPORT_ADMIN_GROUP


def test_template_saves_and_deletes_are_recorded(admin_client_: Client, export_admin: User) -> None:
    template = ExportTemplate.objects.create(owner=export_admin, name="Weekly", spec={})
    response = admin_client_.post(f"/t/userdesk-sandbox/exports/templates/{template.pk}/delete/")
    assert response.status_code == 302
    (deleted,) = AuditEvent.objects.filter(action=audit.TEMPLATE_DELETED)
    assert (deleted.actor, deleted.target) == (export_admin, "Weekly")


@pytest.mark.parametrize("choice", ["auth.*", audit.SIGN_IN_FAILED])
def test_the_audit_page_filters_on_sign_in_events(
    admin_client_: Client, support_agent: User, choice: str
) -> None:
    sign_in(Client(), "agent@example.com", "guess")
    sign_in(Client(), "agent@example.com", PASSWORD)
    AuditEvent.objects.create(actor=support_agent, action="users.search", target="email:x")
    offered = admin_client_.get("/t/userdesk-sandbox/audit/").content.decode()
    assert 'value="auth.*"' in offered
    assert f'value="{audit.TEMPLATE_DELETED}"' in offered  # offered before the first one
    page = admin_client_.get("/t/userdesk-sandbox/audit/", {"action": choice})
    shown = [event.action for event in page.context["page"].object_list]
    expected = {
        "auth.*": [audit.SIGN_IN, audit.SIGN_IN_FAILED],
        audit.SIGN_IN_FAILED: [audit.SIGN_IN_FAILED],
    }[choice]
    assert shown == expected
