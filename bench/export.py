"""Export data path benchmark: ingest, JSON array conversion and filtered derivative.

Usage::

    uv run python bench/export.py                  # 1,000,000 users, files cached in var/bench/
    uv run python bench/export.py --users 200000   # smaller run
    uv run python bench/export.py --file users.csv.gz --format csv

Each figure is printed beside its baseline measured in the same run on the same file:

- ingest (download over loopback HTTP, gunzip, verify every row, count, SHA-256, store) against
  ``curl -s URL | gzip -dc | wc -l``; the ingest runs in a child process so its peak RSS is the
  worker's peak memory;
- the rows as one JSON array (NDJSON -> JSON array) against ``gzip -dc | jq -c -s .``
  (Auth0's import format: ``bench/import_json.py``);
- filtered derivative against ``gzip -dc | mlr --csv filter '$last_login >= "..."'``.

When no Auth0-style file is given, a realistic one is generated (OWASP-escaped CSV and NDJSON keyed
by ``export_as``), with awkward values sprinkled in: quotes, commas, newlines, formula prefixes,
unicode and markup.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import hashlib
import http.server
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exports.csvformat import escape_value, format_header, unescape_cell  # noqa: E402

ROUNDS = 3

CSV_COLUMNS = [
    "Id",
    "email",
    "email_verified",
    "name",
    "nickname",
    "Connection",
    "created_at",
    "updated_at",
    "last_login",
    "logins_count",
    "blocked",
    "plan",
]
FILTER_DATE = "2024-01-01T00:00:00Z"

_GIVEN = ["Ada", "Grace", "Linus", "Zoë", "Søren", "Mia", "Noah", "José", "Chloé", "Ibrahim", "Li"]
_FAMILY = ["Lovelace", "Hopper", "O'Brien", "Müller", "Nakamura", "Smith", "García", "Kowalski"]
_CONNECTIONS = ["Username-Password-Authentication", "google-oauth2", "github", "acme-saml"]
_PLANS = ["free", "pro", "team", "enterprise"]
_AWKWARD = [
    'Jo"e "the boss"',
    "Smith, Jr.",
    '=HYPERLINK("http://evil")',
    "+1 555 0100",
    "-2+3",
    "@SUM(A1:A2)",
    "<script>alert(1)</script>",
    "line one\nline two",
    "名前 🙂",
]


def _iso(seconds: float) -> str:
    moment = time.gmtime(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(seconds * 1000) % 1000:03d}Z"


def generate_users(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    start = 1_546_300_800.0  # 2019-01-01
    span = 5 * 365 * 86400.0
    for number in range(count):
        given = rng.choice(_GIVEN)
        family = rng.choice(_FAMILY)
        nickname = f"{given.lower()}{number}"
        name = f"{given} {family}"
        if number % 997 == 0:
            name = _AWKWARD[(number // 997) % len(_AWKWARD)]
        created = start + rng.random() * span
        updated = created + rng.random() * 86400 * 30
        last_login = None if number % 11 == 0 else updated + rng.random() * 86400 * 90
        yield {
            "Id": f"auth0|{number:024x}",
            "email": f"{nickname}@example.com",
            "email_verified": number % 3 != 0,
            "name": name,
            "nickname": nickname,
            "Connection": rng.choice(_CONNECTIONS),
            "created_at": _iso(created),
            "updated_at": _iso(updated),
            "last_login": None if last_login is None else _iso(last_login),
            "logins_count": rng.randint(0, 500),
            "blocked": number % 101 == 0,
            "plan": rng.choice(_PLANS),
        }


_RAW_COLUMNS = {"created_at", "updated_at", "last_login"}


def _csv_row(user: dict[str, Any]) -> bytes:
    cells = []
    for column in CSV_COLUMNS:
        value = user[column]
        cells.append(value.encode() if column in _RAW_COLUMNS and value else escape_value(value))
    return b",".join(cells) + b"\n"


def _ndjson_line(user: dict[str, Any]) -> bytes:
    record = {key: value for key, value in user.items() if value is not None}
    record["user_metadata"] = {"plan": user["plan"], "consent": {"given": user["email_verified"]}}
    record["app_metadata"] = {"roles": ["reader"], "tenant_notes": user["name"]}
    record["picture"] = (
        "https://s.gravatar.com/avatar/"
        + hashlib.md5(user["email"].encode()).hexdigest()
        + "?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fde.png"
    )
    record["identities"] = [
        {"connection": user["Connection"], "provider": "auth0", "isSocial": False}
    ]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def write_export(path: Path, fmt: str, count: int) -> None:
    """Write an Auth0-style gzip export of ``count`` users (CSV or NDJSON)."""
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as out:
        if fmt == "csv":
            out.write(format_header(CSV_COLUMNS))
        batch: list[bytes] = []
        render = _csv_row if fmt == "csv" else _ndjson_line
        for user in generate_users(count):
            batch.append(render(user))
            if len(batch) == 5000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    tmp.replace(path)


# --- measuring -------------------------------------------------------------------------------


class _Files(http.server.SimpleHTTPRequestHandler):
    """Serves exactly the given files, each under its own URL path, wherever its folder is."""

    files: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        found = self.files.get(path.split("?", 1)[0])
        # Anything else is a path that does not exist: a 404.
        return str(found) if found is not None else "/nonexistent/userdesk-bench-file"

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(files: dict[str, Path]) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve `files` ({"/csv/users.csv.gz": path, ...}) over loopback HTTP: (server, base URL)."""
    handler = type("Handler", (_Files,), {"files": dict(files)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# Runs in a child process, so its peak RSS is the ingest's alone (as in a Celery worker).
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec from the (large) parent.
_PEAK = """
def peak_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

_INGEST_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import httpx
from exports import formats
url, dest, fmt, expected = sys.argv[2:6]
# A worker builds its client once per process (management_api.http), so not on the clock.
client = httpx.Client(timeout=60)
started, cpu = time.perf_counter(), time.process_time()
with client.stream("GET", url) as response:
    response.raise_for_status()
    result = formats.get(fmt).ingest(
        response.iter_bytes(), dest, expected_columns=json.loads(expected))
elapsed = time.perf_counter() - started
cpu = time.process_time() - cpu
print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "rows": result.rows,
    "compressed": result.compressed_bytes, "uncompressed": result.uncompressed_bytes,
    "sha256": result.sha256,
    "rss_mb": peak_mb()}))
"""
)

_CONVERT_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from exports import formats
src, dest, fmt = sys.argv[2:5]
started = time.perf_counter()
size = 0
with open(dest, "wb") as out, open(src, "rb") as source:
    for chunk in formats.get(fmt).json_array(source):
        out.write(chunk)
        size += len(chunk)
print(json.dumps({"seconds": time.perf_counter() - started, "bytes": size,
    "rss_mb": peak_mb()}))
"""
)

_DERIVE_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from exports import formats
from exports.derive import Condition
src, dest, fmt, column, value = sys.argv[2:7]
columns = json.loads(sys.argv[7])
with open(src, "rb") as source, open(dest, "wb") as target:
    result = formats.get(fmt).derive(source, target, columns=columns,
        conditions=[Condition(column, "after", value)])
print(json.dumps({"seconds": result.seconds, "rows": result.rows, "scanned": result.scanned,
    "rss_mb": peak_mb()}))
"""
)


