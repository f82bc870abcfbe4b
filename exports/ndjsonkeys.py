"""Where a NDJSON export's line holds a requested column, in either shape Auth0 may write.

Auth0 titles a NDJSON key with the field's ``export_as``, else its name. How it writes a dotted
name without ``export_as`` (``user_metadata.plan``) is UNCONFIRMED: its documentation
(https://auth0.com/docs/manage-users/user-migration/bulk-user-exports) shows no such line and
none was recorded. It may be a literal key (``{"user_metadata.plan": "pro"}``, what the sandbox
writes) or nested objects (``{"user_metadata": {"plan": "pro"}}``). Every reader of a NDJSON
line goes through here, so both shapes read the same.

Interface::

    steps(title) -> tuple[str | int, ...]
        The nested path a title stands for: ``user_metadata.plan`` -> ("user_metadata", "plan"),
        ``identities[0].connection`` -> ("identities", 0, "connection").

    value_at(record, title) -> Any
        The literal key's value when the line has it, else the value at the nested path,
        else None.

    pick(record, titles) -> dict
        A line cut down to those columns, each in the shape the line had it: a literal key stays
        literal; a nested value is kept under its objects (only the picked leaves of them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@lru_cache(maxsize=1024)
def steps(title: str) -> tuple[str | int, ...]:
    return tuple(
        int(index) if index else key for key, index in _STEP.findall(title) if key or index
    )


def value_at(record: Mapping[str, Any], title: str) -> Any:
    if title in record:
        return record[title]
    if "." not in title and "[" not in title:
        return None
    value: Any = record
    for step in steps(title):
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
        elif not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def pick(record: Mapping[str, Any], titles: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for title in titles:
        if title in record:
            out[title] = record[title]
            continue
        path = steps(title)
        value = value_at(record, title)
        if value is None or len(path) < 2:
            continue
        if any(isinstance(step, int) for step in path):
            # An indexed path is kept under its title: a partial array would misplace items.
            out[title] = value
            continue
        target = out
        for step in path[:-1]:
            inner = target.setdefault(str(step), {})
            if not isinstance(inner, dict):
                break
            target = inner
        else:
            target[str(path[-1])] = value
    return out
