"""`manage.py sandbox_faults`: show, set or reset the sandbox's fault switches."""

from __future__ import annotations

import json
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import faults


class Command(BaseCommand):
    help = "Show (default), set (--set key=value ...) or reset (--reset) the sandbox switches."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--set", nargs="+", metavar="KEY=VALUE", default=[])
        parser.add_argument("--reset", action="store_true", help="every switch back to its setting")
        parser.add_argument("--show", action="store_true", help="print the switches (the default)")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", database="sandbox", interactive=False, verbosity=0)
        if options["reset"]:
            faults.reset()
        changes: dict[str, Any] = {}
        for item in options["set"]:
            key, sep, raw = item.partition("=")
            if not sep:
                raise CommandError(f"Expected KEY=VALUE, got {item!r}")
            try:
                changes[key.strip()] = json.loads(raw)
            except ValueError:
                changes[key.strip()] = raw
        if changes:
            try:
                faults.set_many(changes)
            except faults.FaultError as exc:
                raise CommandError(str(exc)) from None
        for key, value in faults.current().items():
            self.stdout.write(f"{key:<22} {json.dumps(value):<10} {faults.FAULT_KEYS[key].help}")
