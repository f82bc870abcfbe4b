"""Email lookup: the exact, immediately consistent match, then Auth0's case-insensitive search.

`users-by-email` compares addresses case-sensitively, while Auth0 search treats `email`
case-insensitively, so after the exact lookup (and its lower-cased retry) a search for the
same address finds the accounts that differ only in letter case. Search is eventually
consistent, so those are shown apart and labelled so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config.tenant_urls import tenant_reverse
from management_api import ManagementApiError, search_users, users_by_email
from management_api.tenants import Tenant, tenant_scope

from .lucene import quote

# More accounts than this with one address (in any case) is not a support ticket.
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class LookupResult:
    asked: str
    searched: str  # the address that produced `users` (lower-cased when the retry ran)
    users: list[dict[str, Any]]
    # Accounts whose address equals `asked` only when letter case is ignored (from search).
    other_case: list[dict[str, Any]] = field(default_factory=list)
    search_error: str = ""

    @property
    def lowercased(self) -> bool:
        return self.searched != self.asked

    @property
    def found_any(self) -> bool:
        return bool(self.users or self.other_case)


def lookup_email(address: str) -> LookupResult:
    """Users whose email is exactly `address` (or its lower-cased form), plus other-case twins.

    Auth0 database connections store addresses lower-cased, while the endpoint compares
    case-sensitively, so "Jane@Example.com" finds nobody until it is lowered; a social user
    stored as "Jane@Example.com" is found only by search when "jane@example.com" is typed.
    A failing search does not hide the exact answer: it is reported beside it.
    """
    users = users_by_email(address)
    searched = address
    if not users and address != address.lower():
        searched = address.lower()
        users = users_by_email(searched)
    seen = {user.get("user_id") for user in users}
    try:
        page = search_users(f"email:{quote(address)}", per_page=SEARCH_LIMIT, include_totals=False)
    except ManagementApiError as exc:
        return LookupResult(address, searched, users, search_error=str(exc))
    other_case = [
        user
        for user in page.users
        if user.get("user_id") not in seen
        and str(user.get("email") or "").lower() == address.lower()
    ]
    return LookupResult(address, searched, users, other_case)


@dataclass(frozen=True)
class TenantLookup:
    """One tenant's answer to a lookup across tenants: its result (with each user's page on
    that tenant) or why it failed."""

    tenant: Tenant
    result: LookupResult | None
    error: str
    found: list[tuple[dict[str, Any], str]]  # (user, the user's page on the tenant)


def lookup_everywhere(
    address: str, tenants: list[Tenant], describe: Callable[[ManagementApiError], str]
) -> list[TenantLookup]:
    """Ask each tenant for `address` ("which tenant has this address?"), in its own scope; a
    tenant that fails says why without hiding the others' answers."""
    answers = []
    for tenant in tenants:
        with tenant_scope(tenant):
            try:
                result = lookup_email(address)
            except ManagementApiError as exc:
                answers.append(TenantLookup(tenant, None, describe(exc), []))
                continue
        found = [
            (user, tenant_reverse(tenant.slug, "users_admin:detail", user["user_id"]))
            for user in [*result.users, *result.other_case]
        ]
        answers.append(TenantLookup(tenant, result, "", found))
    return answers
