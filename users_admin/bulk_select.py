"""Choosing the users of a bulk run: a search query or an uploaded list, frozen as a snapshot.

A query's users are those an exact export of it keeps (exports.exact: any number of matches,
one snapshot of Auth0's data). A list's lines are user ids or email addresses, resolved against
one export of the whole tenant: never one lookup call per line; an email two users share, or
one nobody has, is listed as ambiguous or unknown, never guessed.

The list itself is read by users_admin.bulk_list.

Interface::

    export = snapshot_export(run)      # the export that freezes the run's users
    delay = advance(run_id)            # the worker's step: seconds to wait, or None when done
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from itertools import accumulate, count
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec
import orjson
from django.db import transaction
from django.utils import timezone

from exports import streams
from exports.formats import NDJSON
from exports.models import ACTIVE_STATUSES, Export, ExportSpec
from exports.tasks import create_export
from management_api.tenants import current_tenant_slug

from .bulk_list import LIST_PIECE, ListProblem
from .bulk_rows import BLOCK, BlockWriter
from .models import BulkBlock, BulkEntry, BulkItem, BulkRun, BulkRunStatus

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
            pieces = streams.inflate(streams.chunks(raw), piece=SNAPSHOT_PIECE)
            if run.source == BulkRun.Source.QUERY:
                counts = _store_items(run, pieces)
            else:
                with run.list_file.open("rb") as listed:
                    counts = _store_resolved(run, listed, snapshot_lines(pieces))
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


class Users(NamedTuple):
    """Some of the snapshot's users, in order: their lines as the export wrote them (a block
    keeps them so), user ids and emails."""

    lines: list[bytes]
    user_ids: list[str]
    emails: list[str]


class _IdEmail(msgspec.Struct):
    user_id: str | None = None
    email: str | None = None


_decode_ids = msgspec.json.Decoder(list[_IdEmail])


def snapshot_lines(pieces: Iterable[bytes]) -> Iterator[Users]:
    """The snapshot's users a few thousand at a time, from the export's inflated pieces: a
    batch's user ids and emails are read in one call (the rest of each line skipped unread);
    one that cannot be (a blank line, an id that is not a string) is read line by line."""
    for block in streams.records(pieces, quoted=False):
        body = block.rstrip(b"\n")
        try:
            records = _decode_ids.decode(b"".join((b"[", body.replace(b"\n", b","), b"]")))
        except msgspec.DecodeError:
            yield _read_each(body)
            continue
        yield Users(
            body.split(b"\n"),
            [record.user_id or "" for record in records],
            [record.email or "" for record in records],
        )


def _read_each(body: bytes) -> Users:
    users = Users([], [], [])
    for line in body.split(b"\n"):
        if line.strip():
            record = orjson.loads(line)
            users.lines.append(line.strip())
            users.user_ids.append(str(record.get("user_id") or ""))
            users.emails.append(str(record.get("email") or ""))
    return users


def _store_items(run: BulkRun, pieces: Iterable[bytes]) -> dict[str, int]:
    """Every user of the snapshot, in its order, as its line (a query's run: nothing decoded)."""
    with BlockWriter(run) as writer:
        for block in streams.records(pieces, quoted=False):
            writer.add_lines([line for line in block.split(b"\n") if line.strip()])
    return {
        "selected_count": writer.count,
        "unknown_count": 0,
        "ambiguous_count": 0,
        "duplicate_count": 0,
    }


def _store_resolved(run: BulkRun, listed: IO[bytes], users: Iterable[Users]) -> dict[str, int]:
    """The list's users in its order, in constant memory whatever the list's and the tenant's
    sizes, reading the snapshot once: the entries and the snapshot's users go to scratch
    SQLite files (Resolver), joined in the list's order. The list is read by a process of its
    own while this one reads the snapshot."""
    with Resolver() as resolver:
        resolver.read_list(listed)
        resolver.add_users(users)
        resolver.join_list()
        return _store_joined(run, resolver)


def _store_joined(run: BulkRun, resolver: Resolver) -> dict[str, int]:
    """The join in a thread of its own, while this one compresses and saves the users' lines
    it finds and the entries' problems, in the selection's transaction (compressing and
    waiting on the database let the other thread go on)."""
    counts: Counter[str] = Counter()
    with BlockWriter(run) as writer:
        for made in _made_aside(lambda put: _join(run, resolver, put, counts)):
            if isinstance(made, Users):
                writer.add_lines(made.lines)
            else:
                BulkEntry.objects.bulk_create(made)
    return {
        "selected_count": writer.count,
        "unknown_count": counts[BulkEntry.Problem.UNKNOWN],
        "ambiguous_count": counts[BulkEntry.Problem.AMBIGUOUS],
        "duplicate_count": counts["duplicate"],
    }


def _join(
    run: BulkRun,
    resolver: Resolver,
    put: Callable[[Users | list[BulkEntry]], None],
    counts: Counter[str],
) -> None:
    """Each list entry in order: its user's line (a block's worth at a time), or its problem."""
    problems: list[tuple[int, int]] = []
    seen = bytearray(resolver.users)
    wanted: list[tuple[int, int]] = []
    for line, found, number, start, size in resolver.joined():
        if found == 1:
            if seen[number]:
                counts["duplicate"] += 1
                continue
            seen[number] = 1
            wanted.append((start, size))
            if len(wanted) >= BLOCK:
                put(Users(resolver.lines_at(wanted), [], []))
                wanted = []
            continue
        problems.append((line, found))
        if len(problems) >= BATCH:
            put(_problems(run, resolver, problems, counts))
            problems = []
    put(Users(resolver.lines_at(wanted), [], []))
    if problems:
        put(_problems(run, resolver, problems, counts))


def _problems(
    run: BulkRun,
    resolver: Resolver,
    problems: list[tuple[int, int]],
    counts: Counter[str],
) -> list[BulkEntry]:
    """The entries (line, users named) that name no user or several (with their user ids,
    never guessed)."""
    listed = resolver.entries([line for line, _ in problems])
    candidates = resolver.candidates([listed[line] for line, found in problems if found])
    entries = []
    for line, found in problems:
        kind, value = listed[line]
        problem = BulkEntry.Problem.AMBIGUOUS if found else BulkEntry.Problem.UNKNOWN
        counts[problem] += 1
        entries.append(
            BulkEntry(
                run=run,
                line=line,
                entry=value[:500],
                problem=problem,
                candidates=sorted(candidates.get((kind, value), ())),
            )
        )
    return entries


_DONE = object()
# Items a thread makes ahead of the one that takes them.
AHEAD = 4


class _Stopped(Exception):
    """The taker stopped taking (it failed, or stopped early)."""


def _made_aside(produce: Callable[[Callable[[Any], None]], None]) -> Iterator[Any]:
    """What `produce` puts, as it puts it, made in a thread of its own (a few items ahead);
    its exception is raised here, and it is stopped if the taker stops."""
    made: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                made.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def run() -> None:
        try:
            produce(put)
            put(_DONE)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the taker, raised there
            with contextlib.suppress(_Stopped):
                put(exc)

    thread = threading.Thread(target=run, name="bulk-select", daemon=True)
    thread.start()
    try:
        while (item := made.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class Resolver:
    """Scratch files (deleted on exit) where a list's entries meet the snapshot's users: memory
    stays at SQLite's page cache and a few rows, whether the list has ten lines or a million and
    the tenant ten users or millions.

    In SQLite, ``listed`` holds the entries (line, kind, value; users_admin.bulk_list writes
    it in a file of its own, in a process of its own: read_list, then join_list), ``snap``
    every user of the snapshot, read once: its number, user id, email in lower case (a list's
    key) and where its line is, indexed once written (by the user id and by the email, only
    where the list has such entries) so that the join reads the indexes alone. The lines (each
    user as a block keeps it) go to a flat file beside, in the snapshot's order."""

    def __enter__(self) -> Resolver:
        self._dir = tempfile.TemporaryDirectory(prefix="userdesk-bulk-select-")
        # The join runs in a thread of its own (_store_joined), one thread at a time.
        self.db = sqlite3.connect(self._path("resolve.sqlite3"), check_same_thread=False)
        self.db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;
            CREATE TABLE snap (
                id INTEGER PRIMARY KEY, user_id TEXT, key TEXT, start INTEGER, size INTEGER
            );
            """
        )
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KB}")
        self.lines = open(self._path("lines"), "w+b")
        self.users = 0
        self.kinds: set[str] = set()
        self._reader: subprocess.Popen[bytes] | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None and self._reader.poll() is None:
            self._reader.kill()
            self._reader.wait()
        self.lines.close()
        self.db.close()
        self._dir.cleanup()

    def _path(self, name: str) -> str:
        return os.path.join(self._dir.name, name)

    def read_list(self, listed: IO[bytes]) -> None:
        """Start reading the list (a copy of it) in a process of its own."""
        with open(self._path("list"), "wb") as copy:
            shutil.copyfileobj(listed, copy, LIST_PIECE)
        self._reader = subprocess.Popen(
            [sys.executable, "-m", "users_admin.bulk_list", "list", "listed.sqlite3"],
            cwd=self._dir.name,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(_python_path())},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def join_list(self) -> None:
        """Wait for the list's entries; ListProblem if it cannot be used."""
        assert self._reader is not None, "read_list first"
        try:
            out, err = self._reader.communicate(timeout=LIST_READER_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"The list was not read within {LIST_READER_TIMEOUT} seconds."
            ) from None
        if self._reader.returncode:
            reason = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(
                f"Reading the list failed (exit code {self._reader.returncode}): {reason[0]}"
            )
        answer = json.loads(out)
        if "problem" in answer:
            raise ListProblem(answer["problem"])
        self.kinds = set(answer["kinds"])
        self.db.execute("ATTACH DATABASE ? AS list", (self._path("listed.sqlite3"),))
        self._index()

    def add_users(self, users: Iterable[Users]) -> None:
        """Every user of the snapshot (snapshot_lines), in one pass."""
        number = start = 0
        for batch in users:
            sizes = [len(line) for line in batch.lines]
            starts = accumulate((size + 1 for size in sizes), initial=start)
            rows = zip(count(number), batch.user_ids, map(str.lower, batch.emails), starts, sizes)
            self.db.executemany("INSERT INTO snap VALUES (?, ?, ?, ?, ?)", rows)
            self.lines.write(b"\n".join(batch.lines) + b"\n")
            number += len(sizes)
            start += sum(sizes) + len(sizes)
        self.lines.flush()
        self.users = number

    def _index(self) -> None:
        # Sorted by two threads, each with a small page cache (memory stays as it was).
        self.db.executescript(f"PRAGMA cache_size=-{INDEX_CACHE_KB}; PRAGMA threads=2;")
        for kind, column in _COLUMNS.items():
            if kind in self.kinds:
                self.db.execute(f"CREATE INDEX snap_{column} ON snap ({column}, start, size)")
        self.db.executescript(f"PRAGMA cache_size=-{CACHE_KB}; PRAGMA threads=0;")

    def joined(self) -> Iterator[tuple[int, int, int, int, int]]:
        """Each entry in the list's order: (its line, how many users it names and, when one,
        its number in the snapshot, where its line starts and its size)."""
        aliases = {kind: f"s{n}" for n, kind in enumerate(sorted(self.kinds))}
        if not aliases:
            return
        joins = " ".join(
            # An entry of the other kind looks up nothing (NULL), not its value.
            f"LEFT JOIN snap AS {alias}"
            f" ON {alias}.{_COLUMNS[kind]} = (CASE WHEN l.kind = '{kind}' THEN l.value END)"
            for kind, alias in aliases.items()
        )

        def either(column: str) -> str:
            return f"coalesce({', '.join(f'{a}.{column}' for a in aliases.values())}, NULL)"

        # One row an entry (its group): how many users it names and, when one, which.
        yield from self.db.execute(
            f"SELECT l.line, count({either('id')}), {either('id')},"  # noqa: S608 (ours)
            f" {either('start')}, {either('size')} FROM listed AS l {joins} GROUP BY l.line"
        )

    def entries(self, lines: list[int]) -> dict[int, tuple[str, str]]:
        """The (kind, value) of the list's entries on these lines."""
        found: dict[int, tuple[str, str]] = {}
        for at in range(0, len(lines), BATCH):
            part = lines[at : at + BATCH]
            found.update(
                (line, (kind, value))
                for line, kind, value in self.db.execute(
                    "SELECT line, kind, value FROM listed"  # noqa: S608 (placeholders only)
                    f" WHERE line IN ({', '.join('?' * len(part))})",
                    part,
                )
            )
        return found

    def candidates(self, entries: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        """The user ids of the users each (kind, value) names."""
        found: dict[tuple[str, str], list[str]] = {}
        for kind, column in _COLUMNS.items():
            values = list({value for named, value in entries if named == kind})
            for at in range(0, len(values), BATCH):
                part = values[at : at + BATCH]
                rows = self.db.execute(
                    f"SELECT {column}, user_id FROM snap"  # noqa: S608 (a column of ours)
                    f" WHERE {column} IN ({', '.join('?' * len(part))})",
                    part,
                )
                for value, user_id in rows:
                    found.setdefault((kind, value), []).append(user_id)
        return found

    def lines_at(self, wanted: list[tuple[int, int]]) -> list[bytes]:
        """The snapshot users' lines (as a block keeps them) where joined says they are (start,
        size): one read for each run of lines that follow each other in the snapshot (a list
        in the snapshot's order reads a block's users at once)."""
        found: list[bytes] = []
        fd = self.lines.fileno()
        at, count = 0, len(wanted)
        while at < count:
            start, size = wanted[at]
            end, after = start + size, at + 1
            while after < count and wanted[after][0] == end + 1:
                end = wanted[after][0] + wanted[after][1]
                after += 1
            if after == at + 1:
                found.append(os.pread(fd, size, start))
            else:
                found.extend(os.pread(fd, end - start, start).split(b"\n"))
            at = after
        return found


# The project's root, where `python -m users_admin.bulk_list` finds its module.
_ROOT = Path(__file__).resolve().parent.parent
LIST_READER_TIMEOUT = 600
# SQLite's page cache for the scratch files, and each sorting thread's while it indexes.
CACHE_KB = 8000
INDEX_CACHE_KB = 4000


def _python_path() -> list[str]:
    """Where the list reader finds its module: the project's root, then the worker's path."""
    return [str(_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]


# The snapshot's column a list entry of each kind is looked up in.
_COLUMNS = {"id": "user_id", "email": "key"}


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
