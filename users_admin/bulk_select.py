"""Choosing the users of a bulk run: a search query or an uploaded list, frozen as a snapshot.

A query's users are those an exact export of it keeps (exports.exact: any number of matches,
one snapshot of Auth0's data). A list's lines are user ids or email addresses, resolved against
one export of the whole tenant: never one lookup call per line; an email two users share, or
one nobody has, is listed as ambiguous or unknown, never guessed.

Interface::

    count = count_list(file)           # entries in the list; ListProblem for bad input
    export = snapshot_export(run)      # the export that freezes the run's users
    delay = advance(run_id)            # the worker's step: seconds to wait, or None when done
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import groupby
from operator import itemgetter
from typing import IO, Any

import msgspec
import orjson
from django.db import transaction
from django.utils import timezone

from exports import streams
from exports.formats import NDJSON
from exports.models import ACTIVE_STATUSES, Export, ExportSpec
from exports.tasks import create_export
from management_api.tenants import current_tenant_slug

from .bulk_rows import BlockWriter
from .models import BulkBlock, BulkEntry, BulkItem, BulkRun, BulkRunStatus

MAX_LIST_LINES = 1_000_000
# Bad lines quoted in the message (the rest are counted).
QUOTED_PROBLEMS = 5
# Lines one quoted cell of a CSV list may span.
QUOTED_LINES = 20
POLL_SECONDS = 2.0
# A selecting run nobody polled for this long is sent to a worker again.
STALL_SECONDS = 120
BATCH = 2000
# The snapshot inflated a megabyte at a time (a few thousand users decoded in one call).
SNAPSHOT_PIECE = 1 << 20
# What the actions and their preview read of each user.
SNAPSHOT_FIELDS = (
    "user_id",
    "email",
    "email_verified",
    "blocked",
    "identities",
    "multifactor",
    "updated_at",
    "app_metadata",
    "user_metadata",
)
HEADER_NAMES = {"user_id": "id", "id": "id", "user id": "id", "email": "email", "e-mail": "email"}
EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+\Z")
USER_ID = re.compile(r"[A-Za-z0-9_.:-]+\|\S+\Z")


def selection_key(source: str, query: str = "", file: IO[bytes] | None = None) -> str:
    """The same users: the same query, or a list file of the same bytes."""
    digest = hashlib.sha256(f"{source}:{query}:".encode())
    if file is not None:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
        file.seek(0)
    return digest.hexdigest()


def tenant_slug() -> str:
    """The tenant the rows belong to: the request's or the task's (management_api.tenants)."""
    return current_tenant_slug()


# --- the uploaded list ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListEntry:
    line: int
    kind: str  # "id" or "email"
    value: str  # an email is kept lower-cased (Auth0 stores them so)


class ListProblem(ValueError):
    """The list cannot be used; the message says which lines and why."""


def iter_list(file: IO[bytes]) -> Iterator[ListEntry]:
    """Every user id and email of a text or CSV file (one per line; in a CSV the column titled
    user_id, id or email, else the first), read as it streams: ListProblem, once the file is
    read, for an empty, too long or malformed one (after the good entries were yielded)."""
    bad: list[str] = []
    bad_count = 0
    any_entry = False
    # Records, not physical lines: a quoted CSV cell may hold line breaks.
    for count, (number, value) in enumerate(_cells(file), start=1):
        if count > MAX_LIST_LINES:
            raise ListProblem(f"The list has more than {MAX_LIST_LINES:,} lines; split it.")
        kind = _kind(value)
        if kind is None:
            bad_count += 1
            if len(bad) < QUOTED_PROBLEMS:
                bad.append(f"line {number}: “{value[:80]}”")
            continue
        any_entry = True
        yield ListEntry(number, kind, value.lower() if kind == "email" else value)
    if bad_count:
        more = f" and {bad_count - len(bad):,} more" if bad_count > len(bad) else ""
        raise ListProblem(
            "Each line must be one user id (such as auth0|123) or one email address; "
            f"these are neither: {'; '.join(bad)}{more}."
        )
    if not any_entry:
        raise ListProblem("The list is empty: one user id or email address per line.")


def read_list(file: IO[bytes]) -> list[ListEntry]:
    """iter_list's entries, all in memory: small lists only (tests)."""
    return list(iter_list(file))


def count_list(file: IO[bytes]) -> int:
    """How many entries the list holds, checked line by line in constant memory (the form);
    ListProblem as iter_list."""
    return sum(1 for _ in iter_list(file))


