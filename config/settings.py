"""Userdesk settings: everything comes from the environment, with embedded defaults.

With no environment at all the app runs on SQLite under var/, Celery on kombu's
filesystem transport, a file cache shared by every process, and the bundled
sandbox tenant as its upstream. A malformed value raises ImproperlyConfigured
naming the variable. Only the product is here: the sandbox server's app, its
database and the SANDBOX_* settings are in sandbox/settings.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    raw = os.environ.get(name, "") or default
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ImproperlyConfigured(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, "
            f"got {raw!r}"
        )
    return raw


VAR_DIR = Path(env_str("USERDESK_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path) -> Path:
    """Create `path` readable by this user only (0600), before SQLite opens it: SQLite gives
    its -wal and -shm files the database file's permissions. In-memory names are left alone."""
    if str(path).startswith(("file:", ":memory:")):
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)
    return path


# Files the app writes (exports, uploads) are readable by its own user only.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Off unless asked for: `make run` and the tests set DEBUG=true themselves.
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_str("SECRET_KEY")
# Django's own bar for a key (the security.W009 check): this long, this many different characters.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
if not DEBUG and (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
):
    raise ImproperlyConfigured(
        f"SECRET_KEY must be set when DEBUG is off, at least {SECRET_KEY_MIN_LENGTH} random "
        f"characters (got {len(SECRET_KEY)}); e.g. python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(50))'; or, on a development machine, DEBUG=true as `make "
        "run` sets it"
    )
if not SECRET_KEY:
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# A refused form is answered by the 403 page and recorded as a refused attempt.
CSRF_FAILURE_VIEW = "staff.views.csrf_refused"
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(
            f"CSRF_TRUSTED_ORIGINS entries need a scheme (https://host), got {_origin!r}"
        )

INSTALLED_APPS = [
    "staff.apps.SuperuserAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",  # its default config installs the loader for "page.html#partial"
    "axes",
    "csp",
    "staff",
    "users_admin",
    "exports",
    "management_api",
    "ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "staff.sessions.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.TenantScopeMiddleware",
    "management_api.middleware.OneDeadlinePerRequest",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "config.middleware.NoStoreForSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "staff.sessions.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "staff.oidc.SessionRecheck",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "staff.context_processors.capabilities",
                "config.context_processors.tenant",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# --- Database -----------------------------------------------------------------
# Every SQLite database of Userdesk's, the embedded default or a sqlite:// DATABASE_URL: the web
# process, workers and beat write it at once, so readers never wait on writers (WAL), a
# transaction takes its write lock when it begins (no lock upgrade to fail half-way), and a
# writer waits up to 20 s for another before "database is locked".
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _default_db: dict[str, Any] = dict(
            dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if _default_db["ENGINE"] == "django.db.backends.sqlite3":
        _default_db["OPTIONS"] = {**SQLITE_OPTIONS, **_default_db.get("OPTIONS", {})}
else:
    _default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _private_file(VAR_DIR / "userdesk.sqlite3"),
        # Kept open between requests: closing the last connection to a WAL database checkpoints
        # and fsyncs it, which cost every page view ~15 ms (bench/search.py).
        "CONN_MAX_AGE": 60,
        "OPTIONS": SQLITE_OPTIONS,
    }

DATABASES: dict[str, dict[str, Any]] = {"default": _default_db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery broker -----------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
CELERY_FS_DIR = VAR_DIR / "celery-broker"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "userdesk"),
        }
    }
    # Search results (users' personal data) for SEARCH_CACHE_SECONDS: Redis drops them itself.
    CACHES["search"] = CACHES["default"]
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
else:
    # A file cache is shared by every process on the machine (web, worker, beat), so the
    # Management API token is fetched once, not once per process.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        },
        # Search results (users' personal data) live SEARCH_CACHE_SECONDS in the web process's
        # memory, never in files: a file cache deletes an expired entry only when it is read
        # again or culled, so results outlived their life on disk by minutes or more.
        "search": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "userdesk-search",
        },
    }
    # Queued task messages carry export ids and staff names: private, like the databases.
    CELERY_FS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    (CELERY_FS_DIR / "processed").mkdir(mode=0o700, exist_ok=True)
    # kombu's filesystem transport, each message written whole (config/broker.py).
    CELERY_BROKER_URL = "userdesk-filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_DIR),
        "data_folder_out": str(CELERY_FS_DIR),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
        "polling_interval": env_float("CELERY_POLLING_INTERVAL", 0.2, minimum=0.01),
    }

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Task modules besides each app's tasks.py (the worker finds those by itself): exports.scheduling
# holds beat's task of scheduled exports beside what it does (it imports exports.tasks).
CELERY_IMPORTS = ("exports.scheduling",)
if REDIS_URL:
    # With acks_late, a message is redelivered once the visibility timeout passes: keep it
    # above the hard time limit, or long exports would be delivered twice.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = CELERY_TASK_TIME_LIMIT + 600

