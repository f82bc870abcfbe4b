"""`manage.py sandbox_seed --users N --seed S`: fill the sandbox tenant with seeded users."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from sandbox.models import TenantUser
from sandbox.seed import seed_users


class Command(BaseCommand):
    help = (
        "Replace the sandbox tenant's users with N deterministic, realistic ones "
        "(the same seed always gives the same users); --append adds them instead."
    )
    # Seeding touches only the sandbox database; the dashboard's URL checks are not its business.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=1000, help="how many users (default 1000)")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--append", action="store_true", help="add to the existing users instead of replacing"
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="seed only a tenant that has no users yet"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] < 0:
            self.stderr.write("--users must be 0 or more")
            raise SystemExit(2)
        call_command("migrate", database="sandbox", interactive=False, verbosity=0)
        if options["if_empty"] and TenantUser.objects.using("sandbox").exists():
            self.stdout.write("The sandbox tenant already has users; not seeding it again.")
            return
        if options["if_empty"]:
            self.stdout.write(
                f"Seeding the sandbox tenant at {settings.SANDBOX_DATABASE_PATH} "
                f"with {options['users']:,} users ..."
            )
        verbosity = options["verbosity"]
        result = seed_users(
            options["users"],
            options["seed"],
            append=options["append"],
            progress=self.stdout.write if verbosity > 1 else None,
        )
        self.stdout.write(
            f"Seeded {result.users:,} users ({result.terms:,} search terms) "
            f"with seed {options['seed']} in {result.seconds:.1f}s"
        )
