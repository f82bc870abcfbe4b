"""Exact search export benchmark: the filter that keeps the users a search query matches.

Usage::

    uv run python bench/exact.py                    # 1,000,000 users, files cached in var/bench/
    uv run python bench/exact.py --users 100000     # smaller run
    uv run python bench/exact.py --csv-file users.csv.gz --ndjson-file users.json.gz \\
        --query 'email_verified:true' --jq '.email_verified == true' \\
        --mlr '$email_verified == "true"'

``exports.exact.filter_file`` (inflate, evaluate the Lucene query on every record with Auth0's
search rules, keep the matches with Auth0's bytes, deflate) runs in a child process, so its peak
RSS is the worker's; in the same run, on the same files, alternating rounds:

- NDJSON: ``gzip -dc users.json.gz | jq -c 'select(<same condition>)'``;
- CSV: ``gzip -dc users.csv.gz | mlr --csv filter '<same condition>'``.

Both tools are Debian packages: ``apt-get install -y jq miller``. Targets: at least 3x jq's and
1x Miller's throughput, worker memory at most 100 MB. The matches are checked to be the same
users as jq's and Miller's, and the CSV to be a subsequence of the source's records, byte for
byte. When no file is given, bench/export.py's generator writes Auth0-style ones (OWASP-escaped
CSV; NDJSON with metadata and identities). A file it did not generate is read with its own
header: column titles are taken as field names, except ``Id`` (user_id) and ``Connection``
(identities[0].connection), the import/export extension's titles.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export import (  # noqa: E402
    _PEAK,
    child,
    mb,
    median,
    row,
    shell,
    verify_subsequence,
    write_export,
)

QUERY = (
    "email_verified:true AND logins_count:[100 TO *] AND last_login:[2024-01-01 TO *] "
    "AND NOT blocked:true"
)
JQ = (
    '.email_verified == true and .logins_count >= 100 and (.last_login // "") >= '
    '"2024-01-01T00:00:00.000Z" and .blocked != true'
)
MLR = (
    '$email_verified == "true" && $logins_count >= 100 && '
    '$last_login >= "2024-01-01T00:00:00.000Z" && $blocked != "true"'
)
TITLES = {"Id": "user_id", "Connection": "identities[0].connection"}

_FILTER_CHILD = (
    _PEAK
    + """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from exports import exact, formats
src, dest, query, fmt = sys.argv[2:6]
fields = json.loads(sys.argv[6])
plan = exact.plan_job(query, fields, formats.get(fmt))
assert plan.source_format.name == fmt and len(plan.job_fields) == len(fields), plan.job_fields
started = time.perf_counter()
with open(src, "rb") as source, open(dest, "wb") as target:
    result = exact.filter_file(source, target, plan=plan)
print(json.dumps({"seconds": time.perf_counter() - started, "scanned": result.scanned,
    "matched": result.matched, "rss_mb": peak_mb()}))
