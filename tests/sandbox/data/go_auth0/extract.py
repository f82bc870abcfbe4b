"""Extract the go-auth0 recorded exchanges on the endpoints the sandbox emulates (or will).

    uv run python tests/sandbox/data/go_auth0/extract.py path/to/go-auth0/test/data/recordings

reads the go-vcr cassettes of `auth0/go-auth0` at tag v1.45.0 (`test/data/recordings/*.yaml`,
recorded against a live tenant; MIT licence, `LICENSE` beside this file) and writes
`interactions.json` here: for each cassette, in order, every exchange on `/users*`,
`/users-by-email`, `/connections` (the list and one connection), `/roles` (the list and one
role), `/resource-servers` (created, read and deleted), `/jobs/*`, `/user-blocks*` and
`/tickets/*` with its method, path and query, request body and content type, status, response
body and content type, unmodified. `tests/sandbox/test_replay.py` replays them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "interactions.json"
KEPT = re.compile(
    r"^/api/v2/(users($|/)|users-by-email$|connections($|/con_[A-Za-z0-9]+$)|roles($|/rol_[A-Za-z0-9]+$)"
    r"|resource-servers($|/[^/]+$)|jobs/|user-blocks|tickets/)"
)


def _kept(method: str, path: str) -> bool:
    if not KEPT.match(path):
        return False
    if path.startswith("/api/v2/resource-servers/"):
        return method in ("GET", "DELETE")  # changing one is not emulated
    if path == "/api/v2/resource-servers":
        return method == "POST"  # nor is the list
    return True


def _header(headers: dict[str, list[str]], name: str) -> str:
    for key, values in (headers or {}).items():
        if key.lower() == name.lower() and values:
            return str(values[0])
    return ""


def extract(recordings: Path) -> dict[str, Any]:
    cassettes: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(recordings.rglob("*.yaml")):
        cassette = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        kept = []
        for interaction in cassette.get("interactions") or []:
            request, response = interaction["request"], interaction["response"]
            url = urlsplit(request["url"])
            if not _kept(request["method"], url.path):
                continue
            kept.append(
                {
                    "id": interaction["id"],
                    "method": request["method"],
                    "path": url.path,
                    "query": url.query,
                    "request_content_type": _header(request.get("headers"), "Content-Type"),
                    "request_body": request.get("body") or "",
                    "status": response["code"],
                    "content_type": _header(response.get("headers"), "Content-Type"),
                    "body": response.get("body") or "",
                }
            )
        if kept:
            cassettes[str(path.relative_to(recordings))] = kept
    return {
        "source": (
            "auth0/go-auth0 v1.45.0 test/data/recordings (go-vcr cassettes recorded against a live "
            "Auth0 tenant; MIT licence, see LICENSE); extracted by "
            "tests/sandbox/data/go_auth0/extract.py"
        ),
        "cassettes": cassettes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", type=Path, help="folder of go-auth0's *.yaml recordings")
    args = parser.parse_args(argv)
    data = extract(args.recordings)
    OUTPUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    count = sum(len(kept) for kept in data["cassettes"].values())
    print(f"{OUTPUT}: {count} exchanges from {len(data['cassettes'])} cassettes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
