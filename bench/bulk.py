"""Bulk pacing: a paced loop of user-block calls against the sandbox on each emulated plan, with
1, 2 and 4 worker processes sharing one budget, beside the budget's target in the same run.

Usage::

    uv run python bench/bulk.py                          # every plan, 1/2/4 processes, 20 s each
    uv run python bench/bulk.py --plans essentials enterprise --processes 1 4 --seconds 10
    REDIS_URL=redis://127.0.0.1:6379/5 uv run python bench/bulk.py   # the Redis budget

It seeds a sandbox tenant (`bench/search.py`'s helper) and, for each plan and process count,
sets the sandbox's `rate_limit_plan` (buckets full), starts the worker processes (the product's
settings, `AUTH0_RATE_LIMIT_PLAN` = the plan, the budget in Redis when REDIS_URL is set, else in
a SQLite database of the bench's own) and lets them start together. Each worker blocks users
(`PATCH /users/{id}` `{"blocked": true}`) through `pacing.call` for `--seconds`, as a bulk run
does. Meanwhile this process plays a colleague at the console: the same kind of call, straight
to the sandbox at half the reserve's rate, never through the budget.

Printed per run: the sustained bulk rate (calls after the budget's burst, per second) beside the
budget's target, (1 - BULK_INTERACTIVE_RESERVE) x the bucket's rate; items failed (by 429 or
anything else); the 429s the workers met (each sent again after the pause); the most calls in
any 1 s and 10 s window of all processes together beside what the plan's bucket allows there
(burst + window x rate); and the colleague's calls and 429s.

`--runs` measures real bulk runs instead (needs REDIS_URL for the broker and the budget, and
DATABASE_URL, PostgreSQL, for the workers to share)::

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/5 \
        uv run python bench/bulk.py --runs --seconds 30

For each plan and 1, 2 and 4 worker processes (one Celery worker, prefork, that concurrency) it
queues as many block runs as processes, each on its own users (sized so the runs last about
`--seconds` at the budget's rate), and lets the worker send them: each user a GET and a PATCH
through `users_admin.bulk_execute`, paced by the tenant's one budget. Printed: the users sent,
the sustained rate of all runs together (users a second after the budget's burst) beside
(1 - reserve) x the plan's rate in users (`bulk.users_per_second`), users failed or unknown (a
429 never fails one), and the most calls of the plan's limiting bucket in any 1 s and 10 s
window beside what the plan allows there. Then the search page while a run goes
(`--rounds`, `--search` pairs a round; `--no-throughput` runs this part alone): bench/search.py's
page view and its baseline, one pair every 0.5 s, in this process, against the run's own
sandbox with Enterprise's limits on, in rounds without (A, the run paused) and with (B, the run
resumed) a block run, A B then B A, so a machine shared with others weighs on both alike.
Printed per round: p50/p95 of both sides and the overhead, the page view's SQL time and CPU,
the users the run sent, the interactive 429s, the load, the worker's and the sandbox's CPU per
user; then the medians of the rounds and their ratio (goal <= 1.2x, no 429).

`--preview` measures a large list's way to its preview instead (DATABASE_URL, PostgreSQL, as
in production; else SQLite)::

    DATABASE_URL=postgres://... uv run python bench/bulk.py --preview [--users 1000000]
        [--lines N] [--list FILE] [--port P] [--key plan]

It seeds a sandbox tenant of `--users` users once (kept in var/bench/bulk-<users>/, as
bench/export.py keeps its own) and, for each list, in child processes as a worker runs them:
the run's snapshot, one exact export of the tenant through exports.pipeline (the baseline),
then the worker's selection (bulk_select.advance) and the preview of a metadata action
setting app_metadata.<--key> (bulk.compute_preview; the default key is new to every user, so
the preview proves each change without decoding the user; `--key plan`, which most seeded users
have, makes it decode theirs). Printed: the list's counts (which must add up to its entries),
the export's time, the selection's and the preview's beside it (goal: together <= 1x the
export), the worker's peak memory (VmHWM), the list reader's it starts (run alone on the same
list), the two together (VmRSS sampled every 50 ms) beside the 150 MB budget, and the load
average. The lists:
the bench's own text list (emails, every tenth a user id, 0.1% unknown, 0.1% repeated) and a
CSV the sqlite3 tool writes from the sandbox's database (titled columns, a name column with
its own quoting, random order), or `--list FILE`, a file of yours.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export import _PEAK  # noqa: E402
from bench.search import client_credentials_token, sandbox_running  # noqa: E402

PLANS = ("essentials", "enterprise", "enterprise_nonprod", "free")
GOAL_SHARE = 0.9
RESERVE = 0.3
USERS = 500

_WORKER = """
import json, sys, time
import django
django.setup()
from management_api import pacing
from management_api.support import update_user
ids = json.loads(sys.argv[1])
tenant = pacing.current_tenant_slug()
plan = pacing.tenant_plan(tenant)
bucket = pacing.bucket_for("PATCH", "/users/x", plan)
from management_api.http import access_token, deadline_now
access_token(deadline_now())  # the token first, as a running worker has it
print("ready", flush=True)
start, ends = (float(word) for word in sys.stdin.readline().split())
while time.time() < start:
    time.sleep(0.001)
