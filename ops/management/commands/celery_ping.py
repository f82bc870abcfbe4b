from __future__ import annotations

import secrets
import time
from typing import Any

from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.tasks import ping, ping_key


class Command(BaseCommand):
    help = (
        "Send a ping task through the broker and wait until a worker has run it "
        "(it reads the database and answers in the shared cache). Exits non-zero on timeout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait.")

    def handle(self, *args: Any, **options: Any) -> None:
        token = secrets.token_hex(8)
        ping.delay(token)
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            if cache.get(ping_key(token)) == "ok":
                self.stdout.write(self.style.SUCCESS(f"A worker answered ping {token}."))
                return
            time.sleep(0.2)
        raise CommandError(f"No worker ran ping {token} within {options['timeout']:g} s.")
