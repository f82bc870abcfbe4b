from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator


class SuperuserAdminSite(admin.AdminSite):
    """Django's admin, for superusers only: `is_staff` alone opens nothing here."""

    site_header = "Userdesk administration"
    site_title = "Userdesk admin"
    index_title = "Staff accounts, roles and the audit log"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)

    @method_decorator(login_not_required)
    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """No sign-in of its own: Userdesk's sign-in page (password or OIDC), audited like
        every sign-in, then back here. Signed in without being a superuser: refused."""
        if self.has_permission(request):
            return redirect(request.GET.get("next") or reverse("admin:index"))
        if request.user.is_authenticated:
            raise PermissionDenied("Django's admin is for superusers only.")
        return redirect_to_login(
            request.GET.get("next") or reverse("admin:index"), login_url=reverse("login")
        )

    def password_change(  # type: ignore[override]  # a redirect, not the admin's template
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Userdesk's own page, which audits the change (`auth.password_changed`)."""
        return redirect("password_change")
