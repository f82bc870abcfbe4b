"""One seeded user for each support case the sandbox tenant holds, found in its data (not
listed by hand): what `make run` prints to try each case on (`manage.py sandbox_cases`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Subquery

from sandbox.models import TenantUser
from sandbox.routers import SANDBOX_DB


@dataclass(frozen=True)
class Case:
    label: str
    users: Callable[[QuerySet[TenantUser]], QuerySet[TenantUser]]


def _methods(users: QuerySet[TenantUser]) -> QuerySet[TenantUser]:
    return users.annotate(n=Count("authenticationmethod")).filter(n__gte=2)


def _password_duplicate(users: QuerySet[TenantUser]) -> QuerySet[TenantUser]:
    """A Google account whose address (in any letter case) a database user holds too, both
    verified: "I signed up with Google and with a password", which a lead may link."""
    database = users.filter(s_connection="Username-Password-Authentication", s_email_verified=True)
    return users.filter(
        s_connection="google-oauth2",
        s_email_verified=True,
        s_email__in=Subquery(database.values("s_email")),
    )


def _three_sessions(users: QuerySet[TenantUser]) -> QuerySet[TenantUser]:
    return users.annotate(n=Count("usersession")).filter(n__gte=3)


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
    # The shapes of linked accounts, profile changes and access (sandbox.seed_shapes, seed_access).
    Case("Google account with a password duplicate", _password_duplicate),
    Case(
        "Three identities (social and SMS linked in)",
        lambda u: u.filter(profile__contains='"profileData"').filter(
            profile__contains='"provider":"sms"'
        ),
    ),
    Case("Passwordless (SMS)", lambda u: u.filter(s_connection="sms")),
    Case("Passwordless (email code)", lambda u: u.filter(s_connection="email")),
    Case("Profile near the 10 KB limit", lambda u: u.filter(profile__contains='"support_notes"')),
    Case(
        "Roles and organizations",
        lambda u: u.filter(userrole__isnull=False, membership__isnull=False),
    ),
    Case("Signed in on three devices", _three_sessions),
)


def samples() -> Iterator[tuple[str, TenantUser]]:
    """(case, its first seeded user) for each case the tenant has a user of."""
    users = TenantUser.objects.using(SANDBOX_DB).order_by("id")
    for case in CASES:
        first = case.users(users).distinct().first()
        if first is not None:
            yield case.label, first
