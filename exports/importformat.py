"""Auth0's bulk user import format: what of an export can be imported, and the files themselves.

Auth0's ``POST /api/v2/jobs/users-imports`` takes a JSON array of user objects that match its
published schema (``schemas/auth0-import-user.json``, transcribed with its source): only the
schema's attribute names, ``user_id`` without the provider prefix (Auth0 prepends ``auth0|``),
metadata as nested objects, at most 512,000 bytes per request
(https://auth0.com/docs/manage-users/user-migration/bulk-user-imports).

Interface::

    plan(fields, *, connection_id, connection_name, strategy) -> Plan
        From the export's spec alone (so it is shown before any download): for each column,
        the import attribute it becomes or why it is left out; and the reasons, if any, why
        no import file can be made at all (not one database connection, no email column).

    import_files(rows, *, plan, part_bytes=PART_BYTES) -> Iterator[Piece]
        Reads the rows of a stored ``.gz`` once (``fmt.rows(source)``, exports.formats: CSV
        or NDJSON rows as JSON objects) and yields ``Part`` pieces: each a JSON
        array of converted users, every one valid against the schema, at most ``part_bytes``
        bytes; and ``Rejects`` pieces: JSON arrays of ``{"user", "errors"}`` for the users that
        would fail Auth0's validation (never put in a part). Memory: one part of each kind.

    download(rows, *, plan, stem) -> Download
        The import download: one ``.json`` when everything fits one part and no user was
        rejected, else a streamed ``.zip`` of ``<stem>-0001.json``... plus
        ``not-importable-0001.json``... At most two parts are read ahead to decide.

    validation_errors(user) -> list[str]
        The schema's complaints about one user object (empty when Auth0 would accept it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from exports import convert
from exports.ndjsonkeys import value_at

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "auth0-import-user.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
# Auth0 validates with z-schema, whose "email" format (validator.js isEmail) wants a dotted
# domain; the library's own check is laxer.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+\Z")


def _is_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL.match(value))


# jsonschema-rs: the schema compiled once; a valid user costs about a microsecond.
_VALIDATOR = jsonschema_rs.Draft7Validator(
    SCHEMA, formats={"email": _is_email}, validate_formats=True
)
ATTRIBUTES: tuple[str, ...] = tuple(SCHEMA["properties"])
METADATA = ("app_metadata", "user_metadata")
DATABASE_STRATEGY = "auth0"
# Auth0 refuses a request over 512,000 bytes (the whole multipart body); 12,000 bytes are left
# for the boundaries and the text parts.
PART_BYTES = 500_000
PROVIDER_PREFIX = "auth0|"


@dataclass(frozen=True)
class Column:
    """One column of the export and what becomes of it in the import file."""

    title: str
    name: str
    # The key path in the import object, or () when the column is left out.
    target: tuple[str, ...] = ()
    reason: str = ""

    @property
    def kept(self) -> bool:
        return bool(self.target)

    @property
    def renamed(self) -> bool:
        return self.kept and self.title != ".".join(self.target)


@dataclass(frozen=True)
class Plan:
    columns: list[Column] = field(default_factory=list)
    # Why no import file can be made; empty when one can.
    blockers: list[str] = field(default_factory=list)
    # What to check before importing a file that can be made.
    warnings: list[str] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return not self.blockers

    @property
    def kept(self) -> list[Column]:
        return [column for column in self.columns if column.kept]

    @property
    def dropped(self) -> list[Column]:
        return [column for column in self.columns if not column.kept]


def _column(title: str, name: str) -> Column:
    if name in ATTRIBUTES:
        return Column(title, name, (name,))
    root, _, rest = name.partition(".")
    if root in METADATA and rest:
        if "[" in name:
            return Column(
                title, name, reason=f"an array item; export {root} whole (NDJSON) to keep arrays"
            )
        # Auth0 metadata keys never hold a dot, so each dot is a level.
        return Column(title, name, tuple(name.split(".")))
    if root in METADATA:
        return Column(title, name, (name,))
    return Column(title, name, reason="not an attribute of Auth0's import schema")


def _enclosing(target: tuple[str, ...], targets: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """Another kept path that holds ``target`` (``user_metadata`` for ``user_metadata.plan``)."""
    return next((o for o in targets if o != target and target[: len(o)] == o), None)


def plan(
    fields: Sequence[Mapping[str, str]],
    *,
    connection_id: str,
    connection_name: str = "",
    strategy: str | None,
    holds_objects: bool = True,
    several: Sequence[str] = (),
) -> Plan:
    """What an import file made from an export with these fields would hold.

    ``strategy`` is the connection's (``auth0`` for a database connection), None when the
    connection list could not be read; ``holds_objects`` is the export format's (False for
    CSV, which holds an array or object only as its JSON text); ``several``: the names of a
    multi-connection export's connections."""
    columns = [_column(item.get("export_as") or item["name"], item["name"]) for item in fields]
    # A path inside another kept path (user_metadata and user_metadata.plan) would write the
    # same key twice: the whole object wins.
    targets = [column.target for column in columns if column.kept]
    for index, column in enumerate(columns):
        inside = _enclosing(column.target, targets) if column.kept else None
        if inside is not None:
            columns[index] = Column(
                column.title, column.name, reason=f"already inside {'.'.join(inside)}"
            )
    seen: set[tuple[str, ...]] = set()
    for index, column in enumerate(columns):
        if column.kept and column.target in seen:
            columns[index] = Column(column.title, column.name, reason="the same field twice")
        seen.add(column.target)

    blockers: list[str] = []
    label = connection_name or connection_id
    if several:
        blockers.append(
            f"It holds {len(several)} connections ({', '.join(several)}): Auth0 imports the "
            "users of one database connection into one database connection. Export one "
            "database connection to import it."
        )
    elif not connection_id:
        blockers.append(
            "It holds all connections: Auth0 imports only users of a database connection, "
            "into a database connection. Export one database connection to import it."
        )
    elif strategy is None:
        blockers.append(
            f"The type of the connection {label} could not be checked (the connection list "
            "did not load), so it is not known to be a database connection."
        )
    elif strategy != DATABASE_STRATEGY:
        blockers.append(
            f"{label} is a {strategy} connection: Auth0's user import takes only users of "
            "database connections."
        )
    if not any(column.target == ("email",) for column in columns):
        blockers.append("It has no email column, and Auth0's import schema requires email.")
    warnings = [] if holds_objects else _text_warnings(columns)
    return Plan(columns=columns, blockers=blockers, warnings=warnings)


