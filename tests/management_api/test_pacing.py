"""Shared rate budgets (management_api/pacing.py): bulk calls keep to (1 - reserve) x a bucket's
rate in one process and across processes, on Redis and on the database; they follow the live
X-RateLimit-* headers and 429s of every call; interactive calls never wait."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from bench.bulk import most_in_a_window
from management_api import default_tenant, get_user, pacing, tenant_scope
from tests.fixtures.celery import database_url_for_subprocess
from tests.fixtures.processes import ROOT, embedded_env, manage
from tests.fixtures.sandbox import SandboxServer

# Enterprise: burst 50, 16/s; bulk calls get 70% of it: burst 35, 11.2/s.
PLAN = "enterprise"
BULK_BURST = 35
BULK_PER_SECOND = 11.2


@pytest.fixture(params=["redis", pytest.param("database", marks=pytest.mark.django_db)])
def backend(request: pytest.FixtureRequest, settings: Any) -> str:
    settings.AUTH0_RATE_LIMIT_PLAN = PLAN
    settings.BULK_INTERACTIVE_RESERVE = 0.3
    redis = request.param == "redis"
    settings.REDIS_URL = request.getfixturevalue("redis_broker_url") if redis else ""
    return str(request.param)


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def _assert_within_budget(stamps: list[float], seconds: float) -> None:
    """No window holds more than the burst plus the window's share of the rate (one or two
    calls of slack for clocks read after a wait ends); and the budget was not starved."""
    for window in (0.25, 0.5, 1.0, 2.0):
        allowed = BULK_BURST + window * BULK_PER_SECOND + 2
        assert most_in_a_window(sorted(stamps), window) <= allowed, (window, len(stamps))
    assert len(stamps) <= BULK_BURST + seconds * BULK_PER_SECOND + 2
    assert len(stamps) >= 0.5 * (BULK_BURST + seconds * BULK_PER_SECOND)


# --- plans and buckets ------------------------------------------------------------------------


def test_plan_table_is_what_settings_accept(settings: Any) -> None:
    assert tuple(pacing.PLAN_RATES) == settings.AUTH0_RATE_LIMIT_PLANS


@pytest.mark.parametrize(
    ("method", "path", "plan", "bucket"),
    [
        ("GET", "/users", "essentials", "users_read"),
        ("GET", "/api/v2/users/auth0%7Cabc", "professional", "users_read"),
        ("GET", "/users-by-email", "essentials", "users_read"),
        ("PATCH", "/users/auth0%7Cabc", "essentials", "users_write"),
        ("DELETE", "/api/v2/users/auth0%7Cabc", "essentials", "users_write"),
        ("POST", "/users", "essentials", "users_write"),
        ("GET", "/connections", "essentials", "connections"),
        ("DELETE", "/users/auth0%7Cabc/authentication-methods", "essentials", "other"),
        ("POST", "/jobs/verification-email", "essentials", "other"),
        ("DELETE", "/user-blocks/auth0%7Cabc", "professional", "other"),
        ("PATCH", "/users/auth0%7Cabc", "enterprise", "global"),
        ("GET", "/connections", "enterprise_nonprod", "global"),
        ("GET", "/users", "free", "global"),
    ],
)
def test_bucket_for_each_endpoint_and_plan(method: str, path: str, plan: str, bucket: str) -> None:
    assert pacing.bucket_for(method, path, plan) == bucket


def test_rate_plan_of_an_enterprise_tenant_not_in_production() -> None:
    assert pacing.rate_plan("enterprise", "production") == "enterprise"
    assert pacing.rate_plan("enterprise", "staging") == "enterprise_nonprod"
    assert pacing.rate_plan("essentials", "development") == "essentials"
    with pytest.raises(ValueError, match="essentials"):
        pacing.rate_plan("gold")


def _tenant_entry(slug: str, plan: str, environment: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "name": slug,
        "environment": environment,
        "colour": "#445566",
        "domain": f"{slug}.eu.auth0.com",
        "base_url": f"https://{slug}.eu.auth0.com",
        "client_id": "id",
        "client_secret": "secret",
        "audience": f"https://{slug}.eu.auth0.com/api/v2/",
        "log_retention_days": 30,
        "plan": plan,
    }


def test_each_tenant_is_paced_by_its_plan_and_environment(settings: Any) -> None:
    settings.AUTH0_RATE_LIMIT_PLAN = "free"  # the single tenant's; ignored with AUTH0_TENANTS
    settings.AUTH0_TENANTS = [
        _tenant_entry("prod", "enterprise", "production"),
        _tenant_entry("stage", "enterprise", "staging"),
        _tenant_entry("shop", "essentials", "production"),
    ]
    assert pacing.tenant_plan("prod") == "enterprise"
    assert pacing.tenant_plan("stage") == "enterprise_nonprod"
    assert pacing.tenant_plan("shop") == "essentials"
    with tenant_scope("stage"):
        assert pacing.current_tenant_slug() == "stage"


def test_the_single_tenant_follows_auth0_rate_limit_plan(settings: Any) -> None:
    settings.AUTH0_RATE_LIMIT_PLAN = "professional"
    assert pacing.tenant_plan(pacing.current_tenant_slug()) == "professional"
    settings.AUTH0_RATE_LIMIT_PLAN = ""
    tenant = default_tenant()
    assert tenant is not None
    assert pacing.tenant_plan(tenant.slug) == pacing.rate_plan(tenant.plan, tenant.environment)


def test_bulk_share_leaves_the_reserve(settings: Any) -> None:
    settings.BULK_INTERACTIVE_RESERVE = 0.3
    write = pacing.bulk_rate(pacing.rate_for("essentials", "users_write"))
    assert (write.burst, write.per_minute) == (14, pytest.approx(140))
    # A free tenant's burst of 2 still lets one bulk call through.
    assert pacing.bulk_rate(pacing.rate_for("free", "global")).burst == 1
    assert pacing.reserve_tokens(20) == 6


# --- one process ------------------------------------------------------------------------------


def test_acquire_keeps_to_the_bulk_share(backend: str) -> None:
    tenant, seconds = _tenant(), 1.5
    stamps: list[float] = []
    ends = time.time() + seconds
    while (now := time.time()) < ends:
        stamps.append(now)
        pacing.acquire(tenant, "global", timeout=5)
    _assert_within_budget(stamps, seconds)


def _take_all(tenant: str) -> int:
    """Slots taken without waiting until the budget has none."""
    for taken in range(1000):
        try:
            pacing.acquire(tenant, "global", timeout=0)
        except pacing.PacingTimeout:
            return taken
    raise AssertionError("the budget never ran out")


def test_budgets_are_per_tenant_and_bucket(backend: str) -> None:
    first, second = _tenant(), _tenant()
    started, taken = time.monotonic(), _take_all(first)
    assert BULK_BURST <= taken <= BULK_BURST + (time.monotonic() - started) * BULK_PER_SECOND + 1
    # Another tenant's budget is untouched.
    pacing.acquire(second, "global", timeout=0)
    # A reset budget has its burst again.
    pacing.reset(first, "global")
    assert _take_all(first) >= BULK_BURST


# --- headers and 429s -------------------------------------------------------------------------


def test_fewer_tokens_left_than_the_reserve_pause_bulk_calls(backend: str) -> None:
    tenant = _tenant()
    # 15 of 50 tokens are the reserve (less one of slack); 3 left: bulk waits for 11 tokens
    # at 16/s (0.69 s).
    pacing.observe(tenant, "global", {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "3"})
    paused = pacing.store().paused_for((tenant, "global"))
    assert 0.4 < paused <= 0.69
    with pytest.raises(pacing.PacingTimeout) as refused:
        pacing.acquire(tenant, "global", timeout=0.1)
    assert refused.value.retry_after_seconds >= 0.4
    pacing.acquire(tenant, "global", timeout=2)
    assert pacing.store().paused_for((tenant, "global")) == 0


def test_plenty_of_tokens_left_pause_nothing(backend: str) -> None:
    tenant = _tenant()
    pacing.observe(tenant, "global", {"X-RateLimit-Limit": "50", "X-RateLimit-Remaining": "14"})
    pacing.observe(tenant, "global", {})
    assert pacing.store().paused_for((tenant, "global")) == 0
    pacing.acquire(tenant, "global", timeout=0)


def test_a_429_pauses_bulk_calls_until_the_reset(backend: str) -> None:
    tenant = _tenant()
    headers = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + 3),
        "Retry-After": "1",
    }
    pacing.observe(tenant, "global", headers, status=429)
    assert 1.5 < pacing.store().paused_for((tenant, "global")) <= 3
    # A shorter pause seen later does not shorten it.
    pacing.observe(tenant, "global", {"Retry-After": "1"}, status=429)
    assert pacing.store().paused_for((tenant, "global")) > 1.5


# --- against the sandbox as a real HTTP server ------------------------------------------------


@pytest.fixture
def sandbox_budget(use_sandbox: SandboxServer, settings: Any, redis_broker_url: str) -> Any:
    settings.REDIS_URL = redis_broker_url
    settings.BULK_INTERACTIVE_RESERVE = 0.3
    return use_sandbox


def test_interactive_calls_report_their_headers(
    sandbox_budget: SandboxServer, settings: Any
) -> None:
    sandbox_budget.set_faults(rate_limit_plan="enterprise_nonprod")
    settings.AUTH0_RATE_LIMIT_PLAN = "enterprise_nonprod"
    tenant = pacing.current_tenant_slug()
    # Quick lookups take a non-production tenant's bucket (burst 10, 2/s) below its reserve
    # of 3 (less one of slack): bulk calls pause, though no lookup was refused.
    paused = 0.0
    for _ in range(12):
        assert get_user("auth0|nobody") is None
        paused = pacing.store().paused_for((tenant, "global"))
        if paused:
            break
    assert 0 < paused <= 1.0


def test_interactive_calls_never_wait_for_the_budget(
    sandbox_budget: SandboxServer, settings: Any
) -> None:
    sandbox_budget.set_faults(rate_limit_plan="off")
    settings.AUTH0_RATE_LIMIT_PLAN = "essentials"
    tenant = pacing.current_tenant_slug()
    pacing.store().pause((tenant, "users_read"), 30)
    started = time.monotonic()
    assert get_user("auth0|nobody") is None
    assert time.monotonic() - started < 5


def test_a_bulk_call_answered_429_is_sent_again_never_failing(
    sandbox_budget: SandboxServer, settings: Any
) -> None:
    # The budget believes in 16/s; the tenant allows 2/s: bulk calls meet 429s.
    sandbox_budget.set_faults(rate_limit_plan="free")
    settings.AUTH0_RATE_LIMIT_PLAN = "enterprise"
    tenant = pacing.current_tenant_slug()
    items = 8
    answers = [
        pacing.call(tenant, "global", lambda: get_user("auth0|nobody"), timeout=30)
        for _ in range(items)
    ]
    assert answers == [None] * items
    seen = sandbox_budget.requests_seen()["users_read"]
    assert seen > items  # some were refused, and sent again
    # Each 429 paused the budget until the bucket was full again (burst 2 at 2/s, about 1 s),
    # so refusals stay few instead of a retry storm.
    assert seen <= 3 * items


# --- several processes ------------------------------------------------------------------------

_WORKER = """
import sys, time
import django
django.setup()
from management_api import pacing
tenant = sys.argv[1]
print("ready", flush=True)
start, ends = (float(word) for word in sys.stdin.readline().split())
while time.time() < start:
    time.sleep(0.005)
