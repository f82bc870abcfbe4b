"""An uploaded list of users: one user id or email address a line, or a CSV file with a column
of them, read as it streams (a million lines in constant memory), checked line by line.

It imports nothing of Django: a bulk run's selection reads a large list in a process of its
own (``python -m users_admin.bulk_list LIST DATABASE``), into a scratch SQLite file, while the
worker reads the snapshot (users_admin.bulk_select).

Interface::

    count = count_list(file)           # entries in the list; ListProblem for bad input
    for entry in iter_list(file): ...  # ListEntry(line, kind, value)
    kinds = write_list(file, path)     # the entries into SQLite table `listed` at path
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import IO, NamedTuple

MAX_LIST_LINES = 1_000_000
# Bad lines quoted in the message (the rest are counted).
QUOTED_PROBLEMS = 5
# Lines one quoted cell of a CSV list may span.
QUOTED_LINES = 20
# The list read a megabyte at a time.
LIST_PIECE = 1 << 20
HEADER_NAMES = {"user_id": "id", "id": "id", "user id": "id", "email": "email", "e-mail": "email"}
EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+\Z")
USER_ID = re.compile(r"[A-Za-z0-9_.:-]+\|\S+\Z")


# --- the uploaded list ---------------------------------------------------------------------


class ListEntry(NamedTuple):
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
    count = 0
    # Records, not physical lines: a quoted CSV cell may hold line breaks.
    for number, value in _cells(file):
        count += 1
        if count > MAX_LIST_LINES:
            raise ListProblem(f"The list has more than {MAX_LIST_LINES:,} lines; split it.")
        # A user id has a "|" (provider|id), an email address none before its "@".
        if "|" in value and USER_ID.match(value):
            yield ListEntry(number, "id", value)
        elif EMAIL.match(value):
            yield ListEntry(number, "email", value.lower())
        else:
            bad_count += 1
            if len(bad) < QUOTED_PROBLEMS:
                bad.append(f"line {number}: “{value[:80]}”")
    if bad_count:
        more = f" and {bad_count - len(bad):,} more" if bad_count > len(bad) else ""
        raise ListProblem(
            "Each line must be one user id (such as auth0|123) or one email address; "
            f"these are neither: {'; '.join(bad)}{more}."
        )
    if count == bad_count:
        raise ListProblem("The list is empty: one user id or email address per line.")


def read_list(file: IO[bytes]) -> list[ListEntry]:
    """iter_list's entries, all in memory: small lists only (tests)."""
    return list(iter_list(file))


def count_list(file: IO[bytes]) -> int:
    """How many entries the list holds, checked line by line in constant memory (the form);
    ListProblem as iter_list."""
    return sum(1 for _ in iter_list(file))


def _cells(file: IO[bytes]) -> Iterator[tuple[int, str]]:
    """(line number, value) of every non-blank record: its first cell, or the titled column's.
    Read a megabyte at a time; lines are split on commas while the file has no quote, and
    parsed as CSV from the first piece that has one (a quoted cell may hold commas and line
    breaks, as spreadsheet and database tools write them; one still open after QUOTED_LINES
    lines is refused)."""
    column: int | None = None
    number = 0
    pieces = _pieces(file)
    for piece in pieces:
        if b'"' in piece:
            yield from _csv_cells(_text_lines(chain([piece], pieces), number), number, column)
            return
        for raw in piece.splitlines():
            number += 1
            line = _decoded(raw, number).strip()
            if not line:
                continue
            cells = line.split(",") if "," in line else None
            if cells is not None and not any(cell.strip() for cell in cells):
                continue
            if column is None:
                column = _title_column(cells or [line])
                if column is not None:
                    continue
                column = 0
            if cells is None:
                yield number, line if column == 0 else ""
            else:
                yield number, cells[column].strip() if column < len(cells) else ""


def _title_column(cells: list[str]) -> int | None:
    """The column the first record titles as the users' (None: it is not a title line)."""
    titles = [HEADER_NAMES.get(cell.strip().lower()) for cell in cells]
    return next((i for i, title in enumerate(titles) if title), None)


def _csv_cells(lines: Iterator[str], base: int, column: int | None) -> Iterator[tuple[int, str]]:
    """_cells' records from `lines` on, the first of them line `base + 1`."""
    reader = csv.reader(lines)
    number = base + 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise ListProblem(f"Line {number} cannot be read as CSV: {exc}.") from None
        if cells is None:
            return
        start, number = number, base + reader.line_num + 1
        if number - 1 - start >= QUOTED_LINES:
            raise ListProblem(
                f"Line {start} opens a quoted cell that does not close within "
                f"{QUOTED_LINES} lines; close its quote."
            )
        if not any(cell.strip() for cell in cells):
            continue
        if column is None:
            column = _title_column(cells)
            if column is not None:
                continue
            column = 0
        yield start, cells[column].strip() if column < len(cells) else ""


def _pieces(file: IO[bytes]) -> Iterator[bytes]:
    """The file a megabyte at a time, each piece whole lines (the last may lack its break)."""
    rest = b""
    while chunk := file.read(LIST_PIECE):
        data = rest + chunk
        # At the last line feed (a CR LF stays whole), else at a CR that is not the last
        # byte (a CR-only file; a last CR may be a CR LF's first half).
        cut = data.rfind(b"\n") + 1 or data.rfind(b"\r", 0, len(data) - 1) + 1
        if cut:
            yield data[:cut]
        rest = data[cut:]
    if rest:
        yield rest


def _text_lines(pieces: Iterable[bytes], number: int) -> Iterator[str]:
    """The pieces' lines, decoded, each with its line break; the first is line `number + 1`."""
    for piece in pieces:
        for raw in piece.splitlines(keepends=True):
            number += 1
            yield _decoded(raw, number)


def _decoded(raw: bytes, number: int) -> str:
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        raise ListProblem(f"Line {number} is not UTF-8 text; save the list as UTF-8.") from None


def write_list(file: IO[bytes], path: str) -> set[str]:
    """The list's entries into the SQLite table ``listed`` (line, kind, value) of a new file at
    `path`; the kinds of entry it holds."""
    kinds: set[str] = set()

    def noted(entry: ListEntry) -> ListEntry:
        kinds.add(entry.kind)
        return entry

    db = sqlite3.connect(path)
    try:
        db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE listed (line INTEGER PRIMARY KEY, kind TEXT, value TEXT);"
        )
        db.executemany("INSERT INTO listed VALUES (?, ?, ?)", map(noted, iter_list(file)))
        db.commit()
    finally:
        db.close()
    return kinds


def main(argv: list[str]) -> None:
    """``python -m users_admin.bulk_list LIST DATABASE``: write_list, its answer on stdout as
    JSON: ``{"kinds": [...]}``, or ``{"problem": "..."}`` for a list that cannot be used."""
    listed, path = argv
    try:
        with open(listed, "rb") as file:
            answer: dict[str, object] = {"kinds": sorted(write_list(file, path))}
    except ListProblem as problem:
        answer = {"problem": str(problem)}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1:])
