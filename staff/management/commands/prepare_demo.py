from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser

from staff.roles import generate_password, save_staff, staff_exists

DEMO_EMAIL = "demo@userdesk.local"
LEAD_EMAIL = "lead@userdesk.local"
SEED_COMMAND = "sandbox_seed"


class Command(BaseCommand):
    help = (
        "Get a machine ready for `make run`: migrate both databases, create a demo export "
        "admin and a demo support lead when no staff exists (and print their sign-ins), seed "
        "the sandbox when it is empty."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed-users", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the web app will answer."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for alias in ("default", "sandbox"):
            self.stdout.write(f"Migrating the {alias} database ...")
            call_command("migrate", database=alias, interactive=False, verbosity=0)
        self._demo_sign_in(options["url"].rstrip("/"))
        self._sandbox_identities(options["url"].rstrip("/"))
        self._seed_sandbox(options["seed_users"], options["seed"])

    def _demo_sign_in(self, url: str) -> None:
        if staff_exists():
            self.stdout.write(
                "Staff accounts exist; sign in with yours. To add or reset one: "
                "python manage.py add_staff EMAIL --role export-admin --generate-password"
            )
            return
        password = generate_password()
        save_staff(DEMO_EMAIL, "export-admin", password)
        lead_password = generate_password()
        save_staff(LEAD_EMAIL, "support-lead", lead_password)
        bar = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{bar}\n"
                f"  Demo sign-ins, shown once:\n"
                f"    URL:      {url}/sign-in/\n"
                f"  Export admin (exports, audit log):\n"
                f"    Email:    {DEMO_EMAIL}\n"
                f"    Password: {password}\n"
                f"  Support lead (acts on users: block, MFA reset, metadata, ...):\n"
                f"    Email:    {LEAD_EMAIL}\n"
                f"    Password: {lead_password}\n"
                f"{bar}\n"
            )
        )

    def _sandbox_identities(self, url: str) -> None:
        """With the sandbox as the identity provider (OIDC_SANDBOX), who can sign in through it."""
        if not (settings.OIDC_SANDBOX and settings.OIDC_ISSUER):
            return
        from sandbox.oidc import STAFF_IDENTITIES
        from staff.oidc import mapped_roles

        lines = [f'  Or "Sign in with {settings.OIDC_PROVIDER_NAME}" at {url}/sign-in/ as:']
        for identity in STAFF_IDENTITIES.values():
            if identity.blocked:
                outcome = "blocked at the provider: refused"
            else:
                roles = sorted(mapped_roles(identity.claims()))
                outcome = ", ".join(roles) if roles else "no role: refused"
            lines.append(f"    {identity.email:<26} {outcome}")
        self.stdout.write("\n".join(lines) + "\n")

    def _seed_sandbox(self, users: int, seed: int) -> None:
        if SEED_COMMAND not in get_commands():
            self.stdout.write(
                f"Note: the sandbox has no `{SEED_COMMAND}` command yet, so it was not seeded."
            )
            return
        tenant_users = apps.get_model("sandbox", "TenantUser")
        if tenant_users._default_manager.using("sandbox").exists():
            self.stdout.write("The sandbox tenant already has users; not seeding it again.")
            return
        self.stdout.write(
            f"Seeding the sandbox tenant at {settings.SANDBOX_DATABASE_PATH} with {users} users ..."
        )
        call_command(SEED_COMMAND, users=users, seed=seed, stdout=self.stdout, stderr=self.stderr)
