"""A bulk run's users, stored at the pace a 1,000,000-user run needs.

The selection writes the run's users in blocks (BulkBlock): a thousand users a row, each a JSON
line, the user's object as the snapshot export wrote it (`user_id`, `email` and the fields the
actions read), compressed. (Blocks written before held ``[user id, email, profile]`` arrays:
they are still read.) A
million users are a thousand rows, not a million: the database holds one row a user only for
the users a worker has reached (BulkItem: their outcome, before/after and Auth0's answer),
made a block at a time as it reaches them (`make_items`). The preview marks the users it skips
in their block (`set_skips`); the run's page reads a page of users from the blocks, each
replaced by its item once there is one (`ItemPages`).

Interface::

    with BlockWriter(run) as writer:       # the selection
        writer.add_lines(snapshot_lines)   # or writer.add_user(user_id, email, profile)
    for block, users in blocks(run): ...    # users = [(user_id, email, profile)]
    for block, users in blocks(run, fields): ...  # the preview: profiles of those fields only
    set_skips(run, {first: {offset: reason}})
    make_items(run, block)                  # the worker: the block's users become items
    ItemPages(run)[start:stop]              # items in order, saved or from the blocks
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, overload

import msgspec
import orjson
from django.db import reset_queries, transaction
from isal import isal_zlib
from msgspec import UNSET
from msgspec.structs import astuple

from .models import BulkBlock, BulkItem, BulkRun

BLOCK = 1000
# Blocks written, or read, at a time (a batch of the run's users in memory).
BLOCKS_AT_ONCE = 20
# ISA-L's zlib (the same format as zlib's, four times faster than zlib's level 1 on a block): a
# block of JSON lines shrinks about six times at level 2 (475 bytes a user to 76 in
# bench/bulk.py --preview's runs).
LEVEL = 2
User = tuple[str, str, dict[str, Any]]


class BlockWriter:
    """The run's users in order, written a block at a time (constant memory); `count` users."""

    def __init__(self, run: BulkRun) -> None:
        self.run = run
        self.count = 0
        self._lines: list[bytes] = []
        self._blocks: list[BulkBlock] = []

    def __enter__(self) -> BlockWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()

    def add_lines(self, lines: list[bytes]) -> None:
        """Users as their JSON lines (each one object with its ``user_id`` and ``email``; no
        line break in it), in order."""
        taken = 0
        while taken < len(lines):
            part = lines[taken : taken + BLOCK - len(self._lines)]
            self._lines.extend(part)
            self.count += len(part)
            taken += len(part)
            if len(self._lines) >= BLOCK:
                self._seal()

    def add_user(self, user_id: str, email: str, profile: dict[str, Any]) -> None:
        """One user; `profile` holds the snapshot's fields (its own user id and email aside)."""
        kept = {k: v for k, v in profile.items() if k not in _TAKEN_OUT}
        self.add_lines([orjson.dumps({"user_id": user_id, "email": email, **kept})])

    def _seal(self) -> None:
        if self._lines:
            data = isal_zlib.compress(b"\n".join(self._lines), LEVEL)
            first = self.count - len(self._lines)
            self._blocks.append(
                BulkBlock(run=self.run, first=first, size=len(self._lines), data=data)
            )
            self._lines = []
        if len(self._blocks) >= BLOCKS_AT_ONCE:
            self._flush()

    def _flush(self) -> None:
        if self._blocks:
            BulkBlock.objects.bulk_create(self._blocks)
        self._blocks = []
        # With DEBUG on, Django keeps each query's text, here the blocks themselves (a
        # million users' would be hundreds of megabytes): the worker needs none of it.
        reset_queries()

    def close(self) -> None:
        self._seal()
        self._flush()


def users_of(block: BulkBlock, fields: tuple[str, ...] | None = None) -> list[User]:
    """(user id, email, profile) of each user of the block, in order; with `fields`, each
    profile holds only those of them it has (the others are skipped unread)."""
    return read_lines(lines_of(block), fields)


def read_lines(lines: list[bytes], fields: tuple[str, ...] | None = None) -> list[User]:
    """users_of for some of lines_of's lines."""
    if not lines:
        return []
    legacy = lines[0].startswith(b"[")
    if fields is None:
        if legacy:
            return [tuple(orjson.loads(line)) for line in lines]
        return [_user(orjson.loads(line)) for line in lines]
    # The lines are one JSON value a user, none with a line break in it: as one array they
    # are decoded in one call.
    names = tuple(n for n in dict.fromkeys(fields) if n not in _TAKEN_OUT)
    decoded = _decoder(names, legacy).decode(b"".join((b"[", b",".join(lines), b"]")))
    if legacy:
        return [(user_id, email, _kept(names, astuple(kept))) for user_id, email, kept in decoded]
    if len(names) == 1:  # the common case, made without a call a user
        (name,) = names
        return [
            (
                user_id if type(user_id) is str else _text(user_id),
                email if type(email) is str else _text(email),
                {} if value is UNSET else {name: value},
            )
            for user_id, email, value in map(astuple, decoded)
        ]
    return [
        (_text(values[0]), _text(values[1]), _kept(names, values[2:]))
        for values in map(astuple, decoded)
    ]


def lines_of(block: BulkBlock) -> list[bytes]:
    """The block's users as their JSON lines (read_lines reads them)."""
    return data_of(block).split(b"\n")


def data_of(block: BulkBlock) -> bytes:
    """The block's lines, one after the other with a line break between."""
    return isal_zlib.decompress(block.data)


