"""Search page overhead: the dashboard's search partial against the same request sent straight
to the sandbox tenant with httpx, in one run.

Usage::

    uv run python bench/search.py                 # 20,000 seeded users, 300 requests of each
    uv run python bench/search.py --users 5000 --requests 100

It seeds a sandbox tenant in a temporary directory, starts `manage.py runsandbox` on a free port
(rate limits off, so nothing waits), and signs a support agent in to the dashboard in this process.
The dashboard side goes through Django's whole stack (middleware, sign-in, permission check, form,
Lucene compiler, Management API client, audit row, template) by calling the WSGI application the
way a WSGI server does, with the session cookie and `HX-Request: true`, and closing the response
(which fires `request_finished`, so database connections are handled as in production; the test
Client skips that step); only the browser-to-dashboard socket and HTTP parsing are left out,
which any web app pays alike. The baseline sends the same query, page and page size (50), with
the same `fields`, straight to the sandbox with a pooled httpx client and a cached token. The two
kinds of request alternate, so drift on a shared machine hits both. The timed loop runs with the
search cache off (every page view goes upstream); the cache is then switched on to count upstream
requests per page view: 1 for a new search, 0 for the same search repeated within
SEARCH_CACHE_SECONDS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_P50_MS = 10.0
GOAL_P95_MS = 25.0
PER_PAGE = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def start_sandbox(work: Path, users: int, seed: int) -> tuple[subprocess.Popen[bytes], str]:
    env = dict(os.environ)
    env.update(
        {
            "USERDESK_VAR_DIR": str(work / "sandbox-var"),
            "SANDBOX_DATABASE_PATH": str(work / "sandbox.sqlite3"),
            "SANDBOX_EXPORT_DIR": str(work / "sandbox-exports"),
            "SANDBOX_RATE_LIMIT_PLAN": "off",
            "UV_COMPILE_BYTECODE": "1",
        }
    )
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    started = time.perf_counter()
    subprocess.run(
        [*manage, "sandbox_seed", "--users", str(users), "--seed", str(seed)],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    print(f"seeded {users:,} sandbox users in {time.perf_counter() - started:.1f}s")
    port = int(os.environ.get("SANDBOX_PORT") or 0) or free_port()  # a port of your range
    log = open(work / "runsandbox.log", "wb")  # noqa: SIM115 (kept for the process's life)
    process = subprocess.Popen(
        [*manage, "runsandbox", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit((work / "runsandbox.log").read_text())
        try:
            httpx.get(f"{base_url}/oauth/token", timeout=1)
            return process, base_url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.terminate()
                raise SystemExit("the sandbox did not start in 60 s") from None
            time.sleep(0.05)


def configure_dashboard(work: Path, base_url: str) -> None:
    """Production-like settings for this process: DEBUG off, file cache, SQLite in `work`."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "USERDESK_VAR_DIR": str(work / "dashboard-var"),
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
            "AUTH0_BASE_URL": base_url,
            # Production settings on purpose, against the bench's own sandbox.
            "ALLOW_SANDBOX_IN_PRODUCTION": "true",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()

    with sandbox_running("userdesk-bench-search-", args.users, args.seed) as (work, base_url):
        run(args, work, base_url)


@contextlib.contextmanager
def sandbox_running(prefix: str, users: int, seed: int) -> Iterator[tuple[Path, str]]:
    """A seeded sandbox server in a temporary folder: (that folder, its base URL)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        sandbox, base_url = start_sandbox(work, users, seed)
        try:
            yield work, base_url
        finally:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=15)
            except subprocess.TimeoutExpired:
                sandbox.kill()
                sandbox.wait()


def client_credentials_token(base_url: str) -> str:
    """A Management API token from the sandbox at `base_url`, for the dashboard's client."""
    import httpx
    from django.conf import settings

    response = httpx.post(
        f"{base_url}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": settings.AUTH0_CLIENT_ID,
            "client_secret": settings.AUTH0_CLIENT_SECRET,
            "audience": settings.AUTH0_AUDIENCE,
        },
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


