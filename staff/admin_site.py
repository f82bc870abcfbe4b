from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class SuperuserAdminSite(admin.AdminSite):
    """Django's admin, for superusers only: `is_staff` alone opens nothing here."""

    site_header = "Userdesk administration"
    site_title = "Userdesk admin"
    index_title = "Staff accounts, roles and the audit log"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and user.is_superuser)
