"""Template helpers of the access panels (templates/users_admin/_access.html)."""

from __future__ import annotations

from typing import Any

from django import template

from management_api import current_tenant
from users_admin import access

register = template.Library()


@register.filter
def permission_sources(permission: Any) -> list[str]:
    return access.permission_sources(permission) if isinstance(permission, dict) else []


@register.filter
def device_words(item: Any) -> str:
    return access.device_words(item) if isinstance(item, dict) else ""


@register.filter
def clients_of(item: Any) -> str:
    return access.clients_of(item) if isinstance(item, dict) else ""


@register.simple_tag
def tenant_plan() -> str:
    """The current tenant's Auth0 plan (what Auth0 lets Userdesk do depends on it)."""
    return current_tenant().plan
