"""Numbers read from a URL's query string: ASCII digits only, so no input ends in a 500."""

from __future__ import annotations

import re

# 18 digits fit every integer column (PostgreSQL's bigint holds 19).
_NUMBER = re.compile(r"[0-9]{1,18}")


def whole_number(value: object) -> int | None:
    """A non-negative whole number, or None for anything else: `str.isdigit()` takes "²" and
    "٣", and `int()` refuses "²" and more than 4,300 digits."""
    text = str(value or "")
    return int(text) if _NUMBER.fullmatch(text) else None
