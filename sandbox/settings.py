"""Settings of the sandbox tenant (`manage.py runsandbox`, `sandbox_seed`, `sandbox_faults`,
`sandbox_identities`; manage.py picks this module for them): the product's settings, then the
sandbox app, its database and router, every SANDBOX_* setting, and what serving the emulated
Management API alone changes. config/settings.py holds only the product, and nothing changes
`settings` at run time."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.settings import *  # noqa: F403
from config.settings import (
    DATABASES,
    INSTALLED_APPS,
    SECRET_KEY,
    VAR_DIR,
    _private_file,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_str,
)
from sandbox.ratelimit import PLAN_NAMES

INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]

# The sandbox tenant keeps its users and jobs in a database of its own (always SQLite),
# never in the dashboard's tables; sandbox.routers sends its models there.
SANDBOX_DATABASE_PATH = Path(env_str("SANDBOX_DATABASE_PATH", str(VAR_DIR / "sandbox.sqlite3")))
DATABASES = {
    **DATABASES,
    "sandbox": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _private_file(SANDBOX_DATABASE_PATH),
        "OPTIONS": {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-200000; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=1073741824;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # The sandbox database depends on no other, so tests may ask for it alone.
        "TEST": {"NAME": env_str("SANDBOX_TEST_DATABASE_PATH") or None, "DEPENDENCIES": []},
    },
}
DATABASE_ROUTERS = ["sandbox.routers.SandboxRouter"]

# --- Where it answers, the tenant it plays and the client it knows ------------------
# (config/settings.py reads SANDBOX_HOST, SANDBOX_PORT, SANDBOX_TENANT, SANDBOX_DOMAIN and the
# client pair with the same defaults for the product's upstream while AUTH0_DOMAIN is unset.)
SANDBOX_HOST = env_str("SANDBOX_HOST", "127.0.0.1")
SANDBOX_PORT = env_int("SANDBOX_PORT", 8001, minimum=1)
SANDBOX_TENANT = env_str("SANDBOX_TENANT", "userdesk-sandbox")
SANDBOX_DOMAIN = env_str("SANDBOX_DOMAIN", f"{SANDBOX_TENANT}.sandbox.local")
SANDBOX_CLIENT_ID = env_str("SANDBOX_CLIENT_ID", "sandbox-client-id")
SANDBOX_CLIENT_SECRET = env_str("SANDBOX_CLIENT_SECRET", "sandbox-client-secret")

# --- Sandbox tenant behaviour (search lag, rate limits, fault switches) --------------
# Signs the sandbox's access tokens and download links (defaults to a key derived from SECRET_KEY).
SANDBOX_SIGNING_KEY = env_str("SANDBOX_SIGNING_KEY") or f"sandbox-signing:{SECRET_KEY}"
SANDBOX_TOKEN_LIFETIME_SECONDS = env_int("SANDBOX_TOKEN_LIFETIME_SECONDS", 86400, minimum=1)
# Token buckets per endpoint group (sandbox/ratelimit.py): Auth0's tables "essentials",
# "professional" (per-endpoint buckets), "enterprise" (16/s tenant-wide), "enterprise_nonprod"
# (2/s), "free" (burst 2, 2/s); "paid" (the Essentials table with a roomier Read Connections
# bucket) or "off" (no limit; headers still sent).
SANDBOX_RATE_LIMIT_PLAN = env_choice("SANDBOX_RATE_LIMIT_PLAN", "paid", PLAN_NAMES)
SANDBOX_EXPORT_DIR = Path(env_str("SANDBOX_EXPORT_DIR", str(VAR_DIR / "sandbox-exports")))
SANDBOX_EXPORT_WORKERS = env_int("SANDBOX_EXPORT_WORKERS", 2, minimum=1)
SANDBOX_EXPORT_LINK_SECONDS = env_int("SANDBOX_EXPORT_LINK_SECONDS", 60, minimum=1)
SANDBOX_JOB_RETENTION_SECONDS = env_int("SANDBOX_JOB_RETENTION_SECONDS", 86400, minimum=1)
# Fault switches at start (all off by default; see docs/sandbox/rate-limits-and-faults.md).
# They seed the sandbox's switch table; `manage.py sandbox_faults` and
# `/sandbox/faults` change them while it runs.
SANDBOX_FAULT_RATE_LIMIT_SHARE = env_float("SANDBOX_FAULT_RATE_LIMIT_SHARE", 0.0, minimum=0)
SANDBOX_FAULT_ERROR_SHARE = env_float("SANDBOX_FAULT_ERROR_SHARE", 0.0, minimum=0)
SANDBOX_FAULT_LATENCY_MS = env_int("SANDBOX_FAULT_LATENCY_MS", 0, minimum=0)
SANDBOX_FAULT_DOWNLOAD_CUT_BYTES = env_int("SANDBOX_FAULT_DOWNLOAD_CUT_BYTES", 0, minimum=0)
SANDBOX_FAULT_LINK_SECONDS = env_int("SANDBOX_FAULT_LINK_SECONDS", 0, minimum=0)
SANDBOX_FAULT_LINK_LAPSES = env_int("SANDBOX_FAULT_LINK_LAPSES", 0, minimum=0)
SANDBOX_FAULT_JOB_FAIL = env_str("SANDBOX_FAULT_JOB_FAIL")
SANDBOX_FAULT_JOB_PENDING_SECONDS = env_int("SANDBOX_FAULT_JOB_PENDING_SECONDS", 0, minimum=0)
SANDBOX_FAULT_JOB_ROWS_PER_SECOND = env_int("SANDBOX_FAULT_JOB_ROWS_PER_SECOND", 0, minimum=0)
SANDBOX_FAULT_CLOCK_OFFSET_SECONDS = env_int("SANDBOX_FAULT_CLOCK_OFFSET_SECONDS", 0)
SANDBOX_FAULT_EMAIL_TEMPLATE_DISABLED = env_bool("SANDBOX_FAULT_EMAIL_TEMPLATE_DISABLED", False)
# The plan the sandbox tenant is on: log retention (1/5/10/30 days) and whether the session and
# refresh-token endpoints answer (Enterprise only at Auth0).
SANDBOX_TENANT_PLAN = env_str("SANDBOX_TENANT_PLAN", "enterprise")
if SANDBOX_TENANT_PLAN not in {"free", "essentials", "professional", "enterprise"}:
    raise ImproperlyConfigured(
        "SANDBOX_TENANT_PLAN must be free, essentials, professional or enterprise, "
        f"got {SANDBOX_TENANT_PLAN!r}"
    )
# Seconds before a POST/PATCH on /api/v2/users shows in GET /api/v2/users search (0 = at once);
# /users/{id} and /users-by-email see writes immediately, as on Auth0.
SANDBOX_SEARCH_LAG_SECONDS = env_float("SANDBOX_SEARCH_LAG_SECONDS", 3.0, minimum=0)
# Work (thousands of SQLite VM steps, ~25 per ms) a search may spend on SQLite's plan before it
# tries the plan for the other case, rare or common matches; the answer is the same either way.
SANDBOX_SEARCH_PLAN_BUDGET = env_int("SANDBOX_SEARCH_PLAN_BUDGET", 100, minimum=0)


# --- The server ---------------------------------------------------------------------
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