stamps, done, failed, errors, index = [], 0, 0, [], 0
while True:
    user_id = ids[index % len(ids)]
    index += 1
    try:
        pacing.call(tenant, bucket, lambda: update_user(user_id, {"blocked": True}),
                    timeout=max(0.0, ends - time.time()))
    except pacing.PacingTimeout:
        break
    except Exception as exc:
        failed += 1
        errors.append(str(exc))
        continue
    done += 1
    sent = time.time()
    if sent >= ends:
        break
    stamps.append(sent)
print(json.dumps({"stamps": stamps, "done": done, "failed": failed, "errors": errors[:3]}))
"""


def most_in_a_window(stamps: list[float], window: float) -> int:
    """The most of the sorted `stamps` in any `window` seconds."""
    most, first = 0, 0
    for last, stamp in enumerate(stamps):
        while stamp - stamps[first] > window:
            first += 1
        most = max(most, last - first + 1)
    return most


def _admin(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    import httpx
    from django.conf import settings

    response = httpx.request(
        method,
        f"{base_url}{path}",
        auth=(settings.AUTH0_CLIENT_ID, settings.AUTH0_CLIENT_SECRET),
        timeout=30,
        **kwargs,
    )
    response.raise_for_status()
    return response.json()


def _user_ids(base_url: str, token: str) -> list[str]:
    import httpx

    ids: list[str] = []
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        for page in range(USERS // 100):
            response = api.get(
                f"{base_url}/api/v2/users",
                params={"page": page, "per_page": 100, "fields": "user_id"},
            )
            response.raise_for_status()
            ids += [user["user_id"] for user in response.json()]
    return ids


def _worker_env(work: Path, base_url: str, plan: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "USERDESK_VAR_DIR": str(work / "workers-var"),
            "AUTH0_BASE_URL": base_url,
            "AUTH0_RATE_LIMIT_PLAN": plan,
            "BULK_INTERACTIVE_RESERVE": str(RESERVE),
            "AUTH0_DEADLINE_SECONDS": "60",
            "LOG_LEVEL": "ERROR",
            "UV_COMPILE_BYTECODE": "1",
        }
    )
    return env


class Colleague(threading.Thread):
    """Staff at the console: interactive calls on the bulk calls' bucket, never paced."""

    def __init__(self, base_url: str, token: str, user_id: str, per_second: float) -> None:
        super().__init__(daemon=True)
        self.url = f"{base_url}/api/v2/users/{user_id.replace('|', '%7C')}"
        self.token, self.every = token, 1.0 / per_second
        self.calls = self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        import httpx

        with httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=30) as api:
            while not self.stop.wait(self.every):
                response = api.patch(self.url, json={"blocked": True})
                self.calls += 1
                self.refused += response.status_code == 429


def run_once(
    work: Path, base_url: str, token: str, ids: list[str], plan: str, processes: int, seconds: float
) -> dict[str, Any]:
    from management_api import pacing

    _admin(base_url, "DELETE", "/sandbox/faults")
    _admin(base_url, "PUT", "/sandbox/faults", json={"rate_limit_plan": plan})
    bucket = pacing.bucket_for("PATCH", "/users/x", plan)
    pacing.reset(pacing.current_tenant_slug(), bucket)  # each run starts with a full budget
    rate = pacing.rate_for(plan, bucket)
    share = 1.0 - RESERVE
    target_burst, target = max(1, int(share * rate.burst)), share * rate.per_second
    env = _worker_env(work, base_url, plan)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, json.dumps(ids[index::processes])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"a worker did not start: {line}{worker.communicate()[1]}")
    seen_before = _admin(base_url, "GET", "/sandbox/stats")["requests"].get("users_write", 0)
    start = time.time() + 0.5
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(f"{start!r} {start + seconds!r}\n")
        worker.stdin.flush()
    colleague = Colleague(base_url, token, ids[0], 0.5 * RESERVE * rate.per_second)
    time.sleep(max(0.0, start - time.time()))
    colleague.start()
    stamps: list[float] = []
    done, failed, errors = 0, 0, []
    for worker in workers:
        out, err = worker.communicate(timeout=seconds + 120)
        if worker.returncode:
            raise SystemExit(f"a worker failed:\n{err}")
        result = json.loads(out.strip().splitlines()[-1])
        stamps += result["stamps"]
        done += result["done"]
        failed += result["failed"]
        errors += result["errors"]
    colleague.stop.set()
    colleague.join()
    stamps.sort()
    seen = _admin(base_url, "GET", "/sandbox/stats")["requests"].get("users_write", 0)
    # Every call the sandbox saw that neither succeeded nor was the colleague's was a 429.
    met_429 = seen - seen_before - done - colleague.calls - failed
    sustained = max(0, len(stamps) - target_burst) / seconds
    return {
        "plan": plan,
        "processes": processes,
        "calls": len(stamps),
        "sustained": sustained,
        "target": target,
        "failed": failed,
        "errors": errors[:3],
        "met_429": max(0, met_429),
        "most_1s": most_in_a_window(stamps, 1.0),
        "allowed_1s": rate.burst + 1.0 * rate.per_second,
        "most_10s": most_in_a_window(stamps, 10.0),
        "allowed_10s": rate.burst + 10.0 * rate.per_second,
        "colleague_calls": colleague.calls,
        "colleague_429": colleague.refused,
    }


# --- real bulk runs through the Celery worker (--runs) ---------------------------------------