"""
)


def fields_of(titles: list[str]) -> list[dict[str, str]]:
    fields = []
    for title in titles:
        name = TITLES.get(title, title)
        fields.append({"name": name, **({"export_as": title} if name != title else {})})
    return fields


def ndjson_titles(path: Path, lines: int = 1000) -> list[str]:
    """The keys of the first lines, in order (a missing value is a missing key)."""
    keys: dict[str, None] = {}
    with gzip.open(path, "rb") as source:
        for _, line in zip(range(lines), source, strict=False):
            keys.update(dict.fromkeys(json.loads(line)))
    return list(keys)


def csv_titles(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        return next(csv.reader(text))


def raw_size(path: Path) -> int:
    size = 0
    with gzip.open(path, "rb") as source:
        while block := source.read(1 << 20):
            size += len(block)
    return size


def ids_of_ndjson(path: Path, gz: bool, key: str) -> set[str]:
    opener: Any = gzip.open if gz else open
    with opener(path, "rb") as lines:
        return {json.loads(line)[key] for line in lines if line.strip()}


def ids_of_csv(path: Path, gz: bool, column: str) -> set[str]:
    opener: Any = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        index = next(reader).index(column)
        return {cells[index].removeprefix("'") for cells in reader}


def measure(
    label: str,
    fmt: str,
    path: Path,
    baseline: str,
    baseline_label: str,
    fields: list[dict[str, str]],
    args: argparse.Namespace,
    work: Path,
) -> dict[str, Any]:
    size = mb(raw_size(path))
    kept = work / f"exact.{fmt}.gz"
    ours: list[dict[str, Any]] = []
    theirs = []
    for _ in range(args.rounds):
        theirs.append(shell(baseline))
        ours.append(child(_FILTER_CHILD, str(path), str(kept), args.query, fmt, json.dumps(fields)))
    our_s = median([run["seconds"] for run in ours])
    their_s = median([run.seconds for run in theirs])
    rss = max(run["rss_mb"] for run in ours)
    result = ours[-1]
    print(f"{label}: {path.name}, {size:,.0f} MB uncompressed, {result['scanned']:,} users")
    row(baseline_label, their_s, size, theirs[-1].rss_mb)
    row("exports.exact.filter_file (gzip out)", our_s, size, rss, f"{result['matched']:,} match")
    return {"ours": our_s, "theirs": their_s, "rss": rss, "matched": result["matched"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--csv-file", type=Path, help="an Auth0 CSV export (.csv.gz) to use")
    parser.add_argument("--ndjson-file", type=Path, help="an Auth0 NDJSON export (.json.gz)")
    parser.add_argument("--query", default=QUERY, help="the Lucene query to evaluate")
    parser.add_argument("--jq", default=JQ, help="the same condition for jq's select()")
    parser.add_argument("--mlr", default=MLR, help="the same condition for mlr filter")
    parser.add_argument("--id-title", default="Id", help="the user id's column title")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("gzip", "jq", "mlr"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install -y gzip jq miller")

    args.dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.csv_file or args.dir / f"users-{args.users}.csv.gz"
    ndjson_path = args.ndjson_file or args.dir / f"users-{args.users}.json.gz"
    for path, fmt in ((csv_path, "csv"), (ndjson_path, "ndjson")):
        if not path.exists():
            print(f"generating {path} ({args.users:,} users, {fmt}) ...", flush=True)
            write_export(path, fmt, args.users)

    work = Path(tempfile.mkdtemp(prefix="userdesk-exact-bench-"))
    print(f"query: {args.query}")
    print(
        f"{os.cpu_count()} CPUs; medians of {args.rounds} alternating rounds; "
        "MB/s are of uncompressed input\n"
    )
    try:
        jq_out = work / "jq.ndjson"
        nd = measure(
            "NDJSON",
            "ndjson",
            ndjson_path,
            f"gzip -dc {ndjson_path} | jq -c 'select({args.jq})' > {jq_out}",
            "baseline: gzip -dc | jq -c 'select(...)'",
            fields_of(ndjson_titles(ndjson_path)),
            args,
            work,
        )
        same = ids_of_ndjson(work / "exact.ndjson.gz", True, args.id_title) == ids_of_ndjson(
            jq_out, False, args.id_title
        )
        print(
            f"  -> {nd['theirs'] / nd['ours']:.1f}x jq's throughput at {nd['rss']:.0f} MB "
            f"(target >= 3x at <= 100 MB); {'same users as jq' if same else 'DIFFERS from jq'}\n"
        )
        mlr_out = work / "mlr.csv"
        cs = measure(
            "CSV",
            "csv",
            csv_path,
            f"gzip -dc {csv_path} | mlr --csv filter '{args.mlr}' > {mlr_out}",
            "baseline: gzip -dc | mlr --csv filter",
            fields_of(csv_titles(csv_path)),
            args,
            work,
        )
        same = ids_of_csv(work / "exact.csv.gz", True, args.id_title) == ids_of_csv(
            mlr_out, False, args.id_title
        )
        exact_bytes = verify_subsequence(csv_path, work / "exact.csv.gz")
        print(
            f"  -> {cs['theirs'] / cs['ours']:.1f}x Miller's throughput at {cs['rss']:.0f} MB "
            f"(target >= 1x at <= 100 MB); {'same users as Miller' if same else 'DIFFERS'}; "
            f"rows {'byte-identical to the source' if exact_bytes else 'NOT byte-identical'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
