"""`manage.py runsandbox`: serve the sandbox tenant (and only it) with waitress."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

# CommonMiddleware only to send Content-Length (so connections stay open between calls); the
# sandbox's own adds X-RateLimit-* to answers no API view made (405s, unrouted 404s).
SANDBOX_MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "sandbox.http.rate_limit_headers_middleware",
]


class _Stop(Exception):
    pass


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


class Command(BaseCommand):
    help = "Serve the sandbox tenant (an emulated Auth0 Management API) on its own port."
    # The dashboard's URLconf is not served here, so its checks must not stop the sandbox.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.SANDBOX_PORT)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args: Any, **options: Any) -> None:
        # Only the sandbox's URLs, with none of the dashboard's sessions, CSRF, sign-in or CSP.
        settings.ROOT_URLCONF = "sandbox.urls"
        settings.MIDDLEWARE = SANDBOX_MIDDLEWARE
        settings.DEBUG = False
        # A local emulator answers whatever host name a client uses to reach it.
        settings.ALLOWED_HOSTS = ["*"]

        call_command("migrate", database="sandbox", interactive=False, verbosity=0)

        from django.core.wsgi import get_wsgi_application
        from waitress.server import create_server

        from sandbox.jobs import runner

        try:
            server = create_server(
                get_wsgi_application(),
                host=options["host"],
                port=options["port"],
                threads=options["threads"],
                ident="userdesk-sandbox",
            )
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc.strerror}"
            ) from None
        runner.start()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        address = f"http://{options['host']}:{server.effective_port}"  # type: ignore[union-attr]
        self.stdout.write(
            f"Sandbox tenant {settings.SANDBOX_TENANT} ({settings.SANDBOX_DOMAIN}) "
            f"listening on {address}"
        )
        sys.stdout.flush()
        try:
            server.run()
        except (_Stop, KeyboardInterrupt):
            pass
        finally:
            runner.stop()
            server.close()
            server.task_dispatcher.shutdown()
            self.stdout.write("Sandbox tenant stopped.")