def _run_env(work: Path, base_url: str, plan: str) -> dict[str, str]:
    env = _worker_env(work, base_url, plan)
    env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    env["CELERY_TASK_SOFT_TIME_LIMIT"] = "3300"
    return env


def _start_worker(work: Path, env: dict[str, str], concurrency: int) -> subprocess.Popen[bytes]:
    log_path = work / f"worker-{env['AUTH0_RATE_LIMIT_PLAN']}-{concurrency}.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork"]
    command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat", "--loglevel", "INFO"]
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(log_path.read_text(errors="replace"))
        time.sleep(0.2)
    return worker


def _stop(worker: subprocess.Popen[bytes]) -> None:
    import signal

    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def _queue_block_run(ids: list[str], lead: Any) -> int:
    from users_admin.bulk_rows import BlockWriter
    from users_admin.models import BulkRun, BulkRunStatus

    run = BulkRun.objects.create(
        source=BulkRun.Source.LIST,
        list_name="bench.txt",
        requested_by=lead,
        requested_by_label=lead.get_username(),
        status=BulkRunStatus.QUEUED,
        action="block",
        reason="bench/bulk.py",
        selected_count=len(ids),
        change_count=len(ids),
        preview_version=1,
    )
    with BlockWriter(run) as writer:
        for uid in ids:
            writer.add_user(uid, "", {"user_id": uid, "blocked": False})
    return int(run.pk)


def real_runs(
    work: Path, base_url: str, ids: list[str], plan: str, processes: int, seconds: float
) -> dict[str, Any]:
    """`processes` block runs at once on one worker of that concurrency, on the plan's budget."""
    from django.contrib.auth.models import User
    from django.test import override_settings

    from management_api import pacing
    from users_admin import bulk
    from users_admin.models import BulkItem, BulkRun
    from users_admin.tasks import execute_bulk_run

    _admin(base_url, "DELETE", "/sandbox/faults")
    _admin(base_url, "PUT", "/sandbox/faults", json={"rate_limit_plan": plan})
    tenant = pacing.current_tenant_slug()
    for bucket in pacing.PLAN_RATES[plan]:
        pacing.reset(tenant, bucket)
    action = bulk.ACTIONS["block"]
    with override_settings(AUTH0_RATE_LIMIT_PLAN=plan):
        target = bulk.users_per_second(tenant, action)
        # The bucket that sets the pace, and how many of its calls a user costs.
        costs = [pacing.bucket_for(m, p, plan) for m, p in bulk.calls_per_user(action)]
    limiting = max(set(costs), key=lambda b: costs.count(b) / pacing.rate_for(plan, b).per_minute)
    per_user = costs.count(limiting)
    rate = pacing.rate_for(plan, limiting)
    burst_users = pacing.bulk_rate(rate).burst / per_user
    size = int(burst_users + target * seconds) // processes + 1
    lead = User.objects.get_or_create(username="bench-lead@example.com")[0]
    worker = _start_worker(work, _run_env(work, base_url, plan), processes)
    try:
        runs = [_queue_block_run(ids[n * size : (n + 1) * size], lead) for n in range(processes)]
        del ids[: processes * size]
        for run_id in runs:
            execute_bulk_run.delay(run_id)
        deadline = time.monotonic() + seconds * 4 + 60
        while BulkRun.objects.filter(pk__in=runs).exclude(status="done").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"runs {runs} did not finish; see {work}/worker-*.log")
            time.sleep(0.5)
    finally:
        _stop(worker)
    items = BulkItem.objects.filter(run__in=runs)
    outcomes: dict[str, int] = {}
    for outcome in items.values_list("outcome", flat=True):
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # Only users done made their PATCH (one blocked since by someone else is skipped).
    done = items.filter(outcome="done").values_list("sent_at", flat=True)
    stamps = sorted(t.timestamp() for t in done if t)
    span = max(stamps[-1] - stamps[0], 0.001)
    calls = [stamp for stamp in stamps for _ in range(per_user)]
    return {
        "plan": plan,
        "processes": processes,
        "users": len(stamps),
        "sustained": max(0.0, len(stamps) - burst_users) / span,
        "target": target,
        "failed": outcomes.get("failed", 0) + outcomes.get("unknown", 0),
        "skipped": outcomes.get("skipped", 0),
        "bucket": limiting,
        "most_1s": most_in_a_window(calls, 1.0),
        "allowed_1s": rate.burst + 1.0 * rate.per_second,
        "most_10s": most_in_a_window(calls, 10.0),
        "allowed_10s": rate.burst + 10.0 * rate.per_second,
    }


# The search probe's pace while a run goes: a page view and its baseline every PAIR_SECONDS,
# 4 calls a second, within Enterprise's reserve (30% of 16/s: 4.8/s), as staff at work.
PAIR_SECONDS = 0.5
SEARCH_GOAL_RATIO = 1.2


class CountingTransport:
    """The Management API client's transport in this process, counting answers by status."""

    def __init__(self) -> None:
        import httpx

        self.inner = httpx.HTTPTransport()
        self.statuses: dict[int, int] = {}

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        if request.url.path.startswith("/api/v2/"):
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        return response

    def close(self) -> None:
        self.inner.close()


