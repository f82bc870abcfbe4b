"""`manage.py move_tenant_rows OLD NEW`: give a former tenant slug's stored rows to a configured
tenant (docs/operator/tenants.md, "From one tenant to several")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from management_api.tenants import UnknownTenant
from staff.tenant_rows import move_rows, unconfigured_slugs


class Command(BaseCommand):
    help = (
        "Give the exports, templates, searches, action requests, bulk runs and per-tenant roles "
        "stored under the tenant slug OLD, no longer configured, to the configured tenant NEW. "
        "Audit events keep their tenant; one event records the move."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old", help="the slug the rows carry (not configured any more)")
        parser.add_argument("new", help="a configured tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        old, new = options["old"], options["new"]
        if old not in unconfigured_slugs():
            raise CommandError(f"No stored row has the unconfigured tenant slug {old!r}.")
        try:
            moved = move_rows(old, new, by="manage.py move_tenant_rows")
        except UnknownTenant as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Moved from {old} to {new}: {moved.words()}.")
