from __future__ import annotations

from typing import Any

SANDBOX_DB = "sandbox"


class SandboxRouter:
    """The sandbox tenant's tables live only in the sandbox database, and nothing else does."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return SANDBOX_DB if model._meta.app_label == "sandbox" else None  # type: ignore[attr-defined]

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        labels = {obj1._meta.app_label == "sandbox", obj2._meta.app_label == "sandbox"}
        return len(labels) == 1

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return (db == SANDBOX_DB) == (app_label == "sandbox")
