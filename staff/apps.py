from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StaffConfig(AppConfig):
    default = True
    name = "staff"
    verbose_name = "Staff, roles and audit log"

    def ready(self) -> None:
        from . import checks, signals  # noqa: F401 (connects the receivers, registers checks)


class SuperuserAdminConfig(admin_apps.AdminConfig):
    """Installed in place of django.contrib.admin, so `admin.site` is the superuser-only site."""

    default = False  # named explicitly in INSTALLED_APPS; StaffConfig stays the app's default

    default_site = "staff.admin_site.SuperuserAdminSite"