def _kept(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return {n: v for n, v in zip(names, values, strict=True) if v is not UNSET}


# A block line's user, as a profile keeps it: identities with these fields alone (no profile
# data), the user id and email taken out.
_TAKEN_OUT = ("user_id", "email")
IDENTITY_FIELDS = ("connection", "provider", "user_id", "isSocial")


def _user(record: dict[str, Any]) -> User:
    user_id, email = _text(record.pop("user_id", None)), _text(record.pop("email", None))
    record["identities"] = [
        {k: i[k] for k in IDENTITY_FIELDS if k in i}
        for i in record.get("identities") or ()
        if isinstance(i, dict)
    ]
    return user_id, email, record


def _text(value: Any) -> str:
    return value if type(value) is str else str(value or "")


@lru_cache(maxsize=32)
def _decoder(names: tuple[str, ...], legacy: bool = False) -> msgspec.json.Decoder[Any]:
    """A block's users, each decoded with only `names` of its profile (UNSET where absent)."""
    fields = [(f"f{i}", Any, msgspec.field(default=UNSET, name=n)) for i, n in enumerate(names)]
    if legacy:
        kept = msgspec.defstruct("Kept", fields)
        return msgspec.json.Decoder(list[tuple[Any, Any, kept]])  # type: ignore[valid-type]
    user = msgspec.defstruct(
        "User",
        [
            ("user_id", Any, msgspec.field(default=None)),
            ("email", Any, msgspec.field(default=None)),
            *fields,
        ],
    )
    return msgspec.json.Decoder(list[user])  # type: ignore[valid-type]


def blocks(
    run: BulkRun, fields: tuple[str, ...] | None = None
) -> Iterator[tuple[BulkBlock, list[User]]]:
    """Each block of the run in order with its users (users_of), a few blocks in memory at a
    time."""
    for block in stored_blocks(run):
        yield block, users_of(block, fields)


def stored_blocks(run: BulkRun) -> Iterator[BulkBlock]:
    """Each block of the run in order, a few in memory at a time."""
    query = run.blocks.order_by("first")
    after = -1
    while True:
        batch = list(query.filter(first__gt=after)[:BLOCKS_AT_ONCE])
        if not batch:
            return
        yield from batch
        after = batch[-1].first


def set_skips(run: BulkRun, skips: dict[int, dict[str, str]]) -> None:
    """The preview's skip reasons, {block's first position: {offset: reason}}; every other
    block of the run skips nobody (an earlier preview's reasons go)."""
    run.blocks.exclude(skips={}).exclude(first__in=list(skips)).update(skips={})
    for first, reasons in skips.items():
        run.blocks.filter(first=first).update(skips=reasons)


def make_items(run: BulkRun, block: BulkBlock) -> None:
    """The block's users become items of the run (with the preview's skip reasons), once:
    a second call, or a worker that takes the run over, adds none twice."""
    users = users_of(block)
    with transaction.atomic():
        if not BulkBlock.objects.filter(pk=block.pk, made=False).update(made=True):
            return
        BulkItem.objects.bulk_create(
            (_item(run, block, offset, user) for offset, user in enumerate(users)),
            ignore_conflicts=True,
            batch_size=BLOCK,
        )


def _item(run: BulkRun, block: BulkBlock, offset: int, user: User) -> BulkItem:
    user_id, email, profile = user
    return BulkItem(
        run=run,
        position=block.first + offset,
        user_id=user_id,
        email=email,
        profile=profile,
        skip_reason=block.skips.get(str(offset), ""),
    )


class ItemPages(Sequence[BulkItem]):
    """The run's users in order as items (a Paginator's object list): the saved item where a
    worker made one, else one read from its block (not saved)."""

    def __init__(self, run: BulkRun) -> None:
        self.run = run
        self.total = run.selected_count or 0

    def __len__(self) -> int:
        return self.total

    def count(self, value: Any = None) -> int:
        return self.total

    @overload
    def __getitem__(self, index: int) -> BulkItem: ...
    @overload
    def __getitem__(self, index: slice) -> list[BulkItem]: ...
    def __getitem__(self, index: int | slice) -> BulkItem | list[BulkItem]:
        if isinstance(index, int):
            found = self[index : index + 1]
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, _ = index.indices(self.total)
        return items_between(self.run, start, stop)


def items_between(run: BulkRun, start: int, stop: int) -> list[BulkItem]:
    """The run's users at positions start..stop-1, as items (saved ones where they exist)."""
    if stop <= start:
        return []
    if not run.blocks.exists():  # a run made before blocks: every user has an item
        return list(run.items.filter(position__gte=start, position__lt=stop))
    saved = {
        item.position: item for item in run.items.filter(position__gte=start, position__lt=stop)
    }
    found: list[BulkItem] = []
    covering = run.blocks.filter(first__lt=stop, first__gte=start - BLOCK + 1).order_by("first")
    for block in covering:
        if block.first + block.size <= start:
            continue
        for offset, user in enumerate(users_of(block)):
            position = block.first + offset
            if start <= position < stop:
                found.append(saved.get(position) or _item(run, block, offset, user))
    return found


def every_item(run: BulkRun) -> Iterator[BulkItem]:
    """Every user of the run in order, as items (the result file): a block at a time."""
    if not run.blocks.exists():  # a run made before blocks: every user has an item
        yield from run.items.order_by("position").iterator(chunk_size=BLOCK)
        return
    for block, users in blocks(run):
        stop = block.first + block.size
        saved = {}
        if block.made:
            saved = {
                item.position: item
                for item in run.items.filter(position__gte=block.first, position__lt=stop)
            }
        for offset, user in enumerate(users):
            yield saved.get(block.first + offset) or _item(run, block, offset, user)