# --- The upstream Auth0 tenant ----------------------------------------------------
# With AUTH0_DOMAIN unset the upstream is the bundled sandbox tenant (`manage.py runsandbox`,
# settings of its own in sandbox/settings.py): where it answers and the client it knows, read
# from the variables it reads itself, so both sides agree.
_sandbox_tenant = env_str("SANDBOX_TENANT", "userdesk-sandbox")
_sandbox_domain = env_str("SANDBOX_DOMAIN", f"{_sandbox_tenant}.sandbox.local")
_sandbox_url = (
    f"http://{env_str('SANDBOX_HOST', '127.0.0.1')}:{env_int('SANDBOX_PORT', 8001, minimum=1)}"
)
AUTH0_DOMAIN = env_str("AUTH0_DOMAIN")
AUTH0_DOMAIN_SET = bool(AUTH0_DOMAIN)
if AUTH0_DOMAIN:
    if "://" in AUTH0_DOMAIN or "/" in AUTH0_DOMAIN:
        raise ImproperlyConfigured(
            f"AUTH0_DOMAIN must be a bare host name like tenant.eu.auth0.com, got {AUTH0_DOMAIN!r}"
        )
    AUTH0_CLIENT_ID = env_str("AUTH0_CLIENT_ID")
    AUTH0_CLIENT_SECRET = env_str("AUTH0_CLIENT_SECRET")
    if not AUTH0_CLIENT_ID or not AUTH0_CLIENT_SECRET:
        raise ImproperlyConfigured(
            "AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET must be set when AUTH0_DOMAIN is set"
        )
    _default_base = f"https://{AUTH0_DOMAIN}"
else:
    AUTH0_DOMAIN = _sandbox_domain
    AUTH0_CLIENT_ID = env_str("SANDBOX_CLIENT_ID", "sandbox-client-id")
    AUTH0_CLIENT_SECRET = env_str("SANDBOX_CLIENT_SECRET", "sandbox-client-secret")
    _default_base = _sandbox_url
