"""Import-ready JSON benchmark: an Auth0-style export converted into Auth0's bulk-import files.

Usage::

    uv run python bench/import_json.py                 # 1,000,000 users, files cached in var/bench/
    uv run python bench/import_json.py --users 200000  # smaller run

Each figure is printed beside its baseline, measured in the same run on the same file (the files
``bench/export.py`` generates, shared through ``var/bench/``):

- NDJSON: ``exports.importformat.import_files`` (parse every line, map the columns to Auth0's
  import attributes, strip ``auth0|``, nest metadata, validate every user against Auth0's import
  schema with jsonschema, cut 500 KB parts) against the same mapping in jq without the schema
  check or the parts: ``gzip -dc | jq -c -s 'map({user_id: (.Id|sub("^auth0\\\\|";"")), ...})'``;
- CSV: the same conversion against ``mlr --icsv --ojson`` renaming and cutting the same columns
  (Miller neither undoes Auth0's escaping nor nests metadata: a floor, not an equal).

Ours runs in a child process, so its peak RSS (VmHWM) is the worker's peak memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export import ROUNDS, child, mb, row, shell, write_export  # noqa: E402

# The columns of bench/export.py's files, as an export's fields (title -> Auth0 field).
CSV_FIELDS = [
    {"name": "user_id", "export_as": "Id"},
    {"name": "email"},
    {"name": "email_verified"},
    {"name": "name"},
    {"name": "nickname"},
    {"name": "identities[0].connection", "export_as": "Connection"},
    {"name": "created_at"},
    {"name": "updated_at"},
    {"name": "last_login"},
    {"name": "logins_count"},
    {"name": "blocked"},
    {"name": "user_metadata.plan", "export_as": "plan"},
]
NDJSON_FIELDS = [
    *CSV_FIELDS,
    {"name": "user_metadata"},
    {"name": "app_metadata"},
    {"name": "picture"},
    {"name": "identities"},
]
JQ_PROGRAM = (
    'map({user_id: (.Id | sub("^auth0\\\\|"; "")), email, email_verified, name, nickname, '
    "blocked, user_metadata, app_metadata, picture} | with_entries(select(.value != null)))"
)
MLR_VERBS = (
    "rename Id,user_id,plan,user_metadata.plan then "
    "cut -o -f user_id,email,email_verified,name,nickname,blocked,user_metadata.plan"
)

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()
from exports import formats
from exports.importformat import Part, import_files, plan
src, dest, fmt = sys.argv[2:5]
fields = json.loads(sys.argv[5])
the_plan = plan(fields, connection_id="con_Db1Pw2Xk9LmQ4RtZ", strategy="auth0")
started = time.perf_counter()
users = parts = rejected = size = 0
with open(src, "rb") as source, open(dest, "wb") as out:
    for piece in import_files(formats.get(fmt).rows(source), plan=the_plan):
        out.write(piece.data)
        size += len(piece.data)
        if isinstance(piece, Part):
            users += piece.users
            parts += 1
        else:
            rejected += piece.users
elapsed = time.perf_counter() - started
with open("/proc/self/status") as status:
    rss = next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "users": users, "parts": parts, "rejected": rejected,
    "bytes": size, "rss_mb": rss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    for tool in ("gzip", "jq", "mlr"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install -y gzip jq miller")
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="userdesk-import-bench-"))
    try:
        for fmt, fields in (("ndjson", NDJSON_FIELDS), ("csv", CSV_FIELDS)):
            path = args.dir / f"users-{args.users}.{'json' if fmt == 'ndjson' else 'csv'}.gz"
            if not path.exists():
                print(f"generating {path} ({args.users:,} users, {fmt}) ...", flush=True)
                write_export(path, fmt, args.users)
            if fmt == "ndjson":
                label = "baseline: gzip -dc | jq -c -s 'map({...})'"
                command = f"gzip -dc {path} | jq -c -s '{JQ_PROGRAM}' > {work / 'base.json'}"
            else:
                label = "baseline: gzip -dc | mlr --icsv --ojson rename, cut"
                command = f"gzip -dc {path} | mlr --icsv --ojson {MLR_VERBS} > {work / 'base.json'}"
            base_runs, ours = [], []
            for _ in range(args.rounds):
                base_runs.append(shell(command))
                ours.append(
                    child(_CHILD, str(path), str(work / "ours.json"), fmt, json.dumps(fields))
                )
            raw = sum(len(chunk) for chunk in _gunzipped(path))
            base_s = statistics.median(run.seconds for run in base_runs)
            ours_s = statistics.median(run["seconds"] for run in ours)
            first = ours[0]
            print(
                f"Import-ready JSON from {fmt.upper()} ({first['users']:,} users, {mb(raw):.1f} MB)"
            )
            row(label, base_s, mb(raw), max(run.rss_mb for run in base_runs))
            row(
                "import_files (validated, 500 KB parts)",
                ours_s,
                mb(raw),
                max(run["rss_mb"] for run in ours),
                f"{first['parts']} parts, {first['rejected']} refused, "
                f"{first['users'] / ours_s:,.0f} users/s",
            )
            print(f"  -> {base_s / ours_s:.2f}x the baseline's throughput\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _gunzipped(path: Path) -> Iterator[bytes]:

    with gzip.open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            yield chunk


if __name__ == "__main__":
    main()
