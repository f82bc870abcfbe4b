from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from management_api.tenants import UnknownTenant, get_tenant
from staff.roles import ROLES, generate_password, normalise_email, save_staff


class Command(BaseCommand):
    help = (
        "Create or update a staff member and give them one role. A new member gets a password "
        "typed at a prompt (or generated and printed when there is no terminal); an existing "
        "member keeps theirs unless --password-stdin or --generate-password is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The staff member's email; it is also their sign-in.")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument(
            "--tenant",
            default="",
            help="The role on this tenant only (its slug); without it, on every tenant.",
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument(
            "--password-stdin", action="store_true", help="Read the password from standard input."
        )
        source.add_argument(
            "--generate-password",
            action="store_true",
            help="Generate a password and print it.",
        )
        source.add_argument(
            "--prompt-password",
            action="store_true",
            help="Ask for a new password even if the member exists.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        role: str = options["role"]
        tenant: str = options["tenant"]
        if tenant:
            try:
                get_tenant(tenant)
            except UnknownTenant as exc:
                raise CommandError(str(exc)) from None
        try:
            email = normalise_email(options["email"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        generated = False
        password: str | None = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
        elif options["generate_password"]:
            password, generated = generate_password(), True
        elif options["prompt_password"] or not User.objects.filter(username=email).exists():
            if sys.stdin.isatty():
                password = _prompt()
            elif options["prompt_password"]:
                raise CommandError("--prompt-password needs a terminal; use --password-stdin.")
            else:
                password, generated = generate_password(), True

        try:
            result = save_staff(email, role, password, tenant=tenant)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

        verb = "Created" if result.created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.user.username} with the {role} role"
                f"{f' on the tenant {tenant}' if tenant else ''}."
            )
        )
        if generated:
            self.stdout.write(f"Password: {password}")
        elif password is None:
            self.stdout.write("Password unchanged.")


def _prompt() -> str:
    for _ in range(3):
        first = getpass.getpass("Password: ")
        if first and first == getpass.getpass("Password (again): "):
            return first
        sys.stderr.write("The passwords were empty or did not match. Try again.\n")
    raise CommandError("No password set.")
