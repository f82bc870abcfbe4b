from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, get_script_prefix
from django.utils.encoding import escape_uri_path
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app
from config.tenant_colours import stylesheet
from config.tenant_urls import tenant_resolve, tenant_reverse
from management_api.tenants import all_tenants
from staff.permissions import Capability, can, tenants_for, tenants_where


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_cache() -> str:
    try:
        cache.set("healthz", "ok", 10)
        return "ok" if cache.get("healthz") == "ok" else "error: cache did not keep a value"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_broker() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "cache": _check_cache(), "broker": _check_broker()}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


def home(request: HttpRequest) -> HttpResponse:
    """Send staff to the first section their role opens in the tenant (the URL's, or the only
    one; with several, the chooser); a member without a role is told why."""
    if getattr(request, "tenant", None) is None:
        # The tenants with a section to open (a member with no role anywhere is told so here).
        opens = {*tenants_where(request.user, Capability.SEARCH_USERS)}
        opens |= {*tenants_where(request.user, Capability.RUN_EXPORTS)}
        visible = [tenant for tenant in tenants_for(request.user) if tenant in opens]
        if not visible:
            return render(request, "staff/no_role.html")
        if len(visible) == 1:
            return redirect(tenant_reverse(visible[0].slug, "tenant_home"))
        choices = [(tenant, tenant_reverse(tenant.slug, "tenant_home")) for tenant in visible]
        return render(request, "tenants/choose.html", {"choices": choices, "page_kind": ""})
    if can(request.user, Capability.SEARCH_USERS):
        return redirect("users_admin:search")
    if can(request.user, Capability.RUN_EXPORTS):
        return redirect("exports:history")
    return render(request, "staff/no_role.html")


@login_not_required
def tenant_redirect(request: HttpRequest, rest: str) -> HttpResponse:
    """A tenant page's URL without its tenant (a link from before tenants): with one tenant,
    redirected to it (307 keeps a POST a POST); with several, a chooser of the tenants the
    staff member may see that have the page."""
    query = request.META.get("QUERY_STRING", "")
    targets = []
    for tenant in tenants_for(request.user) or all_tenants():
        path = f"/t/{tenant.slug}/{rest}"
        try:
            match = tenant_resolve(tenant.slug, path)
        except Resolver404:
            continue
        if match.url_name == "tenant_redirect":  # no page of the tenant's: /t/<slug>/nothing
            continue
        url = get_script_prefix() + escape_uri_path(path).lstrip("/")
        targets.append((tenant, f"{url}?{query}" if query else url))
    if not targets:
        raise Http404("No such page")  # to anyone: an unknown address is not a page to sign in to
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if len(all_tenants()) == 1:
        status = 302 if request.method in ("GET", "HEAD") else 307
        return HttpResponseRedirect(targets[0][1], status=status)
    return render(request, "tenants/choose.html", {"choices": targets, "page_kind": rest})


@login_not_required
def tenant_colours(request: HttpRequest) -> HttpResponse:
    """Each tenant's colour as a CSS class (`.tenant-<slug>`): the CSP refuses inline style."""
    response = HttpResponse(stylesheet(), content_type="text/css; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response
