"""Adding and removing builder rows without JavaScript: a pure edit of the submitted rows."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.http import QueryDict

ROW_PREFIX = "c"
ROW_KEYS = ("negate", "field", "path", "op", "value", "value2")
MAX_ROWS = 20


def submitted_rows(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """The builder rows in `data` (a GET QueryDict), as initial values for new forms."""
    try:
        total = int(data.get(f"{ROW_PREFIX}-TOTAL_FORMS", 0))
    except (TypeError, ValueError):
        total = 0
    rows = []
    for index in range(min(max(total, 0), MAX_ROWS)):
        row = {}
        for key in ROW_KEYS:
            value = data.get(f"{ROW_PREFIX}-{index}-{key}")
            if value is not None:
                row[key] = value
        if "negate" in row:
            row["negate"] = "on"
        rows.append(row)
    return rows


def edited_rows(data: Mapping[str, Any], *, add: bool, remove: int | None) -> list[dict[str, str]]:
    rows = submitted_rows(data)
    if remove is not None and 0 <= remove < len(rows):
        del rows[remove]
    if add and len(rows) < MAX_ROWS:
        rows.append({})
    return rows or [{}]


_ROW_KEY = re.compile(rf"^{ROW_PREFIX}-([0-9]{{1,6}})-")


def with_management_form(data: QueryDict) -> QueryDict:
    """A hand-trimmed or hand-made URL may leave out the formset's bookkeeping fields:
    count the rows it names instead of refusing it."""
    total, initial = f"{ROW_PREFIX}-TOTAL_FORMS", f"{ROW_PREFIX}-INITIAL_FORMS"
    if total in data and initial in data:
        return data
    data = data.copy()
    if total not in data:
        indexes = [int(m.group(1)) for key in data if (m := _ROW_KEY.match(key))]
        data[total] = str(min(max(indexes, default=-1) + 1, MAX_ROWS))
    data.setdefault(initial, "0")
    return data