def _kind(value: str) -> str | None:
    if USER_ID.match(value):
        return "id"
    if EMAIL.match(value):
        return "email"
    return None


def _cells(file: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, value) of every non-blank record: its first cell, or the titled column's.
    A quoted cell may hold line breaks (a name in another column, as spreadsheet and database
    tools write them); one still open after QUOTED_LINES lines is refused."""
    reader = csv.reader(_text_lines(file))
    column = 0
    first = True
    number = 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise ListProblem(f"Line {number} cannot be read as CSV: {exc}.") from None
        if cells is None:
            return
        start, number = number, reader.line_num + 1
        if reader.line_num - start >= QUOTED_LINES:
            raise ListProblem(
                f"Line {start} opens a quoted cell that does not close within "
                f"{QUOTED_LINES} lines; close its quote."
            )
        if not any(cell.strip() for cell in cells):
            continue
        if first:
            first = False
            titles = [HEADER_NAMES.get(cell.strip().lower()) for cell in cells]
            if any(titles):
                column = next(i for i, title in enumerate(titles) if title)
                continue
        value = cells[column].strip() if column < len(cells) else ""
        yield start, value


def _text_lines(file: IO[bytes]) -> Iterator[str]:
    for number, raw in enumerate(file, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ListProblem(f"Line {number} is not UTF-8 text; save the list as UTF-8.") from None


# --- the snapshot --------------------------------------------------------------------------


def snapshot_export(run: BulkRun) -> Export:
    """Start the export that freezes the run's users (the query's matches, or the tenant)."""
    spec = ExportSpec(
        format=NDJSON.name,
        fields=[{"name": name} for name in SNAPSHOT_FIELDS],
        name=f"Users of bulk run #{run.pk}",
        match_query=run.query if run.source == BulkRun.Source.QUERY else "",
    )
    return create_export(spec, requested_by=None)


def advance(run_id: int) -> float | None:
    """The worker's step: wait for the snapshot, then record the run's users (again from
    scratch if a delivery was cut short: it all happens in one transaction)."""
    run = BulkRun.objects.select_related("export").filter(pk=run_id).first()
    if run is None or run.status != BulkRunStatus.SELECTING:
        return None
    export = run.export
    if export is None:
        _fail(run, "Its snapshot export was deleted before the users were read.")
        return None
    if export.status in ACTIVE_STATUSES:
        BulkRun.objects.filter(pk=run.pk).update(updated_at=timezone.now())
        return POLL_SECONDS
    if not export.is_ready:
        reason = export.failure_reason or export.get_status_display()
        _fail(run, f"The snapshot of the users (export #{export.pk}) did not finish: {reason}")
        return None
    with transaction.atomic():
        locked = BulkRun.objects.select_for_update().filter(
            pk=run.pk, status=BulkRunStatus.SELECTING
        )
        if not locked.exists():
            return None
        BulkItem.objects.filter(run=run).delete()
        BulkBlock.objects.filter(run=run).delete()
        BulkEntry.objects.filter(run=run).delete()
        with export.open_file() as raw:
            users = snapshot_lines(streams.inflate(streams.chunks(raw), piece=SNAPSHOT_PIECE))
            if run.source == BulkRun.Source.QUERY:
                counts = _store_items(run, users)
            else:
                with run.list_file.open("rb") as listed:
                    counts = _store_resolved(run, iter_list(listed), users)
        locked.update(
            status=BulkRunStatus.SELECTED,
            snapshot_at=export.auth0_job_created_at or export.ready_at,
            updated_at=timezone.now(),
            **counts,
        )
    return None


def _fail(run: BulkRun, reason: str) -> None:
    BulkRun.objects.filter(pk=run.pk, status=BulkRunStatus.SELECTING).update(
        status=BulkRunStatus.FAILED, failure_reason=reason, updated_at=timezone.now()
    )


# A snapshot's user as a block keeps it (users_admin.bulk_rows): the identities' four fields,
# every other field's JSON as the export wrote it (not decoded), the id and email taken out.
_Kept = msgspec.Raw | msgspec.UnsetType
_TAKEN_OUT = ("user_id", "email", "identities")
_Identity = msgspec.defstruct(
    "_Identity",
    [(n, _Kept, msgspec.UNSET) for n in ("connection", "provider", "user_id", "isSocial")],
)
_Snapshot = msgspec.defstruct(
    "_Snapshot",
    [
        ("user_id", Any, None),
        ("email", Any, None),
        ("identities", list[_Identity] | None, None),  # type: ignore[valid-type]
        *((n, _Kept, msgspec.UNSET) for n in SNAPSHOT_FIELDS if n not in _TAKEN_OUT),
    ],
    forbid_unknown_fields=True,
)
_decode_snapshot = msgspec.json.Decoder(list[_Snapshot])  # type: ignore[valid-type]
_encode = msgspec.json.Encoder().encode


def snapshot_lines(pieces: Iterable[bytes]) -> Iterator[list[tuple[bytes, str, str]]]:
    """The snapshot's users a few thousand at a time, each (its line as a block keeps it:
    ``[user id, email, profile]``, user id, email), from the export's inflated pieces. A batch of
    lines is decoded in one call; one that cannot be (a blank line, a field the snapshot does not
    ask for, an odd identity) is read line by line (profile_of)."""
    for block in streams.records(pieces, quoted=False):
        try:
            records: list[Any] = _decode_snapshot.decode(
                b"".join((b"[", block.rstrip(b"\n").replace(b"\n", b","), b"]"))
            )
        except msgspec.DecodeError:
            yield [_line(orjson.loads(line)) for line in block.split(b"\n") if line.strip()]
            continue
        users = []
        for record in records:
            user_id, email = record.user_id, record.email
            user_id = user_id if type(user_id) is str else str(user_id or "")
            email = email if type(email) is str else str(email or "")
            record.user_id = record.email = msgspec.UNSET  # left out of the profile
            if record.identities is None:
                record.identities = []
            users.append((_encode((user_id, email, record)), user_id, email))
        yield users


def _line(record: dict[str, Any]) -> tuple[bytes, str, str]:
    user_id = str(record.get("user_id") or "")
    email = str(record.get("email") or "")
    return orjson.dumps((user_id, email, profile_of(record))), user_id, email


def profile_of(record: dict[str, Any]) -> dict[str, Any]:
    """What an item keeps of a user: the snapshot's fields, identities without profile data."""
    kept = {k: v for k, v in record.items() if k not in ("user_id", "email", "identities")}
    kept["identities"] = [
        {k: i.get(k) for k in ("connection", "provider", "user_id", "isSocial") if k in i}
        for i in record.get("identities") or []
        if isinstance(i, dict)
    ]
    return kept


