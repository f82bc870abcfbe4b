"""Exact email lookup, with the lower-cased retry Auth0's case-sensitive endpoint needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from management_api import users_by_email


@dataclass(frozen=True)
class LookupResult:
    asked: str
    searched: str  # the address that produced `users` (lower-cased when the retry ran)
    users: list[dict[str, Any]]

    @property
    def lowercased(self) -> bool:
        return self.searched != self.asked


def lookup_email(address: str) -> LookupResult:
    """Users whose email is exactly `address`; if none and it has capitals, the lower-cased one.

    Auth0 database connections store addresses lower-cased, while the endpoint compares
    case-sensitively, so "Jane@Example.com" finds nobody until it is lowered.
    """
    users = users_by_email(address)
    if not users and address != address.lower():
        lowered = address.lower()
        return LookupResult(asked=address, searched=lowered, users=users_by_email(lowered))
    return LookupResult(asked=address, searched=address, users=users)