def _settle(base_url: str, quiet: float = 1.0) -> None:
    """Until the sandbox has seen no request for `quiet` seconds (the paused run let go)."""
    last, since = None, time.monotonic()
    while True:
        seen = sum(_admin(base_url, "GET", "/sandbox/stats")["requests"].values())
        if seen != last:
            last, since = seen, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def _cpu_seconds(session: int, port: str) -> tuple[float, float]:
    """CPU seconds used so far by the worker's processes (its session) and the sandbox's."""
    ticks = os.sysconf("SC_CLK_TCK")
    worker = sandbox = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if int(fields[3]) == session:
            worker += used
        elif b"runsandbox" in cmdline and port.encode() in cmdline:
            sandbox += used
    return worker, sandbox


def _summary(values: list[float]) -> tuple[float, float]:
    from bench.search import percentile

    return percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000


def search_while_running(
    work: Path, base_url: str, ids: list[str], rounds: int, pairs: int
) -> None:
    """bench/search.py's overhead without and with a block run going, in alternating rounds
    (A B, B A, A B, ...) in this process, against the run's own sandbox with Enterprise's limits:
    the run is paused for the A rounds and resumed for the B rounds. Prints each round's
    figures, the load, the users the run sent and the interactive 429s, then the medians."""
    import contextlib
    import statistics

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import override_settings

    from bench.search import SearchProbe
    from management_api import pacing, use_transport
    from users_admin import bulk_execute
    from users_admin.models import BulkItem, BulkRun, BulkRunStatus
    from users_admin.tasks import execute_bulk_run

    plan = "enterprise"
    _admin(base_url, "DELETE", "/sandbox/faults")
    _admin(base_url, "PUT", "/sandbox/faults", json={"rate_limit_plan": plan})
    tenant = pacing.current_tenant_slug()
    pacing.reset(tenant, "global")
    counting = CountingTransport()
    lead = User.objects.get_or_create(username="bench-lead@example.com")[0]
    # Enough users for every B round at the run's 5.6 users a second, and some to spare.
    size = min(len(ids), int(rounds * pairs * PAIR_SECONDS * 5.6 * 1.5) + 100)
    run_id = _queue_block_run(ids[:size], lead)
    del ids[:size]
    BulkRun.objects.filter(pk=run_id).update(status=BulkRunStatus.PAUSED)
    worker = _start_worker(work, _run_env(work, base_url, plan), 1)
    port = base_url.rsplit(":", 1)[1]
    print(
        f"search overhead (bench/search.py's page view and its baseline, one pair every "
        f"{PAIR_SECONDS:g} s, {pairs} pairs a round) without (A) and with (B) a block run on "
        f"Enterprise (16/s, the run at 70%), rate limits on, {rounds} rounds (A B, then B A):"
    )
    print(
        f"{'round':<7}{'dash p50':>9}{'base p50':>9}{'+p50':>8}{'dash p95':>9}{'base p95':>9}"
        f"{'+p95':>8}{'SQL':>7}{'CPU':>7}{'users sent':>11}{'429s':>6}{'load':>6}"
        "  CPU ms/user: worker, sandbox"
    )
    added: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    refused_total = 0
    try:
        with (
            contextlib.ExitStack() as stack,
            use_transport(counting),  # type: ignore[arg-type]
            override_settings(SEARCH_CACHE_SECONDS=0, AUTH0_RATE_LIMIT_PLAN=plan),
        ):
            probe = SearchProbe(base_url)
            # Per page view: the time its SQL took, and (below) its CPU in this process.
            spent = [0.0]

            def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    spent[0] += time.perf_counter() - started

            stack.enter_context(connection.execute_wrapper(timed))
            for _ in range(10):  # warm up: connections, templates, the token
                probe.dashboard_once()
                probe.direct_once()
            for round_number in range(1, rounds + 1):
                # A B, then B A: a load drifting during the bench weighs on both alike.
                for running in (False, True) if round_number % 2 else (True, False):
                    run = BulkRun.objects.get(pk=run_id)
                    if running:
                        bulk_execute.resume(run)
                        execute_bulk_run.delay(run_id)
                        # Measured once the run is sending again (past its first burst).
                        started = BulkItem.objects.filter(run_id=run_id).exclude(outcome="")
                        before = started.count()
                        while started.count() < before + 40:
                            time.sleep(0.1)
                    sent_before = BulkItem.objects.filter(run_id=run_id).exclude(outcome="").count()
                    statuses_before = dict(counting.statuses)
                    direct_429_before = probe.direct_429
                    cpu_before = _cpu_seconds(worker.pid, port)
                    dash: list[float] = []
                    base: list[float] = []
                    sql: list[float] = []
                    cpu_then = probe.cpu["dashboard"]
                    due = time.monotonic()
                    for _ in range(pairs):
                        time.sleep(max(0.0, due - time.monotonic()))
                        due += PAIR_SECONDS
                        spent[0] = 0.0
                        dash.append(probe.dashboard_once())
                        sql.append(spent[0])
                        base.append(probe.direct_once())
                    view_cpu = (probe.cpu["dashboard"] - cpu_then) * 1000 / pairs
                    sent = (
                        BulkItem.objects.filter(run_id=run_id).exclude(outcome="").count()
                        - sent_before
                    )
                    refused = (
                        counting.statuses.get(429, 0)
                        - statuses_before.get(429, 0)
                        + probe.direct_429
                        - direct_429_before
                    )
                    refused_total += refused
                    load = os.getloadavg()[0]
                    cpu_after = _cpu_seconds(worker.pid, port)
                    cpu_ms = [
                        (now - then) * 1000 / max(sent, 1)
                        for now, then in zip(cpu_after, cpu_before, strict=True)
                    ]
                    if running:
                        bulk_execute.pause(BulkRun.objects.get(pk=run_id))
                        _settle(base_url)
                    d50, d95 = _summary(dash)
                    b50, b95 = _summary(base)
                    added[running].append((d50 - b50, d95 - b95))
                    label = f"{round_number}{'B' if running else 'A'}"
                    print(
                        f"{label:<7}{d50:>9.1f}{b50:>9.1f}{d50 - b50:>+8.1f}{d95:>9.1f}"
                        f"{b95:>9.1f}{d95 - b95:>+8.1f}{statistics.median(sql) * 1000:>7.1f}"
                        f"{view_cpu:>7.1f}{sent:>11}{refused:>6}{load:>6.1f}"
                        + (f"{cpu_ms[0]:>8.1f}{cpu_ms[1]:>8.1f}" if running else ""),
                        flush=True,
                    )
    finally:
        BulkRun.objects.filter(pk=run_id).update(status=BulkRunStatus.CANCELLED)
        _stop(worker)
        counting.close()
    alone50 = statistics.median(a for a, _ in added[False])
    alone95 = statistics.median(b for _, b in added[False])
    during50 = statistics.median(a for a, _ in added[True])
    during95 = statistics.median(b for _, b in added[True])
    print(
        f"medians of the rounds: +{alone50:.1f} ms p50 / +{alone95:.1f} ms p95 without the run, "
        f"+{during50:.1f} / +{during95:.1f} ms with it: {during50 / alone50:.2f}x at p50, "
        f"{during95 / alone95:.2f}x at p95 (goal <= {SEARCH_GOAL_RATIO}); interactive 429s: "
        f"{refused_total} (goal 0)"
    )


