"""The current tenant and the switcher's links, for the top bar of every page."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import NoReverseMatch, ResolverMatch

from config.tenant_urls import tenant_reverse
from management_api.tenants import Tenant
from staff.permissions import tenants_for

# A page about one thing (a user, an export) has no match in another tenant: the switcher
# opens the same kind of page there, its app's list.
KIND_INDEX = {"users_admin": "users_admin:search", "exports": "exports:history"}


def same_kind(match: ResolverMatch | None, tenant: Tenant) -> str:
    """The URL of the page of the same kind as `match` in `tenant` (search stays search)."""
    if match is None or not match.view_name:
        return tenant_reverse(tenant.slug, "tenant_home")
    name = match.view_name if not match.kwargs else KIND_INDEX.get(match.namespace, "tenant_home")
    try:
        return tenant_reverse(tenant.slug, name)
    except NoReverseMatch:
        return tenant_reverse(tenant.slug, "tenant_home")


def tenant(request: HttpRequest) -> dict[str, object]:
    current: Tenant | None = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    if current is None or user is None:
        return {"tenant": current, "tenant_switch": []}
    match = request.resolver_match
    switch = [(other, same_kind(match, other)) for other in tenants_for(user) if other != current]
    return {"tenant": current, "tenant_switch": switch}
