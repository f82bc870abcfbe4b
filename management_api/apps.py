from __future__ import annotations

from django.apps import AppConfig


class ManagementApiConfig(AppConfig):
    name = "management_api"
    verbose_name = "Auth0 Management API client"
