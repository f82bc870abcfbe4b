"""Cut the part of Auth0's Management API definition that the sandbox emulates.

    uv run python sandbox/oas/extract.py path/to/auth0-management-api-oas.yml

reads Auth0's whole OpenAPI 3.1 definition (2.3 MB) and writes `sandbox/oas/emulated.yml`: the
operations in `EMULATED` below, every component schema they reach, and the security schemes,
unchanged. The fuzz test (`tests/sandbox/test_oas.py`) reads only that file, so the repository
carries what its tests need. Add an operation here when the sandbox learns one, and rerun.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "emulated.yml"

# (path, method) of every Management API operation the sandbox answers.
EMULATED: tuple[tuple[str, str], ...] = (
    ("/users", "get"),
    ("/users", "post"),
    ("/users-by-email", "get"),
    ("/users/{id}", "get"),
    ("/users/{id}", "patch"),
    ("/connections", "get"),
    ("/jobs/users-exports", "post"),
    ("/jobs/users-imports", "post"),
    ("/jobs/{id}", "get"),
    ("/jobs/{id}/errors", "get"),
    # Support actions.
    ("/users/{id}", "delete"),
    ("/users/{id}/logs", "get"),
    ("/users/{id}/authentication-methods", "get"),
    ("/users/{id}/authentication-methods", "delete"),
    ("/users/{id}/authentication-methods/{authentication_method_id}", "get"),
    ("/users/{id}/authentication-methods/{authentication_method_id}", "delete"),
    ("/users/{id}/multifactor/actions/invalidate-remember-browser", "post"),
    ("/users/{user_id}/sessions", "get"),
    ("/users/{user_id}/sessions", "delete"),
    ("/users/{user_id}/refresh-tokens", "get"),
    ("/users/{user_id}/refresh-tokens", "delete"),
    ("/users/{id}/revoke-access", "post"),
    ("/user-blocks", "get"),
    ("/user-blocks", "delete"),
    ("/user-blocks/{id}", "get"),
    ("/user-blocks/{id}", "delete"),
    ("/connections/{id}", "get"),
    ("/jobs/verification-email", "post"),
    ("/tickets/password-change", "post"),
    ("/logs", "get"),
    ("/sessions/{id}", "get"),
    ("/sessions/{id}", "delete"),
    ("/sessions/{id}/revoke", "post"),
    # Roles, permissions, organizations, one refresh token (issue 22).
    ("/roles", "get"),
    ("/roles/{id}", "get"),
    ("/users/{id}/roles", "get"),
    ("/users/{id}/roles", "post"),
    ("/users/{id}/roles", "delete"),
    ("/users/{id}/permissions", "get"),
    ("/users/{id}/permissions", "post"),
    ("/users/{id}/permissions", "delete"),
    ("/users/{id}/organizations", "get"),
    ("/organizations/{id}/members", "get"),
    ("/organizations/{id}/members", "post"),
    ("/organizations/{id}/members", "delete"),
    ("/organizations/{id}/members/{user_id}/roles", "get"),
    ("/organizations/{id}/members/{user_id}/roles", "post"),
    ("/organizations/{id}/members/{user_id}/roles", "delete"),
    ("/refresh-tokens/{id}", "get"),
    ("/refresh-tokens/{id}", "delete"),
    # Linking and unlinking accounts (sandbox.identities_api).
    ("/users/{id}/identities", "post"),
    ("/users/{id}/identities/{provider}/{user_id}", "delete"),
    # Creating what the recorded exchanges name: connections, roles, resource servers.
    ("/connections", "post"),
    ("/connections/{id}", "patch"),
    ("/connections/{id}", "delete"),
    ("/roles", "post"),
    ("/roles/{id}", "patch"),
    ("/roles/{id}", "delete"),
    ("/resource-servers", "post"),
    ("/resource-servers/{id}", "get"),
    ("/resource-servers/{id}", "delete"),
)
SCHEMA_PREFIX = "#/components/schemas/"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def extract(full: dict[str, Any]) -> dict[str, Any]:
    """The definition cut down to `EMULATED` and the schemas those operations reach."""
    paths: dict[str, dict[str, Any]] = {}
    for path, method in EMULATED:
        item = full["paths"][path]
        paths.setdefault(path, {})[method] = item[method]
        if "parameters" in item:
            paths[path]["parameters"] = item["parameters"]
    all_schemas = full["components"]["schemas"]
    wanted: dict[str, Any] = {}
    pending = list(_refs(paths))
    while pending:
        ref = pending.pop()
        if not ref.startswith(SCHEMA_PREFIX):
            raise ValueError(f"unexpected reference {ref}")
        name = ref.removeprefix(SCHEMA_PREFIX)
        if name in wanted:
            continue
        wanted[name] = all_schemas[name]
        pending.extend(_refs(wanted[name]))
    return {
        "openapi": full["openapi"],
        "info": full["info"],
        "servers": full["servers"],
        "security": full["security"],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(wanted.items())),
            "securitySchemes": full["components"]["securitySchemes"],
        },
    }


def header(source: Path, full_text: str) -> str:
    """The source note: the full file's own header lines say where Auth0 published it."""
    origin = [line for line in full_text.splitlines()[:5] if line.startswith("#")]
    return "\n".join(
        [
            "# GENERATED by sandbox/oas/extract.py from Auth0's Management API definition",
            f"# ({source.name}); do not edit by hand. The operations the sandbox emulates and the",
            "# schemas they use, unchanged. The full file's own header:",
            *origin,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("definition", type=Path, help="Auth0's full management-api-oas.yml")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = args.definition.read_text(encoding="utf-8")
    full = yaml.load(text, Loader=yaml.CSafeLoader)  # the C twin of safe_load
    cut = extract(full)
    body = yaml.safe_dump(cut, sort_keys=False, allow_unicode=True, width=100)
    args.output.write_text(header(args.definition, text) + body, encoding="utf-8")
    print(f"{args.output}: {len(EMULATED)} operations, {len(cut['components']['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
