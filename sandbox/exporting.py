"""The export file writer: a plain function the job runner calls and the bench times.

Rows are streamed with raw SQL over `profile` (one `json.loads` each) and written through gzip,
so a million users stay within a minute and a few megabytes of memory.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import connections

from sandbox.routers import SANDBOX_DB

# Used when a job names no fields: the normalized profile fields (all CSV-safe).
DEFAULT_FIELDS: tuple[str, ...] = (
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "identities[0].connection",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "blocked",
)
# Dates Auth0 generates itself: written raw in CSV, exempt from the string escaping.
AUTH0_DATES = frozenset(
    {"created_at", "updated_at", "last_login", "last_password_reset", "multifactor_last_modified"}
)
PATH_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")
FETCH_ROWS = 2000
FLUSH_CHARS = 1 << 20

Step = str | int


class FieldPathError(ValueError):
    pass


def parse_path(name: str) -> tuple[Step, ...]:
    """`identities[0].connection` -> ("identities", 0, "connection")."""
    steps: list[Step] = []
    for part in name.split("."):
        match = PATH_SEGMENT.fullmatch(part)
        if not match:
            raise FieldPathError(f"{name!r} is not a field path like identities[0].connection")
        steps.append(match.group(1))
        steps.extend(int(index) for index in re.findall(r"\[(\d+)\]", match.group(2)))
    return tuple(steps)


_MISSING = object()


def _lookup(profile: Any, steps: tuple[Step, ...]) -> Any:
    value = profile
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
    return value


def csv_string(text: str) -> str:
    """Auth0's OWASP rule for strings: double the quotes, prefix `'`, wrap in quotes."""
    return "\"'" + text.replace('"', '""') + '"'


def csv_cell(value: Any, *, raw_date: bool = False) -> str:
    if value is _MISSING or value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value if raw_date else csv_string(value)
    # An array or object that slipped past validation: its JSON text, escaped as a string.
    return csv_string(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def csv_header(title: str) -> str:
    """Header cells are plain RFC 4180 (quoted only when needed), not formula-escaped."""
    if any(char in title for char in ',"\r\n'):
        return '"' + title.replace('"', '""') + '"'
    return title


def _rows(connection_name: str | None) -> Iterator[dict[str, Any]]:
    sql = "SELECT profile FROM sandbox_tenantuser"
    params: list[Any] = []
    if connection_name:
        # A cheap textual pre-filter; the identities are checked exactly below.
        sql += " WHERE instr(profile, %s) > 0"
        params.append(json.dumps(connection_name))
    sql += " ORDER BY id"
    with connections[SANDBOX_DB].cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_ROWS):
            for (text,) in batch:
                profile = json.loads(text)
                if connection_name and not any(
                    identity.get("connection") == connection_name
                    for identity in profile.get("identities") or ()
                ):
                    continue
                yield profile


def write_export(
    dest_path: Path | str,
    *,
    fmt: str,
    fields: list[dict[str, str]] | None = None,
    limit: int | None = None,
    connection_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    compresslevel: int = 4,
) -> int:
    """Write the gzip export file and return the number of users written.

    `fields` is the job's list of `{name, export_as?}` (None = DEFAULT_FIELDS). The file is
    written under a temporary name and renamed into place when complete.
    """
    specs = fields or [{"name": name} for name in DEFAULT_FIELDS]
    columns = [
        (
            spec.get("export_as") or spec["name"],
            parse_path(spec["name"]),
            spec["name"] in AUTH0_DATES,
        )
        for spec in specs
    ]
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    written = 0
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(
            filename=dest.name.removesuffix(".gz"),
            mode="wb",
            fileobj=raw,
            compresslevel=compresslevel,
        ) as packed,
    ):
        chunk: list[str] = []
        size = 0
        if fmt == "csv":
            chunk.append(",".join(csv_header(title) for title, _, _ in columns) + "\n")
        for profile in _rows(connection_name):
            if limit is not None and written >= limit:
                break
            if fmt == "csv":
                line = (
                    ",".join(
                        csv_cell(_lookup(profile, steps), raw_date=raw_date)
                        for _, steps, raw_date in columns
                    )
                    + "\n"
                )
            else:
                record = {}
                for title, steps, _ in columns:
                    value = _lookup(profile, steps)
                    if value is not _MISSING:
                        record[title] = value
                line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            chunk.append(line)
            size += len(line)
            written += 1
            if size >= FLUSH_CHARS:
                packed.write("".join(chunk).encode("utf-8"))
                chunk, size = [], 0
                if progress:
                    progress(written)
        packed.write("".join(chunk).encode("utf-8"))
    os.replace(partial, dest)
    if progress:
        progress(written)
    return written
