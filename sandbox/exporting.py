"""The export file writer: a plain function the job runner calls and the bench times.

Rows are streamed with raw SQL over `profile` (one orjson parse each) and written through gzip,
so a million users stay within a minute and a few megabytes of memory.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
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
FLUSH_BYTES = 1 << 20

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


def _getter(steps: tuple[Step, ...]) -> Callable[[dict[str, Any]], Any]:
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]
        return lambda profile: profile.get(key, _MISSING)
    return lambda profile: _lookup(profile, steps)


def csv_string(text: str) -> str:
    """Auth0's OWASP rule for strings: double the quotes, prefix `'`, wrap in quotes."""
    return "\"'" + text.replace('"', '""') + '"'


def _non_string_cell(value: Any) -> str:
    if value is None or value is _MISSING:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    # An array or object that slipped past validation: its JSON text, escaped as a string.
    return csv_string(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def csv_cell(value: Any, *, raw_date: bool = False) -> str:
    if type(value) is str:
        return value if raw_date else "\"'" + value.replace('"', '""') + '"'
    return _non_string_cell(value)


def _csv_column(name: str) -> Callable[[dict[str, Any]], str]:
    """A fast cell maker for one column (the hot loop of a million-row export)."""
    steps = parse_path(name)
    raw_date = name in AUTH0_DATES
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]
        if raw_date:

            def date_cell(profile: dict[str, Any]) -> str:
                value = profile.get(key)
                return value if type(value) is str else _non_string_cell(value)

            return date_cell

        def cell(profile: dict[str, Any]) -> str:
            value = profile.get(key)
            if type(value) is str:
                return "\"'" + value.replace('"', '""') + '"'
            return _non_string_cell(value)

        return cell
    return lambda profile: csv_cell(_lookup(profile, steps), raw_date=raw_date)


def csv_header(title: str) -> str:
    """Header cells are plain RFC 4180 (quoted only when needed), not formula-escaped."""
    if any(char in title for char in ',"\r\n'):
        return '"' + title.replace('"', '""') + '"'
    return title


def _rows(connection_name: str | None) -> Iterator[dict[str, Any]]:
    # Batches by id, each read whole and its statement closed before any row is yielded: an
    # open read would pin this connection to an old snapshot, and the job's own progress write
    # on it then fails with "database is locked" once another job has written meanwhile.
    sql = "SELECT id, profile FROM sandbox_tenantuser WHERE id > %s"
    params: list[Any] = []
    if connection_name:
        # A cheap textual pre-filter; the identities are checked exactly below.
        sql += " AND instr(profile, %s) > 0"
        params.append(json.dumps(connection_name))
    sql += f" ORDER BY id LIMIT {FETCH_ROWS}"
    last = 0
    while True:
        with connections[SANDBOX_DB].cursor() as cursor:
            cursor.execute(sql, [last, *params])
            batch = cursor.fetchall()
        if not batch:
            return
        last = batch[-1][0]
        for _, text in batch:
            profile = orjson.loads(text)
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
    compresslevel: int = 3,
    rows_per_second: float = 0,
) -> int:
    """Write the gzip export file and return the number of users written.

    `fields` is the job's list of `{name, export_as?}` (None = DEFAULT_FIELDS). The file is
    written under a temporary name and renamed into place when complete. `rows_per_second`
    slows the writer down on purpose (the `job_rows_per_second` switch), so a job's progress
    can be watched.
    """
    specs = fields or [{"name": name} for name in DEFAULT_FIELDS]
    columns = [
        (spec.get("export_as") or spec["name"], _getter(parse_path(spec["name"]))) for spec in specs
    ]
    makers = [_csv_column(spec["name"]) for spec in specs]
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    written = 0
    pace_every = max(1, int(rows_per_second / 10)) if rows_per_second > 0 else 0
    started = time.monotonic()
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(
            filename=dest.name.removesuffix(".gz"),
            mode="wb",
            fileobj=raw,
            compresslevel=compresslevel,
        ) as packed,
    ):
        chunk: list[bytes] = []
        size = 0
        if fmt == "csv":
            chunk.append((",".join(csv_header(title) for title, _ in columns) + "\n").encode())
        for profile in _rows(connection_name):
            if limit is not None and written >= limit:
                break
            if fmt == "csv":
                line = (",".join([make(profile) for make in makers]) + "\n").encode("utf-8")
            else:
                record = {}
                for title, get in columns:
                    value = get(profile)
                    if value is not _MISSING:
                        record[title] = value
                line = orjson.dumps(record) + b"\n"
            chunk.append(line)
            size += len(line)
            written += 1
            if pace_every and written % pace_every == 0:
                time.sleep(max(0.0, started + written / rows_per_second - time.monotonic()))
            if size >= FLUSH_BYTES or (pace_every and written % pace_every == 0):
                packed.write(b"".join(chunk))
                chunk, size = [], 0
                if progress:
                    progress(written)
        packed.write(b"".join(chunk))
    os.replace(partial, dest)
    if progress:
        progress(written)
    return written
