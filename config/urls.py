"""The URLs: pages about no tenant (sign-in, password, health, the tenant chooser) at the root,
every tenant's pages under `t/<slug>/` (config.tenant_urls builds one URLconf per tenant, so
`reverse()` and `{% url %}` inside a tenant's request give that tenant's URLs), and today's
tenant-less URLs answered by `tenant_redirect`."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import URLPattern, URLResolver, clear_url_caches, include, path

from config import views
from config.tenant_urls import tenant_urlconf
from management_api.tenants import default_tenant
from staff import views as staff_views

# Each app's URLs, once: a route an app adds is under every tenant without edits here.
tenant_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="tenant_home"),
    path("", include("users_admin.urls")),
    path("exports/", include("exports.urls")),
    path("audit/", staff_views.audit_log, name="audit_log"),
]

shared_urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("tenants.css", views.tenant_colours, name="tenant_colours"),
    path("", include("staff.urls")),
    path("django-admin/", admin.site.urls),
]

# A tenant-less URL of a tenant page (`/users/...`, a link from before tenants): to the one
# tenant's, or with several a chooser.
legacy_urlpatterns: list[URLPattern | URLResolver] = [
    path("<path:rest>", views.tenant_redirect, name="tenant_redirect"),
]


def _root_urlpatterns() -> list[URLPattern | URLResolver]:
    """The URLconf of requests that name no tenant. With one tenant it holds that tenant's pages
    too, so `reverse()` outside a request gives its URLs, as before tenants; with several,
    code outside a request names the tenant (config.tenant_urls.tenant_reverse)."""
    only = default_tenant()
    if only is None:
        return [*shared_urlpatterns, *legacy_urlpatterns]
    return tenant_urlconf(only.slug).urlpatterns


def __getattr__(name: str) -> Any:
    """`urlpatterns`, worked out when Django reads it: Django keeps it until the URL caches are
    cleared, which a change of AUTH0_TENANTS does (a test's settings)."""
    if name == "urlpatterns":
        return _root_urlpatterns()
    raise AttributeError(name)


@receiver(setting_changed)
def _tenants_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AUTH0_TENANTS":
        clear_url_caches()


handler403 = "staff.views.permission_denied"
handler404 = "staff.views.page_not_found"
handler500 = "staff.views.server_error"
