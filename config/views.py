from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from config.celery import app as celery_app
from staff.permissions import Capability, can


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
    """Send staff to the first section their role opens; a member without a role is told why."""
    if can(request.user, Capability.SEARCH_USERS):
        return redirect("users_admin:search")
    if can(request.user, Capability.RUN_EXPORTS):
        return redirect("exports:history")
    return render(request, "staff/no_role.html")