def _text_warnings(columns: Sequence[Column]) -> list[str]:
    """CSV's metadata columns may hold arrays or objects as JSON text (csvformat.typed_value)."""
    metadata = [c.title for c in columns if c.kept and c.target[0] in METADATA]
    if not metadata:
        return []
    return [
        f"CSV holds an array or object in a metadata column ({', '.join(metadata)}) as its "
        "JSON text. The import file turns a cell written exactly as Auth0 writes one "
        '(["billing","viewer"]) back into that array or object, so a text value that reads '
        "the same becomes one too, and one written otherwise stays text. To be sure of every "
        "value's type, export NDJSON with the metadata whole."
    ]


def validation_errors(user: Mapping[str, Any]) -> list[str]:
    if _VALIDATOR.is_valid(user):
        return []
    messages = []
    for error in _VALIDATOR.iter_errors(user):
        where = ".".join(str(step) for step in error.instance_path)
        messages.append(f"{where}: {error.message}" if where else error.message)
    return messages


# --- reading the export -------------------------------------------------------------------------


def import_user(row: Mapping[str, Any], columns: Sequence[Column]) -> dict[str, Any]:
    """One exported row as an import object: kept columns only, under their attribute names."""
    user: dict[str, Any] = {}
    for column in columns:
        if not column.kept:
            continue
        value = value_at(row, column.title)
        if value is None:
            continue
        target = user
        for key in column.target[:-1]:
            target = target.setdefault(key, {})
        target[column.target[-1]] = value
    user_id = user.get("user_id")
    if isinstance(user_id, str) and user_id.startswith(PROVIDER_PREFIX):
        user["user_id"] = user_id[len(PROVIDER_PREFIX) :]
    return user


