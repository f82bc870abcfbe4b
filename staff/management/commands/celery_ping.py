from __future__ import annotations

import secrets
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from staff.models import AuditEvent
from staff.tasks import ping


class Command(BaseCommand):
    help = (
        "Send a ping task through the broker and wait until a worker has run it "
        "(it records a worker.ping audit event). Exits non-zero on timeout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait.")

    def handle(self, *args: Any, **options: Any) -> None:
        token = secrets.token_hex(8)
        ping.delay(token)
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            if AuditEvent.objects.filter(action="worker.ping", target=token).exists():
                self.stdout.write(self.style.SUCCESS(f"A worker answered ping {token}."))
                return
            time.sleep(0.2)
        raise CommandError(f"No worker ran ping {token} within {options['timeout']:g} s.")