# Where requests go: https://{AUTH0_DOMAIN} for a real tenant; override for plain-http upstreams.
AUTH0_BASE_URL = env_url("AUTH0_BASE_URL", _default_base, schemes=("http", "https")).rstrip("/")
AUTH0_AUDIENCE = env_str("AUTH0_AUDIENCE", f"https://{AUTH0_DOMAIN}/api/v2/")
AUTH0_TIMEOUT_SECONDS = env_float("AUTH0_TIMEOUT_SECONDS", 10.0, minimum=0.1)
SEARCH_CACHE_SECONDS = env_int("SEARCH_CACHE_SECONDS", 15, minimum=0)
# Deleting a user at Auth0 cannot be undone: off unless the deployment turns it on.
USERDESK_ALLOW_USER_DELETE = env_bool("USERDESK_ALLOW_USER_DELETE", False)
# The user page's delete becomes a one-user bulk run that needs a second lead's approval.
USERDESK_DELETE_NEEDS_APPROVAL = env_bool("USERDESK_DELETE_NEEDS_APPROVAL", False)
# Personal data shown masked to roles without "seeing personal data" (users_admin.pii): keys
# masked wherever they appear in a user's profile, logs, blocks and MFA methods; metadata keys
# masked in app_metadata and user_metadata; how long a reveal with a reason unmasks one user.
PII_MASKED_FIELDS = env_list(
    "PII_MASKED_FIELDS",
    [
        "phone_number",
        "ip",
        "last_ip",
        "initial_ip",
        "user_agent",
        "last_user_agent",
        "initial_user_agent",
    ],
)
PII_MASKED_METADATA_KEYS = env_list("PII_MASKED_METADATA_KEYS", [])
PII_REVEAL_MINUTES = env_int("PII_REVEAL_MINUTES", 15, minimum=1)
# A data-subject package (users_admin.packages) may be downloaded once within this many hours.
DATA_PACKAGE_HOURS = env_int("DATA_PACKAGE_HOURS", 24, minimum=1)
# How many days of logs the tenant keeps (Auth0: 1 to 30 by plan); the timeline says so.
AUTH0_LOG_RETENTION_DAYS = env_int("AUTH0_LOG_RETENTION_DAYS", 10, minimum=1)
# Management API client: a whole call (token, retries, waits) ends within the deadline.
AUTH0_DEADLINE_SECONDS = env_float("AUTH0_DEADLINE_SECONDS", 10.0, minimum=0.1)
AUTH0_MAX_RETRIES = env_int("AUTH0_MAX_RETRIES", 4, minimum=0)
AUTH0_BACKOFF_CAP_SECONDS = env_float("AUTH0_BACKOFF_CAP_SECONDS", 2.0, minimum=0.0)
CONNECTIONS_CACHE_SECONDS = env_int("CONNECTIONS_CACHE_SECONDS", 60, minimum=0)
# Bulk runs' pace (management_api/pacing.py): the single tenant's Auth0 rate-limit table ("" =
# from its plan and environment; the sandbox's follow SANDBOX_RATE_LIMIT_PLAN), and the share of
# each bucket's rate left for staff in the console (bulk calls use the rest).
AUTH0_RATE_LIMIT_PLANS = ("free", "essentials", "professional", "enterprise", "enterprise_nonprod")
_sandbox_rate_plan = env_str("SANDBOX_RATE_LIMIT_PLAN", "paid")
_sandbox_rate_plan = {"paid": "essentials", "off": "enterprise"}.get(
    _sandbox_rate_plan, _sandbox_rate_plan
)
AUTH0_RATE_LIMIT_PLAN = env_choice(
    "AUTH0_RATE_LIMIT_PLAN",
    ""
    if AUTH0_DOMAIN_SET or _sandbox_rate_plan not in AUTH0_RATE_LIMIT_PLANS
    else _sandbox_rate_plan,
    ("", *AUTH0_RATE_LIMIT_PLANS),
)
BULK_INTERACTIVE_RESERVE = env_float("BULK_INTERACTIVE_RESERVE", 0.3, minimum=0.0)
if BULK_INTERACTIVE_RESERVE >= 1.0:
    raise ImproperlyConfigured(
        f"BULK_INTERACTIVE_RESERVE must be below 1 (a share), got {BULK_INTERACTIVE_RESERVE}"
    )

# --- Tenants ------------------------------------------------------------------------
# AUTH0_TENANTS lists tenant slugs; each tenant's fields are AUTH0_TENANT_<SLUG>_<FIELD>
# (the slug upper-cased, dashes as underscores). Parsed here into plain dicts that
# management_api/tenants.py turns into Tenant values. Unset: the one tenant of the AUTH0_*
# variables above, read from settings at call time (slug AUTH0_TENANT_SLUG).
TENANT_SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?"
TENANT_ENVIRONMENTS = ("production", "staging", "development")
TENANT_PLANS = ("free", "essentials", "professional", "enterprise")
TENANT_PLAN_LOG_RETENTION_DAYS = {"free": 1, "essentials": 5, "professional": 10, "enterprise": 30}
TENANT_DEFAULT_COLOURS = {"production": "#b42318", "staging": "#b54708", "development": "#067647"}
# Variables of the single tenant that AUTH0_TENANTS replaces (both at once is refused).
_SINGLE_TENANT_VARIABLES = (
    "AUTH0_DOMAIN",
    "AUTH0_CLIENT_ID",
    "AUTH0_CLIENT_SECRET",
    "AUTH0_BASE_URL",
    "AUTH0_AUDIENCE",
    "AUTH0_LOG_RETENTION_DAYS",
    "AUTH0_TENANT_SLUG",
)


def tenant_slug_from(text: str) -> str:
    """A slug for the single tenant: `acme.eu.auth0.com` -> `acme-eu`."""
    host = text.lower().removesuffix(".auth0.com")
    slug = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:40].strip("-")
    return slug or "default"


def _tenant_error(slug: str, field: str, problem: str) -> ImproperlyConfigured:
    variable = f"AUTH0_TENANT_{slug.upper().replace('-', '_')}_{field}"
    return ImproperlyConfigured(f"Tenant {slug!r}, field {field} ({variable}): {problem}")


