"""Django's admin opens no session of its own (sign-in goes through Userdesk's page,
audited), its changes are audit events with before and after, and deleting a staff member never
empties who acted on their past events."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from staff import audit
from staff.models import AuditEvent
from staff.permissions import SUPPORT_GROUP, SUPPORT_LEAD_GROUP
from tests.fixtures.personas import PASSWORD, make_staff, signed_in


@pytest.fixture
def superuser(db: None) -> User:
    user = make_staff("root@example.com", None)
    User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
    return User.objects.get(pk=user.pk)


def test_the_admins_sign_in_is_userdesks_and_audited(superuser: User) -> None:
    client = Client()
    page = client.get("/django-admin/login/", {"next": "/django-admin/auth/group/"})
    assert page.status_code == 302
    assert page["Location"].startswith("/sign-in/?next=/django-admin/auth/group/")
    # Its own form is gone: posting credentials to it opens no session.
    client.post("/django-admin/login/", {"username": superuser.username, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    signed = client.post(
        "/sign-in/?next=/django-admin/", {"username": superuser.username, "password": PASSWORD}
    )
    assert signed["Location"] == "/django-admin/"
    assert client.get("/django-admin/").status_code == 200
    (event,) = AuditEvent.objects.filter(action=audit.SIGN_IN)
    assert (event.actor, event.details["method"]) == (superuser, "password")


def test_a_staff_member_without_superuser_status_is_refused_not_sent_round(
    agent_client: Client,
) -> None:
    assert agent_client.get("/django-admin/login/").status_code == 403


def change_form(member: User, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "username": member.username,
        "email": member.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on",
        "groups": [str(g.pk) for g in member.groups.all()],
        "user_permissions": [],
        "date_joined_0": member.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": member.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "tenant_roles-TOTAL_FORMS": "0",
        "tenant_roles-INITIAL_FORMS": "0",
        "tenant_roles-MIN_NUM_FORMS": "0",
        "tenant_roles-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_granting_superuser_status_and_roles_in_the_admin_is_audited(superuser: User) -> None:
    member = make_staff("member@example.com", SUPPORT_GROUP)
    member.date_joined = member.date_joined.replace(microsecond=0)  # as the form sends it
    member.save(update_fields=["date_joined"])
    lead = Group.objects.get(name=SUPPORT_LEAD_GROUP)
    form = change_form(member, is_superuser="on", groups=[str(lead.pk)])
    answer = signed_in(superuser).post(f"/django-admin/auth/user/{member.pk}/change/", form)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    (event,) = AuditEvent.objects.filter(action=audit.ADMIN_CHANGED)
    assert (event.actor, event.target) == (superuser, "member@example.com")
    assert event.details["before"] == {"is_superuser": False, "groups": [SUPPORT_GROUP]}
    assert event.details["after"] == {"is_superuser": True, "groups": [SUPPORT_LEAD_GROUP]}
    assert "password" not in str(event.details)


def test_a_staff_member_named_by_events_is_kept_and_so_is_who_acted(superuser: User) -> None:
    member = make_staff("leaver@example.com", SUPPORT_GROUP)
    audit.record_for(None, member, audit.SIGN_IN, member.username, method="password")
    admin = signed_in(superuser)
    confirm = admin.get(f"/django-admin/auth/user/{member.pk}/delete/").content.decode()
    assert "deactivate the account instead" in confirm
    admin.post(f"/django-admin/auth/user/{member.pk}/delete/", {"post": "yes"})
    assert User.objects.filter(pk=member.pk).exists()
    (event,) = AuditEvent.objects.filter(action=audit.SIGN_IN)
    assert event.actor == member


def test_deleting_a_staff_member_is_audited(superuser: User) -> None:
    member = make_staff("never-acted@example.com", SUPPORT_GROUP)
    admin = signed_in(superuser)
    answer = admin.post(f"/django-admin/auth/user/{member.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not User.objects.filter(pk=member.pk).exists()
    (event,) = AuditEvent.objects.filter(action=audit.ADMIN_DELETED)
    assert (event.actor, event.target) == (superuser, "never-acted@example.com")
    assert event.details["before"]["groups"] == [SUPPORT_GROUP]


def test_changing_a_roles_capabilities_in_the_admin_is_audited(superuser: User) -> None:
    role = Group.objects.get(name=SUPPORT_GROUP)
    kept = list(role.permissions.order_by("codename")[:1])
    taken = sorted(str(p) for p in role.permissions.exclude(pk__in=[p.pk for p in kept]))
    assert taken
    answer = signed_in(superuser).post(
        f"/django-admin/auth/group/{role.pk}/change/",
        {"name": SUPPORT_GROUP, "permissions": [str(p.pk) for p in kept], "_save": "Save"},
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    (event,) = AuditEvent.objects.filter(action=audit.ADMIN_CHANGED)
    assert (event.target, event.details["model"]) == (SUPPORT_GROUP, "group")
    before, after = event.details["before"]["permissions"], event.details["after"]["permissions"]
    assert sorted(set(before) - set(after)) == taken


def test_passwords_changed_through_the_admin_are_audited(superuser: User) -> None:
    admin = signed_in(superuser)
    own = admin.get("/django-admin/password_change/")
    assert own["Location"] == "/password/"  # Userdesk's page, which audits it
    member = make_staff("member@example.com", SUPPORT_GROUP)
    new = "another correct horse battery staple"
    answer = admin.post(
        f"/django-admin/auth/user/{member.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    (event,) = AuditEvent.objects.filter(action=audit.ADMIN_CHANGED)
    assert (event.actor, event.target) == (superuser, "member@example.com")
    assert "password" in event.details["change"].lower()
    assert new not in str(event.details)
