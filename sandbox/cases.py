"""One seeded user for each support case the sandbox tenant holds, found in its data (not
listed by hand): what `make run` prints to try each case on (`manage.py sandbox_cases`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from sandbox.models import TenantUser
from sandbox.routers import SANDBOX_DB


@dataclass(frozen=True)
class Case:
    label: str
    users: Callable[[QuerySet[TenantUser]], QuerySet[TenantUser]]


def _methods(users: QuerySet[TenantUser]) -> QuerySet[TenantUser]:
    return users.annotate(n=Count("authenticationmethod")).filter(n__gte=2)


CASES = (
    Case("Blocked by brute-force protection", lambda u: u.filter(userblock__isnull=False)),
    Case("Blocked by an admin", lambda u: u.filter(s_blocked=True)),
    Case("Email not verified", lambda u: u.filter(s_email_verified=False)),
    Case("Several MFA methods", _methods),
    Case("Sessions and refresh tokens", lambda u: u.filter(refreshtoken__isnull=False)),
    Case("Never signed in", lambda u: u.filter(s_logins_count=0)),
    Case("No email address", lambda u: u.filter(s_email__isnull=True)),
    Case("Google (social)", lambda u: u.filter(s_connection="google-oauth2")),
    Case("GitHub (social)", lambda u: u.filter(s_connection="github")),
    Case("Enterprise SSO (SAML)", lambda u: u.filter(s_connection="acme-saml")),
    Case("Linked accounts", lambda u: u.filter(profile__contains='"profileData"')),
)


def samples() -> Iterator[tuple[str, TenantUser]]:
    """(case, its first seeded user) for each case the tenant has a user of."""
    users = TenantUser.objects.using(SANDBOX_DB).order_by("id")
    for case in CASES:
        first = case.users(users).distinct().first()
        if first is not None:
            yield case.label, first