def _tenant_value(slug: str, field: str) -> str:
    return os.environ.get(f"AUTH0_TENANT_{slug.upper().replace('-', '_')}_{field}", "").strip()


def _tenant_secret(slug: str) -> str:
    secret = _tenant_value(slug, "CLIENT_SECRET")
    path = _tenant_value(slug, "CLIENT_SECRET_FILE")
    if secret and path:
        raise _tenant_error(
            slug, "CLIENT_SECRET_FILE", "set CLIENT_SECRET or CLIENT_SECRET_FILE, not both"
        )
    if path:
        try:
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise _tenant_error(
                slug, "CLIENT_SECRET_FILE", f"cannot read {path!r} ({exc.strerror})"
            ) from None
        if not secret:
            raise _tenant_error(slug, "CLIENT_SECRET_FILE", f"{path!r} is empty")
    if not secret:
        raise _tenant_error(slug, "CLIENT_SECRET", "required (or CLIENT_SECRET_FILE)")
    return secret


def env_tenant(slug: str) -> dict[str, Any]:
    """One AUTH0_TENANTS entry, checked field by field."""
    if not re.fullmatch(TENANT_SLUG_PATTERN, slug):
        raise ImproperlyConfigured(
            f"AUTH0_TENANTS: tenant {slug!r} is not a slug (lower-case letters, digits and "
            "dashes, at most 40, starting and ending with a letter or digit)"
        )
    domain = _tenant_value(slug, "DOMAIN")
    if not domain:
        raise _tenant_error(
            slug, "DOMAIN", "required (the tenant's domain, e.g. acme.eu.auth0.com)"
        )
    if "://" in domain or "/" in domain:
        raise _tenant_error(slug, "DOMAIN", f"must be a bare host name, got {domain!r}")
    environment = _tenant_value(slug, "ENVIRONMENT").lower()
    if environment not in TENANT_ENVIRONMENTS:
        raise _tenant_error(
            slug, "ENVIRONMENT", f"must be {', '.join(TENANT_ENVIRONMENTS)}, got {environment!r}"
        )
    colour = _tenant_value(slug, "COLOUR").lower() or TENANT_DEFAULT_COLOURS[environment]
    if not re.fullmatch(r"#(?:[0-9a-f]{3}|[0-9a-f]{6})", colour):
        raise _tenant_error(slug, "COLOUR", f"must be a hex colour like #b42318, got {colour!r}")
    plan = _tenant_value(slug, "PLAN").lower() or "professional"
    if plan not in TENANT_PLANS:
        raise _tenant_error(slug, "PLAN", f"must be {', '.join(TENANT_PLANS)}, got {plan!r}")
    base_url = _tenant_value(slug, "BASE_URL") or f"https://{domain}"
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _tenant_error(slug, "BASE_URL", f"must be an http(s) URL, got {base_url!r}")
    retention = _tenant_value(slug, "LOG_RETENTION_DAYS")
    if retention:
        try:
            retention_days = int(retention)
        except ValueError:
            raise _tenant_error(
                slug, "LOG_RETENTION_DAYS", f"must be an integer, got {retention!r}"
            ) from None
        if retention_days < 1:
            raise _tenant_error(
                slug, "LOG_RETENTION_DAYS", f"must be at least 1, got {retention_days}"
            )
    else:
        retention_days = TENANT_PLAN_LOG_RETENTION_DAYS[plan]
    client_id = _tenant_value(slug, "CLIENT_ID")
    if not client_id:
        raise _tenant_error(slug, "CLIENT_ID", "required")
    return {
        "slug": slug,
        "name": _tenant_value(slug, "NAME") or slug,
        "environment": environment,
        "colour": colour,
        "domain": domain,
        "base_url": base_url.rstrip("/"),
        "client_id": client_id,
        "client_secret": _tenant_secret(slug),
        "audience": _tenant_value(slug, "AUDIENCE") or f"https://{domain}/api/v2/",
        "log_retention_days": retention_days,
        "plan": plan,
    }


def env_tenants(name: str) -> list[dict[str, Any]]:
    slugs = env_list(name, [])
    if not slugs:
        return []
    if len(set(slugs)) != len(slugs):
        raise ImproperlyConfigured(f"{name} names a tenant twice: {','.join(slugs)}")
    both = [variable for variable in _SINGLE_TENANT_VARIABLES if os.environ.get(variable)]
    if both:
        raise ImproperlyConfigured(
            f"{name} is set, so {', '.join(both)} must not be: give each tenant's values as "
            "AUTH0_TENANT_<SLUG>_<FIELD> instead"
        )
    return [env_tenant(slug) for slug in slugs]