class SearchProbe:
    """One search page view through the WSGI application, and the same request straight to the
    sandbox with httpx (the baseline), in this process (Django set up). `bench/bulk.py --runs`
    uses it too."""

    connection = "Username-Password-Authentication"

    def __init__(self, base_url: str) -> None:
        import httpx
        from django.conf import settings
        from django.contrib.auth.models import Group, User
        from django.core.handlers.wsgi import WSGIHandler
        from django.test import Client, RequestFactory

        import management_api
        from staff.permissions import SUPPORT_GROUP
        from users_admin.forms import DEFAULT_COLUMNS
        from users_admin.search import requested_fields

        agent = User.objects.get_or_create(username="bench-agent@example.com")[0]
        agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
        signed_in = Client()
        signed_in.force_login(agent)
        self.cookie = (
            f"{settings.SESSION_COOKIE_NAME}="
            f"{signed_in.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
        self.application = WSGIHandler()
        self.factory = RequestFactory()
        # Pages are per tenant (config/tenant_urls.py): /users/ only redirects there.
        self.search_path = f"/t/{management_api.tenants.current_tenant_slug()}/users/"
        self.page_params = {
            "mode": "builder",
            "c-TOTAL_FORMS": "1",
            "c-INITIAL_FORMS": "0",
            "c-0-field": "identities.connection",
            "c-0-op": "is",
            "c-0-value": self.connection,
            "join": "AND",
            "per_page": str(PER_PAGE),
            "columns": DEFAULT_COLUMNS,
        }
        self.query = f'identities.connection:"{self.connection}"'
        self.direct_params: dict[str, Any] = {
            "search_engine": "v3",
            "page": 0,
            "per_page": PER_PAGE,
            "include_totals": "true",
            "fields": ",".join(requested_fields(DEFAULT_COLUMNS)),
            "include_fields": "true",
            "q": self.query,
        }
        token = client_credentials_token(base_url)
        self.base_url = base_url
        self.direct = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)
        self.cpu = {"dashboard": 0.0, "direct": 0.0}
        # Answers of 429 to the baseline's requests (the dashboard's are counted by bulk.py).
        self.direct_429 = 0

    def page_view(self) -> tuple[str, bytes]:
        """One GET of the search partial through the WSGI application, as a server sends it."""
        environ = self.factory.get(
            self.search_path, self.page_params, HTTP_HX_REQUEST="true", HTTP_COOKIE=self.cookie
        ).environ
        status: list[str] = []

        def start_response(line: str, headers: Any, *exc_info: Any) -> Callable[[bytes], object]:
            status.append(line)
            return lambda data: None

        response = self.application(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()  # fires request_finished, as a WSGI server does
        return status[0], body

    def dashboard_once(self) -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        status, raw = self.page_view()
        elapsed = time.perf_counter() - started
        self.cpu["dashboard"] += time.process_time() - cpu_started
        body = raw.decode()
        if not status.startswith("200") or body.count("<tr>") != PER_PAGE + 1:
            raise SystemExit(
                f"the dashboard did not render {PER_PAGE} rows ({status}):\n{body[:2000]}"
            )
        return elapsed

    def direct_once(self) -> float:
        started, cpu_started = time.perf_counter(), time.process_time()
        while True:
            response = self.direct.get(f"{self.base_url}/api/v2/users", params=self.direct_params)
            if response.status_code != 429:
                break
            self.direct_429 += 1  # counted, and sent again as the dashboard's client would
        body = response.json()
        elapsed = time.perf_counter() - started
        self.cpu["direct"] += time.process_time() - cpu_started
        if response.status_code != 200 or len(body["users"]) != PER_PAGE:
            raise SystemExit(f"the sandbox did not return {PER_PAGE} users: {response.text[:500]}")
        return elapsed


def run(args: argparse.Namespace, work: Path, base_url: str) -> None:
    configure_dashboard(work, base_url)
    from django.db import connection as database
    from django.test import override_settings

    import management_api

    probe = SearchProbe(base_url)
    page_view, dashboard_once, direct_once = (
        probe.page_view,
        probe.dashboard_once,
        probe.direct_once,
    )
    page_params, query, cpu = probe.page_params, probe.query, probe.cpu

    # Timed loop: the search cache off, so every page view goes upstream like the baseline.
    dash: list[float] = []
    base: list[float] = []
    with override_settings(SEARCH_CACHE_SECONDS=0):
        for _ in range(args.warmup):
            dashboard_once()
            direct_once()
        cpu.update(dashboard=0.0, direct=0.0)
        for _ in range(args.requests):
            dash.append(dashboard_once())
            base.append(direct_once())

    # Upstream requests per page view, with the cache as configured (SEARCH_CACHE_SECONDS).
    page_params["c-0-value"] = "github"
    before = management_api.stats.total
    queries: list[str] = []

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    # (CaptureQueriesContext would lose them: request_started empties its log.)
    with database.execute_wrapper(counted):
        assert page_view()[0].startswith("200")
    uncached = management_api.stats.total - before
    before = management_api.stats.total
    assert page_view()[0].startswith("200")
    cached = management_api.stats.total - before

    ms = 1000.0
    d50, d95 = percentile(dash, 0.5) * ms, percentile(dash, 0.95) * ms
    b50, b95 = percentile(base, 0.5) * ms, percentile(base, 0.95) * ms
    diffs = [(d - b) * ms for d, b in zip(dash, base, strict=True)]
    print(f"\nsearch page, {PER_PAGE} rows, {args.requests} requests each, query {query}")
    print(f"{'':32} {'p50':>9} {'p95':>9} {'mean':>9}")
    print(
        f"{'sandbox straight (httpx)':32} {b50:8.2f}ms {b95:8.2f}ms "
        f"{statistics.fmean(base) * ms:8.2f}ms"
    )
    print(
        f"{'dashboard partial (HX-Request)':32} {d50:8.2f}ms {d95:8.2f}ms "
        f"{statistics.fmean(dash) * ms:8.2f}ms"
    )
    add50, add95 = d50 - b50, d95 - b95
    verdict50 = "ok" if add50 <= GOAL_P50_MS else "OVER"
    verdict95 = "ok" if add95 <= GOAL_P95_MS else "OVER"
    print(f"{'overhead':32} {add50:+8.2f}ms {add95:+8.2f}ms")
    print(
        f"  goal: +p50 <= {GOAL_P50_MS:.0f} ms ({verdict50}), "
        f"+p95 <= {GOAL_P95_MS:.0f} ms ({verdict95})"
    )
    print(
        f"  paired per-request overhead: p50 {percentile(diffs, 0.5):+.2f}ms, "
        f"p95 {percentile(diffs, 0.95):+.2f}ms"
    )
    cpu_dash, cpu_direct = (cpu[k] / args.requests * ms for k in ("dashboard", "direct"))
    print(
        f"  CPU in this process per request: dashboard {cpu_dash:.2f}ms, httpx alone "
        f"{cpu_direct:.2f}ms (+{cpu_dash - cpu_direct:.2f}ms); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times inflate under load)"
    )
    print(
        f"upstream requests per page view: uncached {uncached} (goal 1), "
        f"repeated within the cache TTL {cached} (goal 0)"
    )
    tables = [
        f"{sql.split()[0]} {match.group(1)}"
        for sql in queries
        if (match := re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)', sql))
    ]
    print(f"SQL queries per page view: {len(queries)} ({', '.join(tables)})")


if __name__ == "__main__":
    main()
