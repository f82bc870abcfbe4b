"""User page cost against its upstream calls: the page against the slowest single call and
against their sum, in one run, with the sandbox's latency switch on.

Usage::

    uv run python bench/user_page.py                      # latency 50 ms a call, 40 rounds
    uv run python bench/user_page.py --latency-ms 100 --rounds 20

It seeds a sandbox tenant in a temporary directory, starts `manage.py runsandbox` (rate limits
off) and sets the `latency_ms` fault, so every Management API call costs at least that. The page
is `GET /users/<id>/` through the dashboard's WSGI application (whole Django stack, as a server
calls it). The baseline is each of the page's four upstream calls (profile, brute-force blocks,
MFA methods, first page of logs) sent straight to the sandbox with httpx, one after the other.
Rounds alternate page and baseline, so drift hits both. Goal: page <= 1.3x the slowest call
(the calls run concurrently), well under their sum (what a sequential page would cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search import (  # noqa: E402
    client_credentials_token,
    configure_dashboard,
    sandbox_running,
)

GOAL_RATIO = 1.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()

    with sandbox_running("userdesk-bench-user-page-", args.users, args.seed) as (work, base_url):
        run(args, work, base_url)


def run(args: argparse.Namespace, work: Path, base_url: str) -> None:
    configure_dashboard(work, base_url)
    from django.core.management import call_command

    # DEBUG is off: the whole page needs the static manifest (under this run's var dir).
    call_command("collectstatic", interactive=False, verbosity=0)
    import httpx
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client, RequestFactory

    from staff.permissions import SUPPORT_LEAD_GROUP

    admin = httpx.Client(
        base_url=base_url, auth=(settings.AUTH0_CLIENT_ID, settings.AUTH0_CLIENT_SECRET)
    )
    token = client_credentials_token(base_url)
    direct = httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    user = direct.get(
        "/api/v2/users",
        params={"search_engine": "v3", "q": "identities.provider:auth0", "per_page": 1},
    ).json()[0]
    user_id = str(user["user_id"])
    encoded = quote(user_id, safe="")
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "profile": (f"/api/v2/users/{encoded}", {}),
        "blocks": (f"/api/v2/user-blocks/{encoded}", {"consider_brute_force_enablement": "true"}),
        "mfa methods": (
            f"/api/v2/users/{encoded}/authentication-methods",
            {"page": 0, "per_page": 100, "include_totals": "true"},
        ),
        "logs": (
            f"/api/v2/users/{encoded}/logs",
            {"page": 0, "per_page": 50, "sort": "date:-1", "include_totals": "true"},
        ),
    }
    response = admin.put("/sandbox/faults", json={"latency_ms": args.latency_ms})
    response.raise_for_status()

    lead = User.objects.create_user("bench-lead@example.com", password="unused-password-1")
    lead.groups.add(Group.objects.get(name=SUPPORT_LEAD_GROUP))
    signed_in = Client()
    signed_in.force_login(lead)
    cookie = (
        f"{settings.SESSION_COOKIE_NAME}={signed_in.cookies[settings.SESSION_COOKIE_NAME].value}"
    )
    application = WSGIHandler()
    # The tenant's page (the bare /users/<id>/ of before tenants answers a redirect to it).
    page_path = f"/t/{settings.AUTH0_TENANT_SLUG}/users/{encoded}/"
    factory = RequestFactory()

    def page_once() -> float:
        environ = factory.get(page_path, HTTP_COOKIE=cookie).environ
        status: list[str] = []

        def start_response(line: str, headers: Any, *exc_info: Any) -> Callable[[bytes], object]:
            status.append(line)
            return lambda data: None

        started = time.perf_counter()
        body = application(environ, start_response)
        try:
            content = b"".join(body)
        finally:
            body.close()
        elapsed = time.perf_counter() - started
        if not status[0].startswith("200") or user_id.encode() not in content:
            raise SystemExit(f"the user page failed ({status[0]}):\n{content[:2000]!r}")
        return elapsed

    def call_once(path: str, params: dict[str, Any]) -> float:
        started = time.perf_counter()
        answer = direct.get(path, params=params)
        elapsed = time.perf_counter() - started
        if answer.status_code >= 500:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
        return elapsed

    for _ in range(args.warmup):
        page_once()
        for path, params in calls.values():
            call_once(path, params)
    from users_admin import workbench

    def load_once() -> float:
        started = time.perf_counter()
        workbench.load(user_id)
        return time.perf_counter() - started

    cpu = {"page": 0.0, "load": 0.0}
    page: list[float] = []
    loads: list[float] = []
    single: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(args.rounds):
        started = time.process_time()
        page.append(page_once())
        cpu["page"] += time.process_time() - started
        started = time.process_time()
        loads.append(load_once())
        cpu["load"] += time.process_time() - started
        for name, (path, params) in calls.items():
            single[name].append(call_once(path, params))
    admin.delete("/sandbox/faults")

    ms = 1000.0
    medians = {name: statistics.median(times) * ms for name, times in single.items()}
    slowest_name = max(medians, key=lambda name: medians[name])
    slowest, total = medians[slowest_name], sum(medians.values())
    page_ms = statistics.median(page) * ms
    ratio = page_ms / slowest
    print(
        f"\nuser page of {user_id}, sandbox latency {args.latency_ms} ms a call, "
        f"{args.rounds} rounds (medians)"
    )
    for name, value in medians.items():
        print(f"  {name:12} straight to the sandbox {value:8.1f} ms")
    print(f"  slowest single call ({slowest_name}) {slowest:8.1f} ms")
    print(f"  sum of the four calls           {total:8.1f} ms")
    print(f"  the four calls, concurrently    {statistics.median(loads) * ms:8.1f} ms")
    print(f"  user page (whole Django stack)  {page_ms:8.1f} ms")
    verdict = "ok" if ratio <= GOAL_RATIO else "OVER"
    print(
        f"  page / slowest = {ratio:.2f}x (goal <= {GOAL_RATIO}x: {verdict}); "
        f"page / sum = {page_ms / total:.2f}x"
    )
    print(
        f"  CPU in this process: page {cpu['page'] / args.rounds * ms:.1f} ms, the four calls "
        f"alone {cpu['load'] / args.rounds * ms:.1f} ms; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs (wall times inflate under load)"
    )


if __name__ == "__main__":
    main()