AUTH0_TENANTS = env_tenants("AUTH0_TENANTS")
# The single tenant's slug (stored on rows): the sandbox's name, or derived from AUTH0_DOMAIN.
AUTH0_TENANT_SLUG = env_str("AUTH0_TENANT_SLUG") or tenant_slug_from(
    AUTH0_DOMAIN if AUTH0_DOMAIN_SET else _sandbox_tenant
)
if not re.fullmatch(TENANT_SLUG_PATTERN, AUTH0_TENANT_SLUG):
    raise ImproperlyConfigured(
        "AUTH0_TENANT_SLUG must be lower-case letters, digits and dashes, "
        f"got {AUTH0_TENANT_SLUG!r}"
    )
# The single tenant's plan: the sandbox's, or the one its log retention suggests.
AUTH0_TENANT_PLAN = (
    env_str("SANDBOX_TENANT_PLAN", "enterprise").lower()
    if not AUTH0_DOMAIN_SET
    else max(
        (
            plan
            for plan, days in TENANT_PLAN_LOG_RETENTION_DAYS.items()
            if days <= AUTH0_LOG_RETENTION_DAYS
        ),
        key=TENANT_PLAN_LOG_RETENTION_DAYS.__getitem__,
        default="free",
    )
)
if AUTH0_TENANT_PLAN not in TENANT_PLANS:
    raise ImproperlyConfigured(
        f"SANDBOX_TENANT_PLAN must be {', '.join(TENANT_PLANS)}, got {AUTH0_TENANT_PLAN!r}"
    )

# --- Email (export notifications) -------------------------------------------------
# The requester of an export is emailed when it is ready or failed (exports/notify.py), with
# an absolute link built on USERDESK_BASE_URL. With nothing set, emails go to the console.
# By default the address `make run` serves on (its PORT_WEB reaches every process).
USERDESK_BASE_URL = env_url(
    "USERDESK_BASE_URL",
    f"http://127.0.0.1:{env_int('PORT_WEB', 8000, minimum=1)}",
    schemes=("http", "https"),
).rstrip("/")
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Userdesk <userdesk@localhost>")
EXPORT_NOTIFY = env_bool("EXPORT_NOTIFY", True)

