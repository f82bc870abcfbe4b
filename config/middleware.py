"""Project-wide response policy that no single app owns."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from management_api.tenants import (
    UnknownTenant,
    all_tenants,
    default_tenant,
    get_tenant,
    tenant_scope,
)
from staff.permissions import require_tenant

from .tenant_urls import PRODUCT_URLCONF, tenant_urlconf

# `/t/<slug>/...`: the tenant of a tenant page (any slug-shaped segment; unknown ones are 404).
TENANT_PATH = re.compile(r"^/t/(?P<slug>[a-z0-9-]+)/")


class NoStoreForSignedInMiddleware:
    """Every page a signed-in staff member gets carries user data (searches, profiles,
    exports, the audit log): no browser or proxy may keep a copy, so Back after signing out
    shows nothing (`Cache-Control: no-store` also keeps the page out of the back/forward
    cache)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response


class TenantScopeMiddleware:
    """Every request runs for one Auth0 tenant (management_api.tenant_scope): the one its URL
    names (`/t/<slug>/...`; an unknown slug is a 404), else the only one configured. It runs
    with that tenant's URLconf (config.tenant_urls), so the pages' links stay in the tenant.
    With several tenants a tenant-less URL chooses none: a Management API call, or a tenant's
    row saved, fails clearly instead of guessing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        named = TENANT_PATH.match(request.path_info)
        if named is None:
            tenant = default_tenant()
        else:
            try:
                tenant = get_tenant(named["slug"])
            except UnknownTenant as exc:
                raise Http404(f"No tenant {named['slug']!r}") from exc
            require_tenant(request.user, tenant)
        request.tenant = tenant  # type: ignore[attr-defined]
        if tenant is None:
            return self.get_response(request)
        if settings.ROOT_URLCONF == PRODUCT_URLCONF:
            # Not under another URLconf (a test's `pytest.mark.urls` of the sandbox's API).
            request.urlconf = tenant_urlconf(tenant.slug)  # type: ignore[attr-defined]
        with tenant_scope(tenant):
            return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., HttpResponse], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """A form posted to a tenant's page must say which tenant's page it was filled in on (its
        `tenant` field, or htmx's X-Userdesk-Tenant header): one from another tenant's page, or,
        with several tenants configured, one that names none, is refused, so a tab left on one
        tenant never acts on another. With one tenant a form that names none (a tab opened
        before tenants, redirected here with 307) has no other tenant to be meant for. Runs
        after the CSRF check, which reads the form first."""
        tenant = getattr(request, "tenant", None)
        if request.method != "POST" or tenant is None:
            return None
        posted = request.POST.get("tenant") or request.headers.get("X-Userdesk-Tenant", "")
        if posted and posted != tenant.slug:
            raise PermissionDenied(
                f"This form was filled in on the tenant {posted!r}, but it was sent to "
                f"{tenant.name}. Nothing was done: open the page again on the tenant you mean."
            )
        if not posted and TENANT_PATH.match(request.path_info) and len(all_tenants()) > 1:
            raise PermissionDenied(
                f"This form did not say which tenant it was filled in on, and several are "
                f"configured. Nothing was done: open the page again on {tenant.name} and send "
                "it from there."
            )
        return None
