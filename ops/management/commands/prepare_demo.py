from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.tenant_urls import tenant_reverse
from management_api.tenants import all_tenants
from staff.roles import generate_password, save_staff, staff_exists
from staff.tenant_rows import move_rows, same_sandbox_tenant, unconfigured_slugs

DEMO_EMAIL = "demo@userdesk.local"
LEAD_EMAIL = "lead@userdesk.local"
# A second Support lead: a bulk run above the approval threshold, and every delete run, waits
# for a lead other than the one who asked.
APPROVER_EMAIL = "approver@userdesk.local"
STAGING_EMAIL = "staging@userdesk.local"
# `make run`'s second sandbox tenant: its settings (the Makefile's STAGING_SANDBOX_ENV, as
# NAME=value words), its own users and seed.
STAGING_SANDBOX_ENV = "STAGING_SANDBOX_ENV"
STAGING_SEED = 2
# How many of production's addresses staging holds too.
SHARED_ADDRESSES = 2


class Command(BaseCommand):
    help = (
        "Get a machine ready for `make run`: migrate the database, create a demo export "
        "admin and two demo support leads when no staff exists (and print their sign-ins), seed "
        "the sandbox tenant when it is empty (its own command, under its own settings)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed-users", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the web app will answer."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        self._rows_of_former_tenants()
        self._demo_sign_in(options["url"].rstrip("/"))
        self._sandbox_identities(options["url"].rstrip("/"))
        self._seed_sandbox(options["seed_users"], options["seed"])
        cases = self._support_cases(options["url"].rstrip("/"))
        staging = _staging_sandbox_env()
        if staging:
            self.stdout.write("Staging sandbox tenant:")
            # Fewer users than production (1,500 of the default 5,000), from another seed.
            self._seed_sandbox(max(1, options["seed_users"] * 3 // 10), STAGING_SEED, staging)
            self._same_people(cases, staging)

    def _demo_sign_in(self, url: str) -> None:
        if staff_exists():
            self.stdout.write(
                "Staff accounts exist; sign in with yours. To add or reset one: "
                "uv run python manage.py add_staff EMAIL --role export-admin --generate-password"
            )
            return
        password = generate_password()
        save_staff(DEMO_EMAIL, "export-admin", password)
        lead_password = generate_password()
        save_staff(LEAD_EMAIL, "support-lead", lead_password)
        approver_password = generate_password()
        save_staff(APPROVER_EMAIL, "support-lead", approver_password)
        staging_only = ""
        if _staging_sandbox_env() and "staging" in {t.slug for t in all_tenants()}:
            staging_password = generate_password()
            save_staff(STAGING_EMAIL, "support", staging_password, tenant="staging")
            staging_only = (
                f"  Support on staging only (production is hidden from them):\n"
                f"    Email:    {STAGING_EMAIL}\n"
                f"    Password: {staging_password}\n"
            )
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
                f"  A second Support lead (approves the first's bulk runs: four eyes):\n"
                f"    Email:    {APPROVER_EMAIL}\n"
                f"    Password: {approver_password}\n"
                f"{staging_only}"
                f"{bar}\n"
            )
        )

    def _rows_of_former_tenants(self) -> None:
        """Rows stored under a tenant slug no longer configured: the earlier one-tenant demo's
        (`userdesk-sandbox`, the same sandbox tenant `make run` now calls `production`) move to
        it; any other is named with the command that moves it."""
        for slug, counts in unconfigured_slugs().items():
            same = same_sandbox_tenant(slug)
            if same is not None:
                moved = move_rows(slug, same.slug, by="manage.py prepare_demo")
                self.stdout.write(
                    f"The earlier demo's tenant {slug} is now {same.slug} ({same.name}): moved "
                    f"{moved.words()}; its audit events keep {slug}."
                )
                continue
            rows = ", ".join(f"{label}: {n}" for label, n in counts.items())
            self.stdout.write(
                f"Stored rows of the tenant {slug} ({rows}) belong to no configured tenant, so "
                f"no page shows them. To give them to one: uv run python manage.py "
                f"move_tenant_rows {slug} SLUG"
            )

    def _sandbox_identities(self, url: str) -> None:
        """With the sandbox as the identity provider (OIDC_SANDBOX), who can sign in through it."""
        if not (settings.OIDC_SANDBOX and settings.OIDC_ISSUER):
            return
        from staff.oidc import mapped_roles

        lines = [f'  Or "Sign in with {settings.OIDC_PROVIDER_NAME}" at {url}/sign-in/ as:']
        for line in _sandbox_command("sandbox_identities").splitlines():
            identity = json.loads(line)
            if identity["blocked"]:
                outcome = "blocked at the provider: refused"
            else:
                roles = sorted(mapped_roles(identity))
                outcome = ", ".join(roles) if roles else "no role: refused"
            lines.append(f"    {identity['email']:<26} {outcome}")
        self.stdout.write("\n".join(lines) + "\n")

    def _support_cases(self, url: str) -> list[dict[str, Any]]:
        """A user page to try each support case on: one seeded user of each, found in the
        sandbox tenant's data (`sandbox_cases`), on the configured tenant that is that sandbox."""
        lines = [json.loads(line) for line in _sandbox_command("sandbox_cases").splitlines()]
        domains = {line["domain"] for line in lines}
        tenant = next((t for t in all_tenants() if t.domain in domains), None)
        if tenant is None or not lines:
            return lines
        width = max(len(line["case"]) for line in lines)
        self.stdout.write(f"A user for each support case on {tenant.name}:")
        for line in lines:
            page = tenant_reverse(tenant.slug, "users_admin:detail", line["user_id"])
            self.stdout.write(f"  {line['case']:<{width}}  {url}{page}")
        return lines

    def _same_people(self, cases: list[dict[str, Any]], staging: dict[str, str]) -> None:
        """Staging also holds a few of production's database users' addresses (people testing
        on both), so the email lookup across tenants finds one address on both."""
        emails = [
            line["email"]
            for line in cases
            if line["user_id"].startswith("auth0|") and line["email"] == str(line["email"]).lower()
        ][:SHARED_ADDRESSES]
        if not emails:
            return
        _sandbox_command("sandbox_add_users", *emails, env=staging)
        self.stdout.write(
            f"On both tenants (the email lookup across tenants finds each): {', '.join(emails)}"
        )

    def _seed_sandbox(self, users: int, seed: int, env: dict[str, str] | None = None) -> None:
        output = _sandbox_command(
            "sandbox_seed", "--if-empty", "--users", str(users), "--seed", str(seed), env=env
        )
        self.stdout.write(output, ending="")


def _staging_sandbox_env() -> dict[str, str]:
    """The second sandbox tenant's settings when `make run` starts one, else {}."""
    words = os.environ.get(STAGING_SANDBOX_ENV, "").split()
    return dict(word.split("=", 1) for word in words if "=" in word)


def _sandbox_command(*args: str, env: dict[str, str] | None = None) -> str:
    """Run one of the sandbox tenant's commands: manage.py runs them under sandbox.settings,
    in a process of their own, so the product imports nothing of the sandbox (`env`: settings
    of another sandbox tenant)."""
    env = {
        **{key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"},
        **(env or {}),
    }
    done = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise CommandError(f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout
