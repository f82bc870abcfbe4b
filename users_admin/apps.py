from __future__ import annotations

from django.apps import AppConfig


class UsersAdminConfig(AppConfig):
    name = "users_admin"
    verbose_name = "User search, lookup and details"