# --- Exports ----------------------------------------------------------------------
EXPORT_STORAGE_DIR = Path(env_str("EXPORT_STORAGE_DIR", str(VAR_DIR / "exports")))
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 30, minimum=1)
# Pipeline pacing and recovery (exports/pipeline.py). Polls wait about half of Auth0's
# time_left_seconds, between the two bounds; the lease is what a worker holds while it works
# on an export (renewed every few seconds); the sweep re-enqueues queued exports older than
# the grace period and in-progress ones with no heartbeat for EXPORT_STALE_SECONDS (keep it
# above EXPORT_POLL_MAX_SECONDS and EXPORT_LEASE_SECONDS).
EXPORT_POLL_MIN_SECONDS = env_float("EXPORT_POLL_MIN_SECONDS", 1.0, minimum=0.05)
EXPORT_POLL_MAX_SECONDS = env_float("EXPORT_POLL_MAX_SECONDS", 30.0, minimum=0.05)
EXPORT_LEASE_SECONDS = env_int("EXPORT_LEASE_SECONDS", 120, minimum=1)
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 300, minimum=1)
EXPORT_QUEUED_GRACE_SECONDS = env_int("EXPORT_QUEUED_GRACE_SECONDS", 60, minimum=0)
EXPORT_DOWNLOAD_ATTEMPTS = env_int("EXPORT_DOWNLOAD_ATTEMPTS", 4, minimum=1)
# Deliveries that may claim one step (the task's own retries included) before the export fails.
EXPORT_STEP_ATTEMPTS = env_int("EXPORT_STEP_ATTEMPTS", 12, minimum=1)
EXPORT_SWEEP_SECONDS = env_float("EXPORT_SWEEP_SECONDS", 30.0, minimum=1.0)
EXPORT_TASK_SOFT_TIME_LIMIT = env_int("EXPORT_TASK_SOFT_TIME_LIMIT", 3300, minimum=1)
EXPORT_TASK_TIME_LIMIT = env_int("EXPORT_TASK_TIME_LIMIT", 3600, minimum=1)
# Scheduled exports (exports.scheduling): a changed-since run reaches back this many minutes
# before the last successful run started, for users Auth0 had not yet written to its export.
EXPORT_SCHEDULE_OVERLAP_MINUTES = env_int("EXPORT_SCHEDULE_OVERLAP_MINUTES", 15, minimum=0)
# --- Bulk runs (users_admin.bulk) ------------------------------------------------------
# Their pace is the tenant's budget (AUTH0_RATE_LIMIT_PLAN and BULK_INTERACTIVE_RESERVE above).
# Runs changing more users than this, and every delete, wait for a second staff member's approval,
# for at most BULK_APPROVAL_TTL seconds.
BULK_APPROVAL_THRESHOLD = env_int("BULK_APPROVAL_THRESHOLD", 100, minimum=0)
BULK_APPROVAL_TTL = env_int("BULK_APPROVAL_TTL", 86400, minimum=60)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "exports-sweep": {"task": "exports.tasks.sweep_exports", "schedule": EXPORT_SWEEP_SECONDS},
    "exports-prune": {"task": "exports.tasks.prune_exports", "schedule": 3600.0},
    "bulk-sweep": {"task": "users_admin.tasks.sweep_bulk_runs", "schedule": EXPORT_SWEEP_SECONDS},
    "imports-sweep": {"task": "exports.tasks.sweep_imports", "schedule": EXPORT_SWEEP_SECONDS},
    "records-prune": {"task": "staff.tasks.prune_records", "schedule": 3600.0},
    "exports-schedules": {"task": "exports.scheduling.run_due_schedules", "schedule": 60.0},
    "data-packages-prune": {"task": "users_admin.packages.prune_data_packages", "schedule": 3600.0},
}
# How long Userdesk keeps its own records (staff.retention; docs/operator/storage.md): audit
# events (and the action requests, bulk runs and export rows they describe), recent searches.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 3 * 365, minimum=1)
RECENT_SEARCH_DAYS = env_int("RECENT_SEARCH_DAYS", 30, minimum=1)
EXPORT_S3_BUCKET = env_str("EXPORT_S3_BUCKET")
if EXPORT_S3_BUCKET:
    _export_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": EXPORT_S3_BUCKET,
            "endpoint_url": env_url("EXPORT_S3_ENDPOINT_URL", "", schemes=("http", "https"))
            or None,
            "region_name": env_str("EXPORT_S3_REGION") or None,
            "access_key": env_str("EXPORT_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("EXPORT_S3_SECRET_ACCESS_KEY") or None,
            "location": env_str("EXPORT_S3_PREFIX", "exports"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _export_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # A private folder: no static or media URL serves it; downloads go through a view.
        "OPTIONS": {"location": EXPORT_STORAGE_DIR, "base_url": None},
    }

STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "exports": _export_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Auth, sign-in throttling -------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "staff.oidc.PasswordBackend",
    "staff.oidc.StaffOIDCBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Email and password: the break-glass sign-in beside OIDC; false removes the form and ends
# the sessions it opened.
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", default=True)


def env_role_map(name: str) -> dict[str, str]:
    """`claim-value=Role name,other-value=Other role` (role names as in staff.permissions)."""
    mapping: dict[str, str] = {}
    for item in env_list(name, []):
        value, sep, role = item.partition("=")
        if not sep or not value.strip() or not role.strip():
            raise ImproperlyConfigured(
                f"{name} entries must look like claim-value=Role name, got {item!r}"
            )
        mapping[value.strip()] = role.strip()
    return mapping


# --- Staff sign-in with OpenID Connect (staff/oidc.py, mozilla-django-oidc) -----------
# Off unless an issuer is set: OIDC_ISSUER, or OIDC_AUTH0_DOMAIN for an Auth0 workforce tenant,
# or OIDC_SANDBOX=true (`make run`) for the bundled sandbox acting as the provider.
OIDC_AUTH0_DOMAIN = env_str("OIDC_AUTH0_DOMAIN")
OIDC_SANDBOX = env_bool("OIDC_SANDBOX", default=False)
if OIDC_AUTH0_DOMAIN and ("://" in OIDC_AUTH0_DOMAIN or "/" in OIDC_AUTH0_DOMAIN):
    raise ImproperlyConfigured(
        "OIDC_AUTH0_DOMAIN must be a bare host name like acme.eu.auth0.com, "
        f"got {OIDC_AUTH0_DOMAIN!r}"
    )
if OIDC_AUTH0_DOMAIN:
    _oidc_issuer, _oidc_name = f"https://{OIDC_AUTH0_DOMAIN}/", "Auth0"
elif OIDC_SANDBOX:
    _oidc_issuer, _oidc_name = f"{_sandbox_url}/", "Auth0 (sandbox)"
else:
    _oidc_issuer, _oidc_name = "", ""
OIDC_ISSUER = env_url("OIDC_ISSUER", _oidc_issuer, schemes=("http", "https"))
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME") or _oidc_name or urlsplit(OIDC_ISSUER).netloc
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "sandbox-staff-sign-in" if OIDC_SANDBOX else "")
OIDC_RP_CLIENT_SECRET = env_str(
    "OIDC_CLIENT_SECRET", "sandbox-staff-sign-in-secret" if OIDC_SANDBOX else ""
)
if OIDC_ISSUER and not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
    raise ImproperlyConfigured("OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set with an issuer")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
