"""System checks of the sign-in configuration that need the apps loaded (role names)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from .permissions import ROLE_CAPABILITIES


@register()
def oidc_role_map(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    unknown = sorted({role for role in settings.OIDC_ROLE_MAP.values()} - set(ROLE_CAPABILITIES))
    if not unknown:
        return []
    return [
        Error(
            f"OIDC_ROLE_MAP names roles Userdesk does not have: {', '.join(unknown)}",
            hint=f"Roles are: {', '.join(ROLE_CAPABILITIES)}.",
            id="staff.E001",
        )
    ]
