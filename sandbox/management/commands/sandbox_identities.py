"""`manage.py sandbox_identities`: the sandbox's staff directory, one JSON object a line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from sandbox.oidc import STAFF_IDENTITIES


class Command(BaseCommand):
    help = (
        "Print who can sign in through the sandbox acting as the staff's identity provider: "
        "one JSON object a line (email, blocked, the ID token's claims)."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        for identity in STAFF_IDENTITIES.values():
            line = {"email": identity.email, "blocked": identity.blocked, **identity.claims()}
            self.stdout.write(json.dumps(line, sort_keys=True))