if OIDC_ISSUER and "openid" not in OIDC_RP_SCOPES.split():
    raise ImproperlyConfigured(f"OIDC_SCOPES must include openid, got {OIDC_RP_SCOPES!r}")
OIDC_ROLE_CLAIM = env_str("OIDC_ROLE_CLAIM", "groups")
OIDC_ROLE_MAP = env_role_map("OIDC_ROLE_MAP") or (
    {
        "userdesk-support": "Support",
        "userdesk-leads": "Support lead",
        "userdesk-exports": "Export admin",
    }
    if OIDC_SANDBOX
    else {}
)
# How often a signed-in OIDC session is re-checked with the provider (prompt=none). Not below
# 10 s: the page the re-check returns to must not be due for another one.
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RECHECK_SECONDS", 900, minimum=10)
OIDC_DISCOVERY_CACHE_SECONDS = env_int("OIDC_DISCOVERY_CACHE_SECONDS", 3600, minimum=1)
OIDC_TIMEOUT_SECONDS = env_float("OIDC_TIMEOUT_SECONDS", 10.0, minimum=0.1)
OIDC_TIMEOUT = OIDC_TIMEOUT_SECONDS
OIDC_CLOCK_LEEWAY_SECONDS = env_int("OIDC_CLOCK_LEEWAY_SECONDS", 60, minimum=0)
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_CREATE_USER = True
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15, minimum=0) / 60
# Per account, whatever the address: a spread attack on one account is locked like a direct
# one. Not per address: staff behind one office NAT would lock each other out. (axes.W006 warns
# that without the address, rotating user agents or cookies escapes the lock; here nothing but
# the account name is counted, so there is nothing to rotate.)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_WHITELIST_CALLABLE = "staff.signals.axes_skips"
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# axes' log of every sign-in would keep each address and browser for good: the audit log has them.
AXES_DISABLE_ACCESS_LOG = True

# --- Security headers ----------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # No image from another host: the user page draws an initials avatar, so a staff
        # browser tells Gravatar or Auth0's CDN nothing (who looked, when, from where).
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
# Signed out after this long without a request (staff.sessions), within SESSION_COOKIE_AGE.
SESSION_IDLE_MINUTES = env_int("SESSION_IDLE_MINUTES", 30, minimum=1)
# No script reads the CSRF cookie: htmx sends the token from the page (base.html's hx-headers).
CSRF_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is hard to undo (browsers ship the list), so it is a decision, not a default.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")
    # Load balancers probe over plain http behind the TLS proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    # The bundled sandbox is a demo with known credentials, never a production upstream.
    if ((not AUTH0_DOMAIN_SET and not AUTH0_TENANTS) or OIDC_SANDBOX) and not env_bool(
        "ALLOW_SANDBOX_IN_PRODUCTION", default=False
    ):
        raise ImproperlyConfigured(
            "DEBUG is off but the app would use the bundled sandbox (AUTH0_DOMAIN and "
            "AUTH0_TENANTS unset, or OIDC_SANDBOX on) as its tenant; set AUTH0_DOMAIN or "
            "AUTH0_TENANTS, or ALLOW_SANDBOX_IN_PRODUCTION=true to mean it"
        )

# --- Internationalisation, static -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # httpx logs every request URL at INFO; URLs can carry signed download links.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
