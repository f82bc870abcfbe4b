"""Project-wide response policy that no single app owns."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from management_api.tenants import default_tenant, tenant_scope


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
    """Every request runs for one Auth0 tenant (management_api.tenant_scope): the only one
    configured. With several, none is chosen yet (tenant URLs come later), so a Management API
    call, or a tenant's row saved, fails clearly instead of guessing."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tenant = default_tenant()
        if tenant is None:
            return self.get_response(request)
        with tenant_scope(tenant):
            return self.get_response(request)
