"""`manage.py sandbox_add_users EMAIL ...`: database users with these addresses, once."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from sandbox.seed import DATABASE_CONNECTION
from sandbox.users import UserError, create_user, profiles_by_email


class Command(BaseCommand):
    help = (
        "Add a database user for each address the tenant has no user of (as POST /api/v2/users "
        "would, with a random password): the same people on two sandbox tenants. Prints each "
        "address's user, one JSON object a line."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("emails", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        for email in options["emails"]:
            existing = profiles_by_email(email)
            if existing:
                profile = json.loads(existing[0])
            else:
                body = {
                    "connection": DATABASE_CONNECTION,
                    "email": email,
                    "password": secrets.token_urlsafe(18),
                    "email_verified": True,
                }
                try:
                    profile = json.loads(create_user(body))
                except UserError as exc:
                    self.stderr.write(f"{email}: {exc.message}")
                    raise SystemExit(1) from exc
            line = {"email": email, "user_id": profile["user_id"], "added": not existing}
            self.stdout.write(json.dumps(line, sort_keys=True))