def main_runs(args: argparse.Namespace) -> None:
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("--runs needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    users = args.users
    with sandbox_running("userdesk-bench-bulkrun-", users, 1) as (work, base_url):
        os.environ.update(_run_env(work, base_url, "essentials"))
        os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"  # the search probe's
        import sqlite3

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        with sqlite3.connect(work / "sandbox.sqlite3") as db:
            # Users not blocked yet: each is one GET and one PATCH.
            unblocked = "SELECT user_id FROM sandbox_tenantuser WHERE NOT coalesce(s_blocked, 0)"
            rows = db.execute(f"{unblocked} ORDER BY id").fetchall()
        ids = [uid for (uid,) in rows]
        print(f"block runs through a Celery worker; budget in Redis; reserve {RESERVE:.0%}")
        print(
            f"{'plan':<19}{'procs':>5}{'users':>7}{'users/s':>9}{'target':>8}{'ratio':>7}"
            f"{'failed':>7}{'skipped':>8}  {'bucket':<12}{'max 1s':>12}{'max 10s':>13}"
        )
        for plan in [] if args.no_throughput else args.plans:
            for processes in args.processes:
                row = real_runs(work, base_url, ids, plan, processes, args.seconds)
                print(
                    f"{plan:<19}{processes:>5}{row['users']:>7}{row['sustained']:>9.2f}"
                    f"{row['target']:>8.2f}{row['sustained'] / row['target']:>7.2f}"
                    f"{row['failed']:>7}{row['skipped']:>8}  {row['bucket']:<12}"
                    f"{row['most_1s']:>5}/{row['allowed_1s']:<6.0f}"
                    f"{row['most_10s']:>6}/{row['allowed_10s']:<6.0f}",
                    flush=True,
                )
        if args.search:
            search_while_running(work, base_url, ids, args.rounds, args.search)


# --- a 1,000,000-user run's selection and preview (--preview) ---------------------------------

# Children run as a worker would, so their peak memory (bench.export's VmHWM) is their own.
# The baseline: the run's snapshot, one exact export of the tenant, through exports.pipeline
# as a worker runs it (created -> file ready).
_SNAPSHOT_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from django.contrib.auth.models import User
from django.core.files import File
from exports import pipeline
from exports.models import Export
from users_admin import bulk_list, bulk_select
from users_admin.models import BulkRun
path = sys.argv[2]
lead = User.objects.get_or_create(username="bench-lead@example.com")[0]
with open(path, "rb") as listed:
    started = time.perf_counter()
    lines = bulk_list.count_list(listed)  # what the form checks, in the web process
    checked = time.perf_counter() - started
    listed.seek(0)
    run = BulkRun(tenant=bulk_select.tenant_slug(), source="list", requested_by=lead,
        requested_by_label=lead.get_username(), list_name=path.rsplit("/", 1)[-1],
        list_lines=lines, selection_key=bulk_select.selection_key("list", file=listed))
    run.list_file.save("bench.txt", File(listed), save=False)
    run.save()
started = time.perf_counter()
export = bulk_select.snapshot_export(run)
run.export = export
run.save(update_fields=["export"])
step = Export.objects.get(pk=export.pk).step
while (following := pipeline.advance(export.pk, step)) is not None:
    time.sleep(following.delay)
    step = following.step
export.refresh_from_db()
print(json.dumps({"run": run.pk, "lines": lines, "check_seconds": checked,
    "status": export.status, "rows": export.row_count,
    "seconds": time.perf_counter() - started, "rss_mb": peak_mb()}))
"""
)

# The worker's selection (bulk_select.advance) and preview (bulk.compute_preview) of the run.
_PREVIEW_CHILD = (
    _PEAK
    + """
import glob, json, sys, threading, time
sys.path.insert(0, sys.argv[1])

def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

together = [0.0]
def sample():  # this process and its children (the list reader), every 50 ms
    while True:
        kids = set()
        for path in glob.glob("/proc/self/task/*/children"):
            with open(path) as listed:
                kids.update(listed.read().split())
        together[0] = max(together[0], rss_mb("self") + sum(rss_mb(k) for k in kids))
        time.sleep(0.05)
threading.Thread(target=sample, daemon=True).start()

import django
django.setup()
from users_admin import bulk, bulk_select
from users_admin.models import BulkRun
run_id = int(sys.argv[2])
started = time.perf_counter()
bulk_select.advance(run_id)
selected = time.perf_counter()
run = BulkRun.objects.get(pk=run_id)
params = {"which": "app_metadata", "patch": {sys.argv[3]: "gold"}}
bulk.choose(run, bulk.ACTIONS["metadata"], params, "bench/bulk.py --preview", "")
bulk.compute_preview(run.pk, run.preview_version)
previewed = time.perf_counter()
run.refresh_from_db()
print(json.dumps({"status": run.status, "failure": run.failure_reason,
    "selected": run.selected_count, "unknown": run.unknown_count,
    "ambiguous": run.ambiguous_count, "duplicates": run.duplicate_count,
    "changes": run.change_count, "select_seconds": selected - started,
    "preview_seconds": previewed - selected, "rss_mb": peak_mb(),
    "together_mb": together[0]}))
"""
)
MEMORY_BUDGET_MB = 150

# The process the selection starts to read a list (users_admin.bulk_list), run alone on the
# same list: its own peak memory (VmHWM; a child started by the worker would report the
# worker's memory shared with it before it began).
_READER_CHILD = (
    _PEAK
    + """
import runpy, sys
sys.argv = ["bulk_list", *sys.argv[1:]]
try:
    runpy.run_module("users_admin.bulk_list", run_name="__main__")
finally:
    print(peak_mb(), file=sys.stderr)
"""
)


def list_reader_peak_mb(path: Path) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [sys.executable, "-c", _READER_CHILD, str(path), f"{scratch}/listed.sqlite3"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return float(done.stderr.strip().splitlines()[-1])


# A worker's task body (users_admin.tasks.execute_bulk_run), in a process of its own: sends
# the run's users until it is paused, then prints its peak memory.
_EXECUTE_CHILD = (
    _PEAK
    + """
import json, sys
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from users_admin import bulk_execute
while bulk_execute.execute(int(sys.argv[2])):
    pass
print(json.dumps({"rss_mb": peak_mb()}))
"""
)

# Resume after a kill (--resume): the run's action becomes "resend the verification email" (a
# POST: a user in doubt is never sent again), previewed, requested and approved; a worker sends
# users until `sent` are done, is killed (SIGKILL), a second takes the run over once the lease
# lapses and sends as many again, then the run is paused. Every verification job the sandbox
# created since is counted per user: none may have two.
_RESUME_CHILD = (
    _PEAK
    + """
import json, os, signal, sqlite3, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from django.contrib.auth.models import User
from users_admin import bulk, bulk_execute
from users_admin.models import BulkItem, BulkRun
root, run_id, sandbox_db, sent = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
worker_code = sys.argv[5]
lead = User.objects.get_or_create(username="bench-lead@example.com")[0]
other = User.objects.get_or_create(username="bench-approver@example.com")[0]
run = BulkRun.objects.get(pk=run_id)
started = time.perf_counter()
bulk.choose(run, bulk.ACTIONS["resend-verification"], {}, "bench/bulk.py --resume", "")
bulk.compute_preview(run.pk, run.preview_version)
run.refresh_from_db()
preview_seconds = time.perf_counter() - started
assert bulk.request_run(run, lead) == "", run.status
assert bulk.approve(run, other)
def jobs():
    with sqlite3.connect(sandbox_db) as db:
        return dict(db.execute(
            "SELECT user_id, count(*) FROM sandbox_exportjob "
            "WHERE type = 'verification_email' GROUP BY user_id"))
before = jobs()
def done():
    return BulkItem.objects.filter(run_id=run_id, outcome="done").count()
def worker():
    return subprocess.Popen([sys.executable, "-c", worker_code, root, str(run_id)],
        stdout=subprocess.PIPE, text=True)
first = worker()
while done() < sent:
    assert first.poll() is None, "the first worker ended"
    time.sleep(0.2)
first.send_signal(signal.SIGKILL)
first.wait()
at_kill = dict(BulkItem.objects.filter(run_id=run_id).exclude(outcome="")
    .values_list("outcome").annotate(n=django.db.models.Count("pk")))
killed = time.perf_counter()
# As the stall sweep does: the run goes to a worker again once its lease has lapsed (a worker
# that starts before then finds it taken and ends, which a quiet machine's quick start showed).
from django.utils import timezone
while BulkRun.objects.filter(pk=run_id, lease_expires_at__gt=timezone.now()).exists():
    time.sleep(0.2)
second = worker()
while done() < 2 * sent:
    assert second.poll() is None, "the second worker ended"
    time.sleep(0.2)
taken_over = time.perf_counter() - killed
bulk_execute.pause(BulkRun.objects.get(pk=run_id))
out, _ = second.communicate(timeout=120)
after = jobs()
twice = sorted(u for u, n in after.items() if n - before.get(u, 0) > 1)
new_jobs = sum(n - before.get(u, 0) for u, n in after.items())
outcomes = dict(BulkItem.objects.filter(run_id=run_id).exclude(outcome="")
    .values_list("outcome").annotate(n=django.db.models.Count("pk")))
print(json.dumps({"changes": run.change_count, "preview_seconds": preview_seconds,
    "at_kill": at_kill, "outcomes": outcomes, "jobs": new_jobs, "twice": len(twice),
    "twice_sample": twice[:5], "resume_seconds": taken_over,
    "worker_rss_mb": json.loads(out.strip().splitlines()[-1])["rss_mb"]}))
"""
)


def _child(code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"a child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def generated_list(db_path: Path, target: Path, lines: int) -> dict[str, int]:
    """A text list of `lines` lines from the sandbox's users: emails, every tenth a user id,
    with 0.1% unknown emails and 0.1% lines repeated (the bench's own input)."""
    import sqlite3

    odd = max(1, lines // 1000)
    wanted = lines - 2 * odd
    with sqlite3.connect(db_path) as db, target.open("w") as out:
        rows = db.execute(
            "SELECT user_id, email FROM sandbox_tenantuser ORDER BY id LIMIT ?", (wanted,)
        )
        repeated: list[str] = []
        for n, (user_id, email) in enumerate(rows):
            line = user_id if n % 10 == 0 or not email else email
            out.write(line + "\n")
            if len(repeated) < odd:
                repeated.append(line)
        for n in range(odd):
            out.write(f"nobody-{n}@unknown.example\n")
        out.writelines(line + "\n" for line in repeated)
    return {"lines": wanted + 2 * odd, "unknown": odd, "repeated": odd}


def sqlite3_list(db_path: Path, target: Path, lines: int) -> None:
    """A CSV written by the sqlite3 command-line tool, not by the bench: titled columns
    (user_id, email, name), its own quoting, users in a random order."""
    query = (
        "SELECT user_id, email, s_name AS name FROM sandbox_tenantuser "
        f"ORDER BY random() LIMIT {int(lines) - 1}"
    )
    with target.open("wb") as out:
        subprocess.run(["sqlite3", "-csv", "-header", str(db_path), query], stdout=out, check=True)


def main_preview(args: argparse.Namespace) -> None:
    from bench.export import seeded_sandbox

    users, lines = args.users, args.lines or min(args.users, 1_000_000)
    workdir = ROOT / "var" / "bench" / f"bulk-{users}"
    print(f"A {users:,}-user tenant: a list's selection and preview beside one exact export")
    with seeded_sandbox(users, workdir, args.port) as (env, _port):
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        env["LOG_LEVEL"] = "ERROR"
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], env=env, check=True
        )
        database = "PostgreSQL" if "DATABASE_URL" in env else "SQLite"
        inputs: list[tuple[str, Path]] = []
        db_path = workdir / "sandbox.sqlite3"
        if args.list:
            inputs.append((f"given file {args.list}", Path(args.list)))
        else:
            made = workdir / f"list-{lines}.txt"
            shape = generated_list(db_path, made, lines)
            inputs.append(
                (
                    f"bench's text list ({shape['unknown']:,} unknown, "
                    f"{shape['repeated']:,} repeated)",
                    made,
                )
            )
            if not args.bench_list_only:
                other = workdir / f"sqlite3-{lines}.csv"
                sqlite3_list(db_path, other, lines)
                inputs.append(("CSV written by the sqlite3 tool (random order)", other))
        for label, path in inputs:
            print(f"{label}: {path.stat().st_size / 1e6:.0f} MB; the dashboard in {database}")
            snap = _child(_SNAPSHOT_CHILD, env, str(path))
            if snap["status"] != "ready":
                raise SystemExit(f"the snapshot export ended {snap['status']}")
            load = os.getloadavg()[0]
            got = _child(_PREVIEW_CHILD, env, str(snap["run"]), args.key)
            if got["status"] != "previewed":
                raise SystemExit(f"the run ended {got['status']}: {got['failure']}")
            counted = got["selected"] + got["unknown"] + got["ambiguous"] + got["duplicates"]
            both = got["select_seconds"] + got["preview_seconds"]
            reader = list_reader_peak_mb(path)
            print(
                f"  {snap['lines']:,} lines (checked as the form does in "
                f"{snap['check_seconds']:.1f} s): {got['selected']:,} selected, "
                f"{got['unknown']:,} unknown, {got['ambiguous']:,} ambiguous, "
                f"{got['duplicates']:,} listed twice (sum {counted:,}); setting "
                f"app_metadata.{args.key} changes {got['changes']:,}"
            )
            print(
                f"  baseline, one exact export of the tenant ({snap['rows']:,} users): "
                f"{snap['seconds']:.1f} s"
            )
            print(
                f"  selection {got['select_seconds']:.1f} s + preview "
                f"{got['preview_seconds']:.1f} s = {both:.1f} s: "
                f"{both / snap['seconds']:.2f}x the export (goal <= 1)"
            )
            print(
                f"  worker peak memory {got['rss_mb']:.0f} MB (VmHWM); with the list reader "
                f"it starts (alone: {reader:.0f} MB), sampled together every 50 ms: "
                f"{got['together_mb']:.0f} MB (VmRSS; budget {MEMORY_BUDGET_MB} MB); "
                f"load average {load:.1f}-{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
                flush=True,
            )
            if counted != snap["lines"]:
                raise SystemExit(f"{counted:,} entries accounted for, not {snap['lines']:,}")
            if args.resume:
                resume_after_kill(env, snap["run"], db_path, args.resume)
                args.resume = 0  # on the first input only


def resume_after_kill(env: dict[str, str], run_id: int, db_path: Path, sent: int) -> None:
    """Kill the run's worker after `sent` users, let a second take the run over, count the
    users sent twice (the sandbox's verification jobs per user)."""
    # A short lease, so the second worker takes the run over soon after the kill.
    env = {**env, "EXPORT_LEASE_SECONDS": "5", "AUTH0_RATE_LIMIT_PLAN": "enterprise"}
    got = _child(_RESUME_CHILD, env, str(run_id), str(db_path), str(sent), _EXECUTE_CHILD)
    print(
        f"  resume after a kill (resend the verification email, {got['changes']:,} users to "
        f"send, previewed in {got['preview_seconds']:.1f} s): the worker killed with "
        f"{got['at_kill']} recorded; a second took over and sent {sent:,} more in "
        f"{got['resume_seconds']:.1f} s (5 s lease, Enterprise's pace); then {got['outcomes']}; "
        f"{got['jobs']:,} verification jobs at the sandbox, **users sent twice: "
        f"{got['twice']}** {got['twice_sample'] or ''}; worker peak memory "
        f"{got['worker_rss_mb']:.0f} MB; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if got["twice"]:
        raise SystemExit(f"{got['twice']} users were sent twice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--plans", nargs="+", default=list(PLANS), choices=PLANS)
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", action="store_true", help="real bulk runs (see above)")
    parser.add_argument(
        "--users", type=int, help="sandbox users (--runs: 4,000, --preview: 1,000,000)"
    )
    parser.add_argument(
        "--search", type=int, default=60, help="--runs: search pairs a round (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=4, help="--runs: rounds without/with")
    parser.add_argument(
        "--no-throughput", action="store_true", help="--runs: the search rounds alone"
    )
    parser.add_argument(
        "--preview", action="store_true", help="a large list's selection and preview (see above)"
    )
    parser.add_argument("--lines", type=int, default=0, help="--preview: list lines")
    parser.add_argument("--list", help="--preview: a list file of your own instead")
    parser.add_argument(
        "--key",
        default="bench_plan",
        help="--preview: the app_metadata key the run sets (default a new one; `plan`: one "
        "most seeded users have, so the preview decodes their lines)",
    )
    parser.add_argument(
        "--bench-list-only", action="store_true", help="--preview: skip the sqlite3 CSV"
    )
    parser.add_argument("--port", type=int, default=0, help="--preview: the sandbox's port")
    parser.add_argument(
        "--resume",
        type=int,
        default=0,
        metavar="USERS",
        help="--preview: then kill the run's worker after USERS sent, resume, count repeats",
    )
    args = parser.parse_args()
    if args.preview:
        args.users = args.users or 1_000_000
        main_preview(args)
        return
    if args.runs:
        args.users = args.users or 4000
        main_runs(args)
        return

    with sandbox_running("userdesk-bench-bulk-", USERS, 1) as (work, base_url):
        os.environ.update(_worker_env(work, base_url, "essentials"))
        import django

        django.setup()
        if not os.environ.get("REDIS_URL"):
            from django.core.management import call_command

            call_command("migrate", interactive=False, verbosity=0)
        backend = "Redis" if os.environ.get("REDIS_URL") else "the database (SQLite)"
        print(f"budget in {backend}; reserve {RESERVE:.0%}; {args.seconds:g} s a run")
        token = client_credentials_token(base_url)
        ids = _user_ids(base_url, token)
        header = (
            f"{'plan':<19}{'procs':>5}{'calls':>7}{'rate/s':>8}{'target':>8}{'ratio':>7}"
            f"{'failed':>7}{'429s':>6}{'max 1s':>12}{'max 10s':>13}{'staff 429':>11}"
        )
        print(header)
        worst = 1.0
        for plan in args.plans:
            for processes in args.processes:
                row = run_once(work, base_url, token, ids, plan, processes, args.seconds)
                ratio = row["sustained"] / row["target"]
                worst = min(worst, ratio)
                print(
                    f"{plan:<19}{processes:>5}{row['calls']:>7}{row['sustained']:>8.2f}"
                    f"{row['target']:>8.2f}{ratio:>7.2f}{row['failed']:>7}{row['met_429']:>6}"
                    f"{row['most_1s']:>5}/{row['allowed_1s']:<6.0f}"
                    f"{row['most_10s']:>6}/{row['allowed_10s']:<6.0f}"
                    f"{row['colleague_429']:>4}/{row['colleague_calls']:<5}",
                    flush=True,
                )
                for error in row["errors"]:
                    print(f"    failed: {error}")
        print(
            f"worst sustained ratio {worst:.2f} (goal >= {GOAL_SHARE}); 'max' columns: calls of"
            " all processes in any window / what the plan's bucket allows there"
        )


if __name__ == "__main__":
    main()
