"""The file of an import, checked before anything is sent to Auth0.

Interface::

    read_upload(name, data) -> list[Any]
        The users of an uploaded file: a JSON array (Auth0's import file), or a .zip of them
        as Userdesk's import download makes (its ``not-importable-*`` files are skipped).
        ImportFileError with a plain reason when it is neither.

    from_export(export) -> tuple[list[Any], list[dict]]
        The users of a ready export's import-ready file (exports.importformat), and the
        users the conversion already refused.

    check(users) -> Checked
        Each user against Auth0's import schema (importformat.validation_errors) and against
        the users before it: Auth0 fails a user whose email, user_id or username an earlier one
        in the same import has. ``Checked.valid`` keeps the order; ``Checked.rejects`` are
        ``{"index", "user", "errors"}`` (index: 1-based position in the file).

    parts(users, part_bytes=PART_BYTES) -> list[tuple[bytes, int]]
        The valid users as JSON arrays of at most ``part_bytes`` bytes, in order.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from . import importformat
from .models import Export

# A larger upload is refused: split it first (Auth0 takes 500 KB a request; this is 200 parts).
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class ImportFileError(ValueError):
    """The file cannot be read as users (a sentence for the field)."""


def _array(data: bytes, name: str) -> list[Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ImportFileError(f"{name} is not valid JSON ({exc}).") from None
    if not isinstance(value, list):
        raise ImportFileError(
            f"{name} holds a JSON {type(value).__name__ if value is not None else 'null'}, "
            "not an array of users: Auth0 imports a JSON array of user objects."
        )
    return value


def read_upload(name: str, data: bytes) -> list[Any]:
    if not data:
        raise ImportFileError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportFileError(
            f"The file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it and import "
            "each piece."
        )
    if data[:4] == b"PK\x03\x04":
        users: list[Any] = []
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = sorted(
                    n
                    for n in archive.namelist()
                    if n.endswith(".json") and not n.rsplit("/", 1)[-1].startswith("not-importable")
                )
                if not names:
                    raise ImportFileError("The .zip holds no .json file of users.")
                for entry in names:
                    users += _array(archive.read(entry), entry)
        except zipfile.BadZipFile:
            raise ImportFileError("The .zip file is damaged.") from None
        return users
    return _array(data.removeprefix(b"\xef\xbb\xbf"), name or "The file")


def from_export(export: Export) -> tuple[list[Any], list[dict[str, Any]]]:
    from .downloads import import_plan

    plan = import_plan(export)
    if not plan.possible:
        raise ImportFileError(" ".join(plan.blockers))
    users: list[Any] = []
    refused: list[dict[str, Any]] = []
    with export.open_file() as source:
        for piece in importformat.import_files(export.export_format.rows(source), plan=plan):
            if isinstance(piece, importformat.Part):
                users += orjson.loads(piece.data)
            else:
                refused += orjson.loads(piece.data)
    return users, refused


@dataclass
class Checked:
    valid: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)


# The keys Auth0 matches users on within one import (https://auth0.com/docs/manage-users/user-migration/bulk-user-imports).
_IDENTIFIERS = ("email", "user_id", "username")


def _key(name: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return value.lower() if name in ("email", "username") else value


def check(users: Iterable[Any]) -> Checked:
    checked = Checked()
    seen: dict[tuple[str, str], int] = {}
    for index, user in enumerate(users, start=1):
        if not isinstance(user, Mapping):
            checked.rejects.append(
                {"index": index, "user": user, "errors": ["not a JSON object (a user)"]}
            )
            continue
        errors = importformat.validation_errors(user)
        for name in _IDENTIFIERS:
            key = _key(name, user.get(name))
            if key is None:
                continue
            earlier = seen.get((name, key))
            if earlier is not None:
                errors.append(
                    f"{name}: the same {name} as user {earlier} of this file (Auth0 fails "
                    "a user whose email, user_id or username comes twice in an import)"
                )
        if not errors and len(orjson.dumps(user)) + 2 > importformat.PART_BYTES:
            errors.append(
                f"this user alone is over the {importformat.PART_BYTES:,}-byte limit of an "
                "import file"
            )
        if errors:
            checked.rejects.append({"index": index, "user": user, "errors": errors})
            continue
        for name in _IDENTIFIERS:
            key = _key(name, user.get(name))
            if key is not None:
                seen[(name, key)] = index
        checked.valid.append(dict(user))
    return checked


def parts(
    users: Iterable[Mapping[str, Any]], part_bytes: int = importformat.PART_BYTES
) -> list[tuple[bytes, int]]:
    batch = importformat.Batch(part_bytes)
    made: list[tuple[bytes, int]] = []
    for user in users:
        encoded = orjson.dumps(user)
        if batch.items and not batch.fits(encoded):
            made.append(batch.take())
        batch.add(encoded)
    if batch.items:
        made.append(batch.take())
    return made
