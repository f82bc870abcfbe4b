"""Staff accounts and their roles: what `add_staff` and `prepare_demo` share."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission, User
from django.contrib.auth.password_validation import validate_password
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from . import audit
from .models import TenantRole
from .permissions import EXPORT_ADMIN_GROUP, ROLE_CAPABILITIES, SUPPORT_GROUP, SUPPORT_LEAD_GROUP

ROLES = {
    "support": SUPPORT_GROUP,
    "support-lead": SUPPORT_LEAD_GROUP,
    "export-admin": EXPORT_ADMIN_GROUP,
}


@dataclass(frozen=True)
class StaffResult:
    user: User
    created: bool


def ensure_roles() -> None:
    """Recreate the role groups the data migration made (a flushed test database lacks them)."""
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="staff", codename__in=[cap.value for cap in capabilities]
            )
        )


def grant_new_capabilities(known: set[str], using: str = "default") -> None:
    """Give each role the declared capabilities whose permission is new since `known` (the
    codenames before a migrate): a new support action reaches its roles with no data migration.
    Add, never set: a permission an administrator took from a group in Django's admin stays off.
    """
    new = Permission.objects.using(using).filter(content_type__app_label="staff")
    for permission in new.exclude(codename__in=known):
        for role, capabilities in ROLE_CAPABILITIES.items():
            if permission.codename in capabilities:
                group, _ = Group.objects.using(using).get_or_create(name=role)
                group.permissions.add(permission)


def staff_codenames(using: str = "default") -> set[str]:
    permissions = Permission.objects.using(using).filter(content_type__app_label="staff")
    return set(permissions.values_list("codename", flat=True))


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def normalise_email(email: str) -> str:
    """Staff sign in with their email; keep one spelling so sign-in never depends on case."""
    email = email.strip().lower()
    validate_email(email)
    return email


def staff_exists() -> bool:
    return User.objects.filter(
        Q(is_superuser=True)
        | Q(groups__name__in=ROLES.values())
        | Q(tenant_roles__group__name__in=ROLES.values()),
        is_active=True,
    ).exists()


def split_role(role: str) -> tuple[str, str]:
    """ "Support@staging" -> ("Support", "staging"): a role on one tenant; "Support" -> ("Support",
    ""): a role on every tenant."""
    name, _, tenant = role.partition("@")
    return name, tenant


@transaction.atomic
def save_staff(email: str, role: str, password: str | None, tenant: str = "") -> StaffResult:
    """Create or update the staff member `email` with exactly one role (on every tenant, or with
    `tenant` on that one, their other tenants' roles kept); None keeps the password.

    Raises ValidationError for a malformed email or a password the validators reject.
    """
    email = normalise_email(email)
    group = Group.objects.get(name=ROLES[role])
    user = User.objects.filter(username=email).first()
    created = user is None
    if user is None:
        user = User(username=email, email=email)
    user.email = email
    user.is_active = True
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    before = set() if created else current_roles(user)
    user.save()
    if tenant:
        user.tenant_roles.filter(tenant=tenant).exclude(group=group).delete()
        TenantRole.objects.get_or_create(user=user, tenant=tenant, group=group)
    else:
        user.groups.remove(*Group.objects.filter(name__in=ROLES.values()).exclude(pk=group.pk))
        user.groups.add(group)
    after = current_roles(user)
    if before != after:
        record_role_change(None, None, user, before, after, source="add_staff")
    return StaffResult(user=user, created=created)


def current_roles(user: User) -> set[str]:
    """The member's roles: "Support" on every tenant, "Support@staging" on one."""
    everywhere = user.groups.filter(name__in=ROLE_CAPABILITIES).values_list("name", flat=True)
    per_tenant = user.tenant_roles.filter(group__name__in=ROLE_CAPABILITIES).values_list(
        "group__name", "tenant"
    )
    return {*everywhere, *(f"{name}@{tenant}" for name, tenant in per_tenant)}


@transaction.atomic
def set_roles(
    user: User,
    roles: Iterable[str],
    *,
    source: str,
    request: HttpRequest | None = None,
    actor: User | None = None,
    **details: str,
) -> bool:
    """Give `user` exactly `roles` (names in ROLE_CAPABILITIES, each alone for every tenant or
    as "Role@tenant" for one); audit it when they change."""
    wanted = {role for role in roles if split_role(role)[0] in ROLE_CAPABILITIES}
    names = {split_role(role)[0] for role in wanted}
    if Group.objects.filter(name__in=names).count() < len(names):
        ensure_roles()  # a role group was deleted (or a test flushed the migration's rows)
    before = current_roles(user)
    if wanted == before:
        return False
    for role in before - wanted:
        name, tenant = split_role(role)
        if tenant:
            user.tenant_roles.filter(tenant=tenant, group__name=name).delete()
        else:
            user.groups.remove(Group.objects.get(name=name))
    for role in wanted - before:
        name, tenant = split_role(role)
        if tenant:
            TenantRole.objects.create(user=user, tenant=tenant, group=Group.objects.get(name=name))
        else:
            user.groups.add(Group.objects.get(name=name))
    record_role_change(request, actor or user, user, before, wanted, source=source, **details)
    return True


def record_role_change(
    request: HttpRequest | None,
    actor: User | None,
    user: User,
    before: set[str],
    after: set[str],
    *,
    source: str,
    **details: str,
) -> None:
    audit.record_for(
        request,
        actor,
        audit.ROLE_CHANGED,
        target=user.get_username(),
        actor_label="" if actor else f"manage.py ({source})",
        source=source,
        before=", ".join(sorted(before)) or "(none)",
        after=", ".join(sorted(after)) or "(none)",
        **details,
    )
