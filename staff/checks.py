"""System checks of the sign-in configuration that need the apps loaded (role names)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from management_api.tenants import all_tenants

from .permissions import ROLE_CAPABILITIES


@register()
def oidc_role_map(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    roles = [role.partition("@") for role in settings.OIDC_ROLE_MAP.values()]
    unknown = sorted({name for name, _, _ in roles} - set(ROLE_CAPABILITIES))
    slugs = {tenant.slug for tenant in all_tenants()}
    no_tenant = sorted({tenant for _, at, tenant in roles if at and tenant not in slugs})
    errors = []
    if unknown:
        errors.append(
            Error(
                f"OIDC_ROLE_MAP names roles Userdesk does not have: {', '.join(unknown)}",
                hint=f"Roles are: {', '.join(ROLE_CAPABILITIES)}.",
                id="staff.E001",
            )
        )
    if no_tenant:
        errors.append(
            Error(
                f"OIDC_ROLE_MAP names tenants that are not configured: {', '.join(no_tenant)}",
                hint=f"A role on one tenant is Role@slug; the tenants are: {', '.join(slugs)}.",
                id="staff.E002",
            )
        )
    return errors
