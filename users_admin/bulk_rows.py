"""A bulk run's users, stored at the pace a 1,000,000-user run needs.

The selection writes the run's users in blocks (BulkBlock): a thousand users a row, each a JSON
line ``[user id, email, profile]`` (the snapshot's fields the actions read), compressed. A
million users are a thousand rows, not a million: the database holds one row a user only for
the users a worker has reached (BulkItem: their outcome, before/after and Auth0's answer),
made a block at a time as it reaches them (`make_items`). The preview marks the users it skips
in their block (`set_skips`); the run's page reads a page of users from the blocks, each
replaced by its item once there is one (`ItemPages`).

Interface::

    with BlockWriter(run) as writer:       # the selection
        writer.add(user_id, email, profile_json)
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

    def add(self, user_id: str, email: str, profile: bytes | str) -> None:
        """One user; `profile` is its profile's JSON (a dict of the snapshot's fields)."""
        text = profile.encode() if isinstance(profile, str) else profile
        self.add_line(b"".join((orjson.dumps([user_id, email])[:-1], b",", text, b"]")))

    def add_line(self, line: bytes) -> None:
        """One user as its JSON line ``[user id, email, profile]`` (no line break in it)."""
        self._lines.append(line)
        self.count += 1
        if len(self._lines) >= BLOCK:
            self._seal()

    def add_user(self, user_id: str, email: str, profile: dict[str, Any]) -> None:
        self.add(user_id, email, orjson.dumps(profile))

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
    lines = isal_zlib.decompress(block.data)
    if fields is None:
        return [tuple(orjson.loads(line)) for line in lines.split(b"\n")]
    # The block's lines are one JSON array a user, none with a line break in it: as one
    # array of arrays they are decoded in one call.
    names = tuple(dict.fromkeys(fields))
    decoded = _decoder(names).decode(b"".join((b"[", lines.replace(b"\n", b","), b"]")))
    return [
        (
            user_id,
            email,
            {n: v for n, v in zip(names, astuple(kept), strict=True) if v is not UNSET},
        )
        for user_id, email, kept in decoded
    ]


@lru_cache(maxsize=16)
def _decoder(names: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """A block's users, each profile decoded as a tuple of `names` (UNSET where absent)."""
    kept = msgspec.defstruct(
        "Kept", [(f"f{i}", Any, msgspec.field(default=UNSET, name=n)) for i, n in enumerate(names)]
    )
    return msgspec.json.Decoder(list[tuple[Any, Any, kept]])  # type: ignore[valid-type]


def blocks(
    run: BulkRun, fields: tuple[str, ...] | None = None
) -> Iterator[tuple[BulkBlock, list[User]]]:
    """Each block of the run in order with its users (users_of), a few blocks in memory at a
    time."""
    query = run.blocks.order_by("first")
    after = -1
    while True:
        batch = list(query.filter(first__gt=after)[:BLOCKS_AT_ONCE])
        if not batch:
            return
        for block in batch:
            yield block, users_of(block, fields)
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
