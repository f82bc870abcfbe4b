"""The Auth0 tenants Userdesk works on, and which one the current code runs for.

The tenants come from settings: `AUTH0_TENANTS` (parsed by config/settings.py into dicts), or,
when it is unset, the one tenant of today's `AUTH0_*` variables, read at call time so a test's
settings override is seen. Every Management API call runs for one tenant: the one of the
innermost `tenant_scope()`, else the only configured one; with several tenants and no scope
the call fails (`NoTenantChosen`) rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from django.conf import settings

Environment = Literal["production", "staging", "development"]
Plan = Literal["free", "essentials", "professional", "enterprise"]


@dataclass(frozen=True)
class Tenant:
    slug: str
    name: str
    environment: Environment
    colour: str  # a CSS hex colour, e.g. "#b42318"
    domain: str
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    audience: str
    log_retention_days: int
    plan: Plan

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class TenantError(Exception):
    """A tenant could not be chosen."""


class UnknownTenant(TenantError, LookupError):
    def __init__(self, slug: str) -> None:
        known = ", ".join(t.slug for t in all_tenants())
        super().__init__(f"No Auth0 tenant {slug!r} is configured (known: {known})")
        self.slug = slug


class NoTenantChosen(TenantError):
    """Several tenants are configured and the code asked for the current one outside a scope."""


def _single_tenant() -> Tenant:
    """Today's single-tenant AUTH0_* settings as the one tenant."""
    real = bool(getattr(settings, "AUTH0_DOMAIN_SET", False))
    return Tenant(
        slug=settings.AUTH0_TENANT_SLUG,
        name=settings.AUTH0_TENANT_SLUG,
        environment="production" if real else "development",
        colour=settings.TENANT_DEFAULT_COLOURS["production" if real else "development"],
        domain=settings.AUTH0_DOMAIN,
        base_url=settings.AUTH0_BASE_URL,
        client_id=settings.AUTH0_CLIENT_ID,
        client_secret=settings.AUTH0_CLIENT_SECRET,
        audience=settings.AUTH0_AUDIENCE,
        log_retention_days=settings.AUTH0_LOG_RETENTION_DAYS,
        plan=cast(Plan, settings.AUTH0_TENANT_PLAN),
    )


def _from_entry(entry: dict[str, Any]) -> Tenant:
    return Tenant(**entry)


def all_tenants() -> tuple[Tenant, ...]:
    """Every configured tenant, in the order AUTH0_TENANTS lists them."""
    entries: list[dict[str, Any]] = settings.AUTH0_TENANTS
    if not entries:
        return (_single_tenant(),)
    return tuple(_from_entry(entry) for entry in entries)


def get_tenant(slug: str) -> Tenant:
    for tenant in all_tenants():
        if tenant.slug == slug:
            return tenant
    raise UnknownTenant(slug)


def default_tenant() -> Tenant | None:
    """The one tenant when exactly one is configured, else None."""
    tenants = all_tenants()
    return tenants[0] if len(tenants) == 1 else None


_scope: ContextVar[Tenant | None] = ContextVar("management_api_tenant", default=None)


@contextmanager
def tenant_scope(tenant: Tenant | str) -> Iterator[Tenant]:
    """Calls made inside run for `tenant` (a Tenant or a slug); scopes nest."""
    chosen = get_tenant(tenant) if isinstance(tenant, str) else tenant
    token = _scope.set(chosen)
    try:
        yield chosen
    finally:
        _scope.reset(token)


def current_tenant() -> Tenant:
    """The scope's tenant, else the only one; never a guess between several."""
    scoped = _scope.get()
    if scoped is not None:
        return scoped
    only = default_tenant()
    if only is None:
        slugs = ", ".join(t.slug for t in all_tenants())
        raise NoTenantChosen(
            f"Several Auth0 tenants are configured ({slugs}) and no tenant was chosen for this "
            "call (open management_api.tenant_scope(tenant) around it)"
        )
    return only


def current_tenant_slug() -> str:
    """The current tenant's slug (the default of stored rows' `tenant`; raises like
    current_tenant())."""
    return current_tenant().slug


def current_tenant_slug_or_blank() -> str:
    """The current tenant's slug, or "" when several are configured and none is chosen (an
    audit event about staff rather than a tenant, such as a sign-in)."""
    try:
        return current_tenant().slug
    except NoTenantChosen:
        return ""


def tenant_label(slug: str) -> str:
    """A stored row's tenant in words (named_tenant), or the slug alone when it is no longer
    configured."""
    try:
        tenant = get_tenant(slug)
    except UnknownTenant:
        return slug
    return named_tenant(tenant.name, tenant.slug, tenant.environment)


def named_tenant(name: str, slug: str, environment: str) -> str:
    """A tenant in words: its name, then its slug and environment where the name does not say
    them already: "Production EU (production-eu)", "Acme (staging)", "Production
    (sandbox)" for the demo's production tenant, not "Production (sandbox) (production,
    production)"."""
    said = set(re.findall(r"[\w-]+", name.lower()))
    extra = [word for word in dict.fromkeys((slug, environment)) if word.lower() not in said]
    return f"{name} ({', '.join(extra)})" if extra else name


def slug_for_existing_rows() -> str:
    """The tenant of rows stored before rows had one (the migrations fill them): the single
    tenant, or with AUTH0_TENANTS the first one listed."""
    return all_tenants()[0].slug
