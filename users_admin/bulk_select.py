"""Choosing the users of a bulk run: a search query or an uploaded list, frozen as a snapshot.

A query's users are those an exact export of it keeps (exports.exact: any number of matches,
one snapshot of Auth0's data). A list's lines are user ids or email addresses, resolved against
one export of the whole tenant: never one lookup call per line; an email two users share, or
one nobody has, is listed as ambiguous or unknown, never guessed.

Interface::

    entries = read_list(file)          # ListEntry per line; ListProblem for bad input
    export = snapshot_export(run)      # the export that freezes the run's users
    delay = advance(run_id)            # the worker's step: seconds to wait, or None when done
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import orjson
from django.db import transaction
from django.utils import timezone

from exports.formats import NDJSON
from exports.models import ACTIVE_STATUSES, Export, ExportSpec
from exports.tasks import create_export
from management_api.tenants import current_tenant_slug

from .models import BulkEntry, BulkItem, BulkRun, BulkRunStatus

MAX_LIST_LINES = 1_000_000
# Bad lines quoted in the message (the rest are counted).
QUOTED_PROBLEMS = 5
POLL_SECONDS = 2.0
# A selecting run nobody polled for this long is sent to a worker again.
STALL_SECONDS = 120
BATCH = 2000
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


def read_list(file: IO[bytes]) -> list[ListEntry]:
    """Every user id and email of a text or CSV file (one per line; in a CSV the column titled
    user_id, id or email, else the first); ListProblem for an empty, too long or malformed one."""
    entries: list[ListEntry] = []
    bad: list[str] = []
    bad_count = 0
    for number, value in _cells(file):
        if number > MAX_LIST_LINES:
            raise ListProblem(f"The list has more than {MAX_LIST_LINES:,} lines; split it.")
        kind = _kind(value)
        if kind is None:
            bad_count += 1
            if len(bad) < QUOTED_PROBLEMS:
                bad.append(f"line {number}: “{value[:80]}”")
            continue
        entries.append(ListEntry(number, kind, value.lower() if kind == "email" else value))
    if bad_count:
        more = f" and {bad_count - len(bad):,} more" if bad_count > len(bad) else ""
        raise ListProblem(
            "Each line must be one user id (such as auth0|123) or one email address; "
            f"these are neither: {'; '.join(bad)}{more}."
        )
    if not entries:
        raise ListProblem("The list is empty: one user id or email address per line.")
    return entries


def _kind(value: str) -> str | None:
    if USER_ID.match(value):
        return "id"
    if EMAIL.match(value):
        return "email"
    return None


def _cells(file: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, value) of every non-blank line: its first cell, or the titled column's."""
    column = 0
    first = True
    for number, raw in enumerate(file, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            raise ListProblem(f"Line {number} is not UTF-8 text; save the list as UTF-8.") from None
        if not text:
            continue
        cells = next(csv.reader([text])) if ("," in text or '"' in text) else [text]
        if first:
            first = False
            titles = [HEADER_NAMES.get(cell.strip().lower()) for cell in cells]
            if any(titles):
                column = next(i for i, title in enumerate(titles) if title)
                continue
        value = cells[column].strip() if column < len(cells) else ""
        yield number, value


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
        BulkEntry.objects.filter(run=run).delete()
        with export.open_file() as raw, gzip.open(raw) as records_file:
            records = _records(records_file)
            if run.source == BulkRun.Source.QUERY:
                counts = _store_items(run, records)
            else:
                with run.list_file.open("rb") as listed:
                    counts = _store_resolved(run, read_list(listed), records)
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


def _records(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield orjson.loads(line)


def profile_of(record: dict[str, Any]) -> dict[str, Any]:
    """What an item keeps of a user: the snapshot's fields, identities without profile data."""
    kept = {k: v for k, v in record.items() if k not in ("user_id", "email", "identities")}
    kept["identities"] = [
        {k: i.get(k) for k in ("connection", "provider", "user_id", "isSocial") if k in i}
        for i in record.get("identities") or []
        if isinstance(i, dict)
    ]
    return kept


def _item(run: BulkRun, position: int, record: dict[str, Any]) -> BulkItem:
    return BulkItem(
        run=run,
        position=position,
        user_id=str(record.get("user_id") or ""),
        email=str(record.get("email") or ""),
        profile=profile_of(record),
    )


def _store_items(run: BulkRun, records: Iterable[dict[str, Any]]) -> dict[str, int]:
    batch: list[BulkItem] = []
    count = 0
    for record in records:
        batch.append(_item(run, count, record))
        count += 1
        if len(batch) >= BATCH:
            BulkItem.objects.bulk_create(batch)
            batch = []
    BulkItem.objects.bulk_create(batch)
    return {"selected_count": count, "unknown_count": 0, "ambiguous_count": 0, "duplicate_count": 0}


def _store_resolved(
    run: BulkRun, entries: list[ListEntry], records: Iterable[dict[str, Any]]
) -> dict[str, int]:
    """The list's users in its order, written as they are found. Memory grows with the list
    (the listed users' kept fields), not with the tenant."""
    ids = {e.value for e in entries if e.kind == "id"}
    emails = {e.value for e in entries if e.kind == "email"}
    by_id: dict[str, dict[str, Any]] = {}
    by_email: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        user_id = str(record.get("user_id") or "")
        email = str(record.get("email") or "").lower()
        if user_id in ids or email in emails:
            kept = {"user_id": user_id, "email": record.get("email"), **profile_of(record)}
            if user_id in ids:
                by_id[user_id] = kept
            if email in emails:
                by_email.setdefault(email, []).append(kept)
    items: list[BulkItem] = []
    problems: list[BulkEntry] = []
    seen: set[str] = set()
    counts: Counter[str] = Counter()
    for entry in entries:
        found = [by_id[entry.value]] if entry.value in by_id else []
        if entry.kind == "email":
            found = by_email.get(entry.value, [])
        if len(found) != 1:
            problem = BulkEntry.Problem.AMBIGUOUS if found else BulkEntry.Problem.UNKNOWN
            counts[problem] += 1
            candidates = sorted(str(r.get("user_id")) for r in found)
            problems.append(
                BulkEntry(
                    run=run,
                    line=entry.line,
                    entry=entry.value[:500],
                    problem=problem,
                    candidates=candidates,
                )
            )
        elif found[0]["user_id"] in seen:
            counts["duplicate"] += 1
        else:
            seen.add(found[0]["user_id"])
            items.append(_item(run, len(seen) - 1, found[0]))
        if len(items) >= BATCH or len(problems) >= BATCH:
            BulkItem.objects.bulk_create(items)
            BulkEntry.objects.bulk_create(problems)
            items, problems = [], []
    BulkItem.objects.bulk_create(items)
    BulkEntry.objects.bulk_create(problems)
    return {
        "selected_count": len(seen),
        "unknown_count": counts[BulkEntry.Problem.UNKNOWN],
        "ambiguous_count": counts[BulkEntry.Problem.AMBIGUOUS],
        "duplicate_count": counts["duplicate"],
    }


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