def _store_items(run: BulkRun, users: Iterable[list[tuple[bytes, str, str]]]) -> dict[str, int]:
    """Every user of the snapshot, in its order (a query's run)."""
    with BlockWriter(run) as writer:
        for batch in users:
            for line, _, _ in batch:
                writer.add_line(line)
    return {
        "selected_count": writer.count,
        "unknown_count": 0,
        "ambiguous_count": 0,
        "duplicate_count": 0,
    }


def _store_resolved(
    run: BulkRun, entries: Iterable[ListEntry], users: Iterable[list[tuple[bytes, str, str]]]
) -> dict[str, int]:
    """The list's users in its order, in constant memory whatever the list's and the tenant's
    sizes, reading the snapshot once: the entries and the snapshot's users go to a scratch
    SQLite file (Resolver), which joins them in the list's order."""
    with Resolver() as resolver:
        resolver.add_entries(entries)
        resolver.add_users(users)
        return _store_joined(run, resolver)


def _store_joined(run: BulkRun, resolver: Resolver) -> dict[str, int]:
    problems: list[BulkEntry] = []
    counts: Counter[str] = Counter()
    with BlockWriter(run) as writer:
        for entry, found in resolver.joined():
            if len(found) != 1:
                problem = BulkEntry.Problem.AMBIGUOUS if found else BulkEntry.Problem.UNKNOWN
                counts[problem] += 1
                problems.append(
                    BulkEntry(
                        run=run,
                        line=entry.line,
                        entry=entry.value[:500],
                        problem=problem,
                        candidates=sorted(resolver.user_id(*user[1:]) for user in found),
                    )
                )
                if len(problems) >= BATCH:
                    BulkEntry.objects.bulk_create(problems)
                    problems = []
            elif not resolver.first_time(found[0][0]):
                counts["duplicate"] += 1
            else:
                writer.add_line(resolver.line(*found[0][1:]))
    BulkEntry.objects.bulk_create(problems)
    return {
        "selected_count": writer.count,
        "unknown_count": counts[BulkEntry.Problem.UNKNOWN],
        "ambiguous_count": counts[BulkEntry.Problem.AMBIGUOUS],
        "duplicate_count": counts["duplicate"],
    }


