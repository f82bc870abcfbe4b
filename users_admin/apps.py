from __future__ import annotations

from django.apps import AppConfig


class UsersAdminConfig(AppConfig):
    name = "users_admin"
    verbose_name = "User search, lookup and details"

    def ready(self) -> None:
        from staff.audit import name_actions

        from .actions import ACTIONS

        # The audit page names a support action's event by the action's title.
        name_actions({f"users.{key}": action.title for key, action in ACTIONS.items()})