stamps = []
while True:
    try:
        pacing.acquire(tenant, "global", timeout=max(0.0, ends - time.time()))
    except pacing.PacingTimeout:
        break
    now = time.time()
    if now >= ends:
        break
    stamps.append(now)
print(" ".join(repr(stamp) for stamp in stamps))
"""


def _run_workers(env: dict[str, str], processes: int, seconds: float) -> list[float]:
    """Start the children, wait until each has set Django up (it says "ready"), then give them
    all one window starting together, however long a busy machine took to start them."""
    env = {**env, "AUTH0_RATE_LIMIT_PLAN": PLAN, "BULK_INTERACTIVE_RESERVE": "0.3"}
    tenant = _tenant()  # one budget for every child
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, tenant],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", child.communicate(timeout=60)[1]
    start = time.time() + 0.2
    window = f"{start!r} {start + seconds!r}\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(window)
        child.stdin.flush()
    stamps: list[float] = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        mine = [float(word) for word in out.split()]
        assert mine, "every process got slots"
        stamps += mine
    return stamps


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    return embedded_env(tmp_path)


def test_processes_share_one_budget_on_redis(
    child_env: dict[str, str], redis_broker_url: str
) -> None:
    seconds = 3.0
    stamps = _run_workers({**child_env, "REDIS_URL": redis_broker_url}, 3, seconds)
    _assert_within_budget(stamps, seconds)


def test_processes_share_one_budget_in_a_sqlite_database(child_env: dict[str, str]) -> None:
    done = manage(child_env, "migrate", "-v", "0")
    assert done.returncode == 0, done.stderr
    seconds = 3.0
    _assert_within_budget(_run_workers(child_env, 3, seconds), seconds)


@pytest.mark.django_db(transaction=True)
def test_processes_share_one_budget_in_postgresql(child_env: dict[str, str]) -> None:
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs DATABASE_URL=postgres://... (the test database is SQLite)")
    seconds = 3.0
    env = {**child_env, "DATABASE_URL": database_url_for_subprocess()}
    _assert_within_budget(_run_workers(env, 3, seconds), seconds)
