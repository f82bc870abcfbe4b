"""Settings of the sandbox server (`manage.py runsandbox`): the product's settings, then only
what serving the emulated Management API alone changes. manage.py picks this module for
runsandbox, so nothing changes `settings` at run time."""

from __future__ import annotations

from config.settings import *  # noqa: F403

# Only the sandbox's URLs, with none of the dashboard's sessions, CSRF, sign-in or CSP.
ROOT_URLCONF = "sandbox.urls"
# CommonMiddleware only to send Content-Length (so connections stay open between calls); the
# sandbox's own adds X-RateLimit-* to answers no API view made (405s, unrouted 404s).
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "sandbox.http.rate_limit_headers_middleware",
]
DEBUG = False
# A local emulator answers whatever host name a client uses to reach it.
ALLOWED_HOSTS = ["*"]