def child(code: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT), *args], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Shell:
    seconds: float
    output: str
    rss_mb: float


# A small launcher runs the pipeline so that RUSAGE_CHILDREN (the largest process of the
# pipeline, as wait4 reports it) starts from a fresh, small process rather than from this one.
_LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(["bash", "-o", "pipefail", "-c", sys.argv[1]], capture_output=True, text=True)
print(json.dumps({"seconds": time.perf_counter() - started, "code": done.returncode,
    "output": done.stdout.strip()[-200:],
    "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def shell(command: str) -> Shell:
    """Time a shell pipeline and the peak RSS of its largest process."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, command], check=True, capture_output=True, text=True
    )
    report = json.loads(done.stdout)
    if report["code"]:
        raise RuntimeError(f"{command!r} exited with {report['code']}")
    return Shell(report["seconds"], report["output"], report["rss_mb"])


def median(values: list[float]) -> float:
    return statistics.median(values)


def mb(size: float) -> float:
    return size / 1e6


def row(label: str, seconds: float, size_mb: float, rss: float | None, extra: str = "") -> None:
    rss_text = f"{rss:7.0f} MB" if rss is not None else "       —  "
    print(f"  {label:<46} {seconds:7.2f} s {size_mb / seconds:8.1f} MB/s  {rss_text}  {extra}")


def verify_subsequence(source_gz: Path, kept_gz: Path) -> bool:
    """Every kept line appears in the source, in order, byte for byte (header first)."""
    with gzip.open(kept_gz, "rb") as kept_file, gzip.open(source_gz, "rb") as source:
        kept = iter(kept_file)
        wanted = next(kept, None)
        for line in source:
            if wanted is None:
                break
            if line == wanted:
                wanted = next(kept, None)
    return wanted is None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--file", type=Path, help="an Auth0-style .csv.gz to use instead")
    parser.add_argument("--ndjson-file", type=Path, help="an Auth0-style .json.gz to use")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--skip-jq", action="store_true", help="jq takes ~1 min and ~4 GB")
    parser.add_argument("--date-column", default="last_login")
    parser.add_argument("--after", default=FILTER_DATE)
    parser.add_argument("--skip-pipeline", action="store_true", help="no sandbox export run")
    parser.add_argument("--pipeline-users", type=int, help="sandbox users (default --users)")
    args = parser.parse_args()
    for tool in ("curl", "gzip", "wc", "jq", "mlr"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install -y curl gzip jq miller")

    args.dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.file or args.dir / f"users-{args.users}.csv.gz"
    ndjson_path = args.ndjson_file or args.dir / f"users-{args.users}.json.gz"
    for path, fmt in ((csv_path, "csv"), (ndjson_path, "ndjson")):
        if not path.exists():
            print(f"generating {path} ({args.users:,} users, {fmt}) ...", flush=True)
            write_export(path, fmt, args.users)
    with gzip.open(csv_path, "rt", encoding="utf-8", newline="") as text:
        columns = next(csv.reader(text))
    # The ingest checks the CSV header and every NDJSON line's keys against the requested
    # columns, as the pipeline does: here the header, and every key the NDJSON file uses.
    expected = {
        "csv": json.dumps([unescape_cell(cell) for cell in columns]),
        "ndjson": json.dumps(sorted(ndjson_keys(ndjson_path))),
    }

    # The two files may live in different folders (--file, --ndjson-file): each is served by name.
    url_paths = {"csv": f"/csv/{csv_path.name}", "ndjson": f"/ndjson/{ndjson_path.name}"}
    server, base = serve({url_paths["csv"]: csv_path, url_paths["ndjson"]: ndjson_path})
    work = Path(tempfile.mkdtemp(prefix="userdesk-export-bench-"))
    try:
        print(
            f"files: {csv_path} ({mb(csv_path.stat().st_size):.1f} MB gz), "
            f"{ndjson_path} ({mb(ndjson_path.stat().st_size):.1f} MB gz)"
        )
        print(
            f"{os.cpu_count()} CPUs; medians of {args.rounds} alternating rounds; "
            "MB/s are of uncompressed bytes\n"
        )
        results: dict[str, Any] = {}
        for path, fmt in ((csv_path, "csv"), (ndjson_path, "ndjson")):
            url = base + url_paths[fmt]
            baseline_cmd = f"curl -s {url} | gzip -dc | wc -l"
            base_runs: list[Shell] = []
            ours: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                base_runs.append(shell(baseline_cmd))
            base_rss = base_runs[-1].rss_mb
            for _ in range(args.rounds):
                ours.append(
                    child(_INGEST_CHILD, url, str(work / f"stored.{fmt}.gz"), fmt, expected[fmt])
                )
                base_runs.append(shell(baseline_cmd))
            raw = ours[0]["uncompressed"]
            base_s = median([run.seconds for run in base_runs])
            ours_s = median([run["seconds"] for run in ours])
            stored_ok = (
                hashlib.sha256((work / f"stored.{fmt}.gz").read_bytes()).hexdigest()
                == hashlib.sha256(path.read_bytes()).hexdigest()
                == ours[0]["sha256"]
            )
            print(
                f"Ingest, {fmt.upper()} ({ours[0]['rows']:,} rows; "
                f"{mb(ours[0]['compressed']):.1f} MB gz, {mb(raw):.1f} MB raw)"
            )
            row(
                "baseline: curl | gzip -dc | wc -l",
                base_s,
                mb(raw),
                base_rss,
                f"{base_runs[0].output} lines",
            )
            row(
                "ingest: download+gunzip+verify+count+sha+store",
                ours_s,
                mb(raw),
                max(run["rss_mb"] for run in ours),
                f"{mb(ours[0]['compressed']) / ours_s:.1f} MB/s compressed; "
                f"{median([run['cpu_seconds'] for run in ours]):.2f} s CPU; stored copy "
                + ("identical" if stored_ok else "DIFFERS"),
            )
            print(f"  -> {base_s / ours_s:.2f}x the baseline's throughput (target >= 0.8x)\n")
            results[f"ingest_{fmt}"] = base_s / ours_s

        raw_ndjson = sum(len(piece) for piece in _gunzipped(ndjson_path))
        print(f"JSON array of the rows (NDJSON -> one JSON array, {mb(raw_ndjson):.1f} MB)")
        converted = [
            child(_CONVERT_CHILD, str(ndjson_path), str(work / "users.json"), "ndjson")
            for _ in range(args.rounds)
        ]
        conv_s = median([run["seconds"] for run in converted])
        if args.skip_jq:
            print("  baseline skipped (--skip-jq)")
        else:
            jq = shell(f"gzip -dc {ndjson_path} | jq -c -s . > {work / 'jq.json'}")
            same = json.loads((work / "users.json").read_bytes()) == json.loads(
                (work / "jq.json").read_bytes()
            )
            row("baseline: gzip -dc | jq -c -s .", jq.seconds, mb(raw_ndjson), jq.rss_mb)
            results["convert"] = jq.seconds / conv_s
        row(
            "json_array (streamed)",
            conv_s,
            mb(raw_ndjson),
            max(run["rss_mb"] for run in converted),
            "" if args.skip_jq else ("same value as jq's" if same else "DIFFERS from jq"),
        )
        if "convert" in results:
            print(f"  -> {results['convert']:.1f}x jq's throughput (target >= 3x at <= 100 MB)\n")

        raw_csv = sum(len(piece) for piece in _gunzipped(csv_path))
        condition = f'${args.date_column} >= "{args.after}"'
        print(f"Filtered derivative ({condition}; {mb(raw_csv):.1f} MB CSV)")
        mlr_cmd = f"gzip -dc {csv_path} | mlr --csv filter '{condition}' > {work / 'mlr.csv'}"
        mlr_runs: list[Shell] = []
        derived: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            mlr_runs.append(shell(mlr_cmd))
            derived.append(
                child(
                    _DERIVE_CHILD,
                    str(csv_path),
                    str(work / "derived.csv.gz"),
                    "csv",
                    args.date_column,
                    args.after,
                    json.dumps(columns),
                )
            )
        mlr_s = median([run.seconds for run in mlr_runs])
        der_s = median([run["seconds"] for run in derived])
        with open(work / "mlr.csv", newline="") as mlr_out:
            mlr_rows = sum(1 for _ in csv.reader(mlr_out)) - 1
        exact = verify_subsequence(csv_path, work / "derived.csv.gz")
        row(
            "baseline: gzip -dc | mlr --csv filter",
            mlr_s,
            mb(raw_csv),
            mlr_runs[-1].rss_mb,
            f"{mlr_rows:,} rows",
        )
        row(
            "derive (gzip out)",
            der_s,
            mb(raw_csv),
            max(run["rss_mb"] for run in derived),
            f"{derived[0]['rows']:,} rows; kept rows byte-identical to the source: "
            + ("yes" if exact else "NO"),
        )
        results["derive"] = mlr_s / der_s
        print(f"  -> {results['derive']:.2f}x Miller's throughput (target >= 1x at <= 100 MB)\n")
        if args.skip_pipeline:
            print("Job completed -> file ready: skipped (--skip-pipeline)")
        else:
            pipeline_figures(args.pipeline_users or args.users, args.dir / "pipeline")
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


# --- the whole pipeline against the sandbox tenant -------------------------------------------

# Runs the export the way a worker does (pipeline.advance step after step, without Celery), in
# its own process so its peak RSS is the worker's.
_PIPELINE_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import django
django.setup()
from exports import pipeline, tasks
from exports.models import Export
from sandbox.job_models import ExportJob

fields = [{"name": name} for name in json.loads(sys.argv[3])]
export = tasks.create_export({"format": sys.argv[2], "fields": fields}, requested_by=None)
step = Export.objects.get(pk=export.pk).step
while True:
    following = pipeline.advance(export.pk, step)
    if following is None:
        break
    time.sleep(following.delay)
    step = following.step
export.refresh_from_db()
job = ExportJob.objects.get(id=export.auth0_job_id)
seen = export.events.filter(status="downloading").values_list("at", flat=True).first()
print(json.dumps({
    "status": export.status, "reason": export.failure_reason if export.status != "ready" else "",
    "rows": export.row_count, "compressed": export.compressed_size,
    "uncompressed": export.uncompressed_size,
    "job_started": job.started_at.timestamp(), "job_finished": job.finished_at.timestamp(),
    "seen": seen.timestamp() if seen else None,
    "ready": export.ready_at.timestamp() if export.ready_at else None,
    "rss_mb": peak_mb()}))
"""
)

PIPELINE_FIELDS = [
    "user_id",
    "email",
    "email_verified",
    "name",
    "nickname",
    "identities[0].connection",
    "created_at",
    "updated_at",
    "last_login",
    "logins_count",
    "blocked",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sandbox_users(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with sqlite3.connect(db_path) as db:
        try:
            return int(db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()[0])
        except sqlite3.Error:
            return 0


@contextlib.contextmanager
def seeded_sandbox(
    users: int, workdir: Path, port: int | None = None
) -> Iterator[tuple[dict[str, str], int]]:
    """A sandbox tenant of `users` users in `workdir` (seeded once, kept for the next run),
    served over HTTP with rate limits off on `port` (else a free one): (the environment of a
    worker that uses it, its port)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "AUTH0_DOMAIN", "AUTH0_BASE_URL")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "USERDESK_VAR_DIR": str(workdir / "var"),
            "SANDBOX_DATABASE_PATH": str(workdir / "sandbox.sqlite3"),
            "SANDBOX_EXPORT_DIR": str(workdir / "sandbox-exports"),
            "EXPORT_STORAGE_DIR": str(workdir / "exports"),
            "SANDBOX_RATE_LIMIT_PLAN": "off",
            "SANDBOX_PORT": str(port),
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    # The sandbox's own commands migrate its database (under sandbox.settings).
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True)
    if _sandbox_users(workdir / "sandbox.sqlite3") != users:
        started = time.perf_counter()
        subprocess.run(
            [*manage, "sandbox_seed", "--users", str(users)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  seeded {users:,} users in {time.perf_counter() - started:.0f} s")
    server = subprocess.Popen(
        [*manage, "runsandbox", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        yield env, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def pipeline_figures(users: int, workdir: Path) -> None:
    """Seed the sandbox, run a whole CSV export through exports.pipeline, time its last leg."""
    print(f"Whole export through the sandbox tenant ({users:,} users, CSV)")
    with seeded_sandbox(users, workdir) as (env, _port):
        done = subprocess.run(
            [sys.executable, "-c", _PIPELINE_CHILD, str(ROOT), "csv", json.dumps(PIPELINE_FIELDS)],
            # The product's settings plus the sandbox's database, whose job record it reads.
            env={**env, "DJANGO_SETTINGS_MODULE": "sandbox.settings"},
            check=True,
            capture_output=True,
            text=True,
        )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != "ready":
        print(f"  the export ended {report['status']}: {report['reason']}")
        return
    job_s = report["job_finished"] - report["job_started"]
    total = report["ready"] - report["job_finished"]
    leg = report["ready"] - report["seen"]
    print(
        f"  sandbox job: {job_s:.1f} s to write {report['rows']:,} rows "
        f"({mb(report['compressed']):.1f} MB gz, {mb(report['uncompressed']):.1f} MB raw)"
    )
    print(
        f"  job completed -> file ready in Userdesk: {total:.2f} s, of which "
        f"{total - leg:.2f} s until the next poll saw it and {leg:.2f} s to download, "
        f"verify, store and publish"
    )
    print(f"  worker peak memory: {report['rss_mb']:.0f} MB (target <= 150 MB)")


def ndjson_keys(path: Path) -> set[str]:
    """Every top-level key of a gzipped NDJSON file (missing values leave keys out of lines)."""
    import msgspec

    lines = msgspec.json.Decoder(dict[str, msgspec.Raw])
    keys: set[str] = set()
    carry = b""
    for piece in _gunzipped(path):
        block = carry + piece
        cut = block.rfind(b"\n") + 1
        carry = block[cut:]
        for record in lines.decode_lines(block[:cut]):
            keys.update(record)
    if carry.strip():
        keys.update(lines.decode(carry))
    return keys


def _gunzipped(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while block := source.read(1 << 20):
            yield inflater.decompress(block)


if __name__ == "__main__":
    main()
