"""The sandbox tenant at a million users: seeding time, search latency per query kind, export files.

Usage::

    uv run python bench/sandbox.py                       # seed 1,000,000 users, then measure
    uv run python bench/sandbox.py --reuse               # measure an already seeded tenant
    uv run python bench/sandbox.py --users 100000 --requests 20

The tenant lives in `--dir` (default: `userdesk-sandbox-bench` under the system temp folder),
never in var/. Searches go over HTTP to `manage.py runsandbox` running as its own process (rate
limits off), as the SDKs send them: `page=0&per_page=50&include_totals=true&search_engine=v3`.
Each query kind gets a warm-up, then `--requests` timed requests with varying values picked from
the tenant itself. The export figures time `sandbox.exporting.write_export`, the function the
export jobs run, writing a full CSV and a full NDJSON file of every user.

These machines are shared: figures are noisy. Ratios to the targets are what to read.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INDEXED_P95_MS = 50.0
FULL_SCAN_P95_MS = 1000.0
EXPORT_SECONDS = 60.0
SEED_SECONDS = 120.0
WARM_UP = 5


@dataclass(frozen=True)
class Kind:
    name: str
    indexed: bool
    query: Callable[[int], str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "sandbox.settings",
            "USERDESK_VAR_DIR": str(workdir / "var"),
            "SANDBOX_DATABASE_PATH": str(workdir / "sandbox.sqlite3"),
            "SANDBOX_EXPORT_DIR": str(workdir / "exports"),
            "SANDBOX_RATE_LIMIT_PLAN": "off",
            "UV_COMPILE_BYTECODE": "1",
        }
    )
    return env


def user_count(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path) as db:
        try:
            return int(db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seed(env: dict[str, str], users: int, seed_value: int) -> tuple[float, float]:
    """Wall and CPU seconds (the seeding process and its workers) of a fresh seed."""
    started, cpu = time.perf_counter(), children_cpu()
    command = ["manage.py", "sandbox_seed", "--users", str(users), "--seed", str(seed_value)]
    subprocess.run([sys.executable, *command], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started, children_cpu() - cpu


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used so far (Linux /proc), to tell work from waiting."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process


def token(base_url: str, deadline: float) -> str:
    from django.conf import settings

    body = {
        "grant_type": "client_credentials",
        "client_id": settings.SANDBOX_CLIENT_ID,
        "client_secret": settings.SANDBOX_CLIENT_SECRET,
        "audience": f"https://{settings.SANDBOX_DOMAIN}/api/v2/",
    }
    while True:
        try:
            response = httpx.post(f"{base_url}/oauth/token", json=body, timeout=10)
            response.raise_for_status()
            return str(response.json()["access_token"])
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def samples(db_path: Path, count: int, rng: random.Random) -> dict[str, list[str]]:
    """Real values from the tenant, so every query kind has varied, realistic input."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        top = int(db.execute("SELECT max(id) FROM sandbox_tenantuser").fetchone()[0])
        ids = [rng.randrange(1, top + 1) for _ in range(count * 4)]
        marks = ",".join("?" * len(ids))
        rows = db.execute(
            f"SELECT s_email, s_name FROM sandbox_tenantuser WHERE id IN ({marks})",
            ids,
        ).fetchall()
    emails = [email for email, _ in rows if email][:count]
    names = [name for _, name in rows if name and name.isascii() and name[:3].isalpha()]
    return {
        "emails": emails,
        "prefixes": [name[:4] for name in names][:count],
        "suffixes": [name.split()[-1][-3:] for name in names if len(name.split()[-1]) >= 3][:count],
    }


