"""Adding and removing builder rows without JavaScript: a pure edit of the submitted rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
