"""One URLconf per tenant: the shared pages, and the tenant pages under `t/<slug>/` with the
slug written in. A request for a tenant runs with its URLconf (config.middleware), so
`reverse("users_admin:detail", args=[id])` and `{% url %}` give that tenant's URL with no tenant
argument; code outside a request (Celery, emails) asks `tenant_reverse`.

The product's URLconf is named by its dotted path (as Django names ROOT_URLCONF) and imported
when a tenant's URLconf is first built: config.urls imports every view, and the models that
name their pages here must not import the views."""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Any, cast

from django.urls import URLPattern, URLResolver, include, path, resolve, reverse
from django.urls.resolvers import ResolverMatch

# The URLconf whose pages the tenant URLconfs hold (settings.ROOT_URLCONF in production).
PRODUCT_URLCONF = "config.urls"


class TenantURLConf:
    """What Django reads of a URLconf module: its patterns and error handlers."""

    handler403 = "staff.views.permission_denied"
    handler404 = "staff.views.page_not_found"
    handler500 = "staff.views.server_error"

    def __init__(self, slug: str) -> None:
        urls = import_module(PRODUCT_URLCONF)
        self.slug = slug
        self.urlpatterns: list[URLPattern | URLResolver] = [
            *urls.shared_urlpatterns,
            path(f"t/{slug}/", include(urls.tenant_urlpatterns)),
            *urls.legacy_urlpatterns,
        ]

    def __repr__(self) -> str:
        return f"<TenantURLConf {self.slug}>"


@cache
def tenant_urlconf(slug: str) -> TenantURLConf:
    """The tenant's URLconf, one object per slug (Django caches its resolver by it)."""
    return TenantURLConf(slug)


def tenant_reverse(slug: str, viewname: str, *args: Any, query: str = "") -> str:
    """The path of a tenant's page, from anywhere (a task, an email)."""
    url = reverse(viewname, args=args or None, urlconf=_as_urlconf(slug))
    return f"{url}?{query}" if query else url


def tenant_resolve(slug: str, path_info: str) -> ResolverMatch:
    """Which of the tenant's pages `path_info` is (Resolver404 when none)."""
    return resolve(path_info, urlconf=_as_urlconf(slug))


def _as_urlconf(slug: str) -> str:
    # Django takes any object with `urlpatterns` where it takes a module's name; its stubs
    # say `str`.
    return cast(str, tenant_urlconf(slug))