def kinds(values: dict[str, list[str]]) -> list[Kind]:
    connections = ["Username-Password-Authentication", "google-oauth2", "github", "acme-saml"]
    metadata = [
        'app_metadata.plan:"gold"',
        'user_metadata.preferences.language:"ja"',
        "app_metadata.roles:billing",
        "user_metadata.consent.given:false",
    ]
    negations = [
        "NOT _exists_:logins_count",
        "_exists_:phone_number AND NOT blocked:true",
        'NOT app_metadata.plan:"free"',
        "NOT _exists_:user_metadata",
    ]

    def pick(name: str) -> Callable[[int], str]:
        pool = values[name]
        return lambda i: pool[i % len(pool)]

    email, prefix, suffix = pick("emails"), pick("prefixes"), pick("suffixes")
    return [
        Kind("exact email", True, lambda i: f'email:"{email(i)}"'),
        Kind("name prefix", True, lambda i: f"name:{prefix(i)}*"),
        Kind("connection", True, lambda i: f'identities.connection:"{connections[i % 4]}"'),
        Kind("logins_count range", True, lambda i: f"logins_count:[{i % 40} TO {i % 40 + 3}]"),
        Kind("metadata equality", True, lambda i: metadata[i % len(metadata)]),
        Kind("suffix wildcard", False, lambda i: f"name:*{suffix(i)}"),
        Kind("NOT / _exists_", False, lambda i: negations[i % len(negations)]),
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(
    client: httpx.Client, kind: Kind, requests: int, server_pid: int
) -> tuple[float, float, float, int]:
    """p50 and p95 in ms, the server's CPU ms per request, and the largest total seen."""
    timings: list[float] = []
    largest = 0
    cpu_before = 0.0
    for i in range(WARM_UP + requests):
        if i == WARM_UP:
            cpu_before = process_cpu(server_pid)
        params = {
            "q": kind.query(i),
            "search_engine": "v3",
            "page": "0",
            "per_page": "50",
            "include_totals": "true",
        }
        started = time.perf_counter()
        response = client.get("/api/v2/users", params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(
                f"{kind.name}: {params['q']} -> {response.status_code} {response.text}"
            )
        if i >= WARM_UP:
            timings.append(elapsed)
            largest = max(largest, int(response.json()["total"]))
    cpu_ms = (process_cpu(server_pid) - cpu_before) * 1000 / requests
    return statistics.median(timings), percentile(timings, 0.95), cpu_ms, largest


def time_exports(workdir: Path) -> list[tuple[str, float, float, int, int]]:
    from sandbox.exporting import write_export

    results = []
    for fmt, name in (("csv", "users.csv.gz"), ("json", "users.json.gz")):
        dest = workdir / "exports" / name
        started, cpu = time.perf_counter(), time.process_time()
        rows = write_export(dest, fmt=fmt)
        wall, used = time.perf_counter() - started, time.process_time() - cpu
        results.append((fmt, wall, used, rows, dest.stat().st_size))
    return results


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--dir", type=Path, default=Path(tempfile.gettempdir()) / "userdesk-sandbox-bench"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the tenant in --dir if it has --users users"
    )
    parser.add_argument("--no-export", action="store_true", help="skip the export file figures")
    args = parser.parse_args()

    workdir: Path = args.dir
    (workdir / "var").mkdir(parents=True, exist_ok=True)
    env = environment(workdir)
    os.environ.update({key: env[key] for key in env if key.startswith(("SANDBOX_", "USERDESK_"))})
    # The sandbox's own models, in this process: its settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    import django

    django.setup()

    db_path = workdir / "sandbox.sqlite3"
    seed_seconds: tuple[float, float] | None = None
    if args.reuse and user_count(db_path) == args.users:
        print(f"Reusing the {args.users:,}-user tenant in {workdir}")
    else:
        print(f"Seeding {args.users:,} users into {workdir} ...", flush=True)
        seed_seconds = seed(env, args.users, args.seed)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_server(env, port, workdir / "runsandbox.log")
    try:
        bearer = token(base_url, time.monotonic() + 120)
        rng = random.Random(args.seed)
        table = []
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=60
        ) as client:
            for kind in kinds(samples(db_path, max(args.requests, 10), rng)):
                p50, p95, cpu_ms, total = measure(client, kind, args.requests, server.pid)
                table.append((kind, p50, p95, cpu_ms, total))
                print(f"  measured {kind.name}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    exports = [] if args.no_export else time_exports(workdir)

    print()
    print(f"Sandbox tenant, {args.users:,} users, {args.requests} requests per kind", end="")
    print(f" after {WARM_UP} warm-up requests; load average now {os.getloadavg()[0]:.1f}")
    print("(cpu: what the server or the writer spent working, not waiting for a shared core)")
    print(f"{'figure':<36}{'p50':>10}{'p95':>10}{'cpu':>10}{'target':>16}  {'':<5}max total")
    for kind, p50, p95, cpu_ms, total in table:
        target = INDEXED_P95_MS if kind.indexed else FULL_SCAN_P95_MS
        label = f"{kind.name} ({'indexed' if kind.indexed else 'full scan'})"
        goal = f"p95 <= {int(target)} ms"
        print(
            f"{label:<36}{p50:>8.1f}ms{p95:>8.1f}ms{cpu_ms:>8.1f}ms{goal:>16}"
            f"  {verdict(p95, target):<5}{total}"
        )
    if seed_seconds is not None:
        wall, cpu = seed_seconds
        seeded = verdict(wall, SEED_SECONDS)
        print(f"{'seeding':<36}{wall:>9.1f}s{'':>10}{cpu:>9.1f}s{'<= 120 s':>16}  {seeded}")
    for fmt, wall, cpu, rows, size in exports:
        label = f"full {'CSV' if fmt == 'csv' else 'NDJSON'} export file"
        exported = verdict(wall, EXPORT_SECONDS)
        print(
            f"{label:<36}{wall:>9.1f}s{'':>10}{cpu:>9.1f}s{'<= 60 s':>16}  {exported:<5}"
            f"{rows:,} rows, {size / 1e6:.0f} MB gzipped"
        )


if __name__ == "__main__":
    main()