class Resolver:
    """Scratch files (deleted on exit) where a list's entries meet the snapshot's users: memory
    stays at SQLite's page cache and a few rows, whether the list has ten lines or a million and
    the tenant ten users or millions.

    In SQLite, ``listed`` holds the entries (line, kind, value), ``snap`` every user of the
    snapshot, read once: its number, user id, email in lower case (a list's key) and where its
    line is, indexed once written so that the join reads the indexes alone. The lines (each
    user as a block keeps it) go to a flat file beside, in the snapshot's order; ``seen`` marks
    the users taken already (a user listed twice counts once), one byte a snapshot user."""

    def __enter__(self) -> Resolver:
        self._dir = tempfile.TemporaryDirectory(prefix="userdesk-bulk-select-")
        self.db = sqlite3.connect(os.path.join(self._dir.name, "resolve.sqlite3"))
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;
            PRAGMA temp_store=FILE;
            CREATE TABLE listed (line INTEGER PRIMARY KEY, kind TEXT, value TEXT);
            CREATE TABLE snap (
                id INTEGER PRIMARY KEY, user_id TEXT, key TEXT, start INTEGER, size INTEGER
            );
            """
        )
        self.lines = open(os.path.join(self._dir.name, "lines"), "w+b")
        self.seen = bytearray()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lines.close()
        self.db.close()
        self._dir.cleanup()

    def add_entries(self, entries: Iterable[ListEntry]) -> None:
        rows = ((e.line, e.kind, e.value) for e in entries)
        self.db.executemany("INSERT INTO listed VALUES (?, ?, ?)", rows)

    def add_users(self, users: Iterable[list[tuple[bytes, str, str]]]) -> None:
        """Every user of the snapshot (snapshot_lines), in one pass."""
        number = start = 0
        for batch in users:
            rows = []
            for line, user_id, email in batch:
                rows.append((number, user_id, email.lower() or None, start, len(line)))
                start += len(line)
                number += 1
            self.db.executemany("INSERT INTO snap VALUES (?, ?, ?, ?, ?)", rows)
            self.lines.write(b"".join(line for line, _, _ in batch))
        self.lines.flush()
        self.db.executescript(
            "CREATE INDEX snap_user ON snap (user_id, start, size);"
            "CREATE INDEX snap_key ON snap (key, start, size);"
        )
        self.seen = bytearray(number)

    def joined(self) -> Iterator[tuple[ListEntry, list[tuple[int, int, int]]]]:
        """Each entry in the list's order with the users it names (none, one or several): their
        numbers in the snapshot, where their lines start and their sizes."""
        rows = self.db.execute(
            "SELECT l.line, l.kind, l.value, coalesce(a.id, b.id), coalesce(a.start, b.start),"
            " coalesce(a.size, b.size)"
            " FROM listed AS l"
            " LEFT JOIN snap AS a ON l.kind = 'id' AND a.user_id = l.value"
            " LEFT JOIN snap AS b ON l.kind = 'email' AND b.key = l.value"
            " ORDER BY l.line"
        )
        for (line, kind, value), group in groupby(rows, key=itemgetter(0, 1, 2)):
            found = [row[3:] for row in group if row[3] is not None]
            yield ListEntry(line, kind, value), found

    def line(self, start: int, size: int) -> bytes:
        """A snapshot user's line (as a block keeps it), where joined says it is."""
        return os.pread(self.lines.fileno(), size, start)

    def user_id(self, start: int, size: int) -> str:
        return str(orjson.loads(self.line(start, size))[0])

    def first_time(self, number: int) -> bool:
        """Whether the snapshot's user `number` was not taken before (and is taken now)."""
        if self.seen[number]:
            return False
        self.seen[number] = 1
        return True


def stalled_selections() -> list[int]:
    """Runs still selecting that no worker has polled for a while (touched, so a concurrent
    sweep does not send them too)."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=STALL_SECONDS)
    found = []
    stale = BulkRun.objects.filter(status=BulkRunStatus.SELECTING, updated_at__lt=cutoff)
    for run_id, updated in stale.values_list("pk", "updated_at"):
        if BulkRun.objects.filter(pk=run_id, updated_at=updated).update(updated_at=now):
            found.append(run_id)
    return found