def _problems(
    user: Mapping[str, Any], row: Mapping[str, Any], columns: Sequence[Column]
) -> list[str]:
    problems = validation_errors(user)
    id_column = next((c for c in columns if c.target == ("user_id",)), None)
    if id_column is not None:
        original = value_at(row, id_column.title)
        if (
            isinstance(original, str)
            and "|" in original
            and not original.startswith(PROVIDER_PREFIX)
        ):
            problems.append(
                f"user_id: {original} is not a database user's id (Auth0 imports only those)"
            )
    return problems


# --- writing the files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    data: bytes
    users: int


@dataclass(frozen=True)
class Rejects:
    data: bytes
    users: int


Piece = Part | Rejects


class Batch:
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.items: list[bytes] = []
        self.size = 2

    def fits(self, item: bytes) -> bool:
        return self.size + len(item) + (1 if self.items else 0) <= self.budget

    def add(self, item: bytes) -> None:
        self.size += len(item) + (1 if self.items else 0)
        self.items.append(item)

    def take(self) -> tuple[bytes, int]:
        data = b"[" + b",".join(self.items) + b"]"
        count = len(self.items)
        self.items = []
        self.size = 2
        return data, count


def import_files(
    rows: Iterable[Mapping[str, Any]], *, plan: Plan, part_bytes: int = PART_BYTES
) -> Iterator[Piece]:
    if not plan.possible:
        raise ValueError("no import file can be made: " + " ".join(plan.blockers))
    columns = plan.columns
    part = Batch(part_bytes)
    rejects = Batch(part_bytes)
    dumps = orjson.dumps
    for row in rows:
        user = import_user(row, columns)
        problems = _problems(user, row, columns)
        encoded = dumps(user)
        if not problems and len(encoded) + 2 > part_bytes:
            problems = [f"this user alone is over the {part_bytes:,}-byte limit of an import file"]
        if problems:
            rejected = dumps({"user": user, "errors": problems})
            if rejects.items and not rejects.fits(rejected):
                data, count = rejects.take()
                yield Rejects(data, count)
            rejects.add(rejected)
            continue
        if part.items and not part.fits(encoded):
            data, count = part.take()
            yield Part(data, count)
        part.add(encoded)
    if part.items:
        data, count = part.take()
        yield Part(data, count)
    if rejects.items:
        data, count = rejects.take()
        yield Rejects(data, count)


@dataclass
class Download:
    """One JSON file or a zip of them, named and typed, with its bytes streamed as they come."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]


def download(rows: Iterable[Mapping[str, Any]], *, plan: Plan, stem: str) -> Download:
    pieces = import_files(rows, plan=plan)
    ahead: list[Piece] = []
    for piece in pieces:
        ahead.append(piece)
        if len(ahead) == 2:
            break
    if len(ahead) <= 1 and all(isinstance(piece, Part) for piece in ahead):
        data = ahead[0].data if ahead else b"[]"
        return Download(f"{stem}.json", "application/json", iter([data]))
    return Download(f"{stem}.zip", "application/zip", _zipped(ahead, pieces, stem))


def _zipped(ahead: list[Piece], rest: Iterator[Piece], stem: str) -> Iterator[bytes]:
    numbers = {Part: 0, Rejects: 0}

    def named(piece: Piece) -> tuple[str, bytes]:
        kind = type(piece)
        numbers[kind] += 1
        prefix = stem if kind is Part else "not-importable"
        return f"{prefix}-{numbers[kind]:04d}.json", piece.data

    def entries() -> Iterator[tuple[str, bytes]]:
        for piece in ahead:
            yield named(piece)
        for piece in rest:
            yield named(piece)

    yield from convert.zip_entries(entries())
