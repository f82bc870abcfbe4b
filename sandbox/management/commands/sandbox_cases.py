"""`manage.py sandbox_cases`: a seeded user for each support case, one JSON object a line."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox.cases import samples


class Command(BaseCommand):
    help = (
        "Print one seeded user of the sandbox tenant for each support case it holds (blocked, "
        "unverified, MFA, social, SAML, ...): one JSON object a line (case, user_id, email, "
        "the tenant's domain)."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        for case, user in samples():
            line = {
                "case": case,
                "user_id": user.user_id,
                "email": user.email,
                "domain": settings.SANDBOX_DOMAIN,
            }
            self.stdout.write(json.dumps(line, sort_keys=True))
