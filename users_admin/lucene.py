"""Compile the search builder's rows into an Auth0 v3 (Lucene) query. Pure functions.

Values for "is" are quoted phrases (exact whole value); wildcard operators cannot be
quoted (a quoted `*` is literal), so their values are backslash-escaped instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Op(StrEnum):
    IS = "is"
    STARTS_WITH = "starts"
    ENDS_WITH = "ends"
    CONTAINS = "contains"
    GREATER = "gt"
    LESS = "lt"
    BETWEEN = "between"
    EXISTS = "exists"
    MISSING = "missing"
    IS_TRUE = "true"
    IS_FALSE = "false"

    @property
    def label(self) -> str:
        return OP_LABELS[self]


OP_LABELS: dict[Op, str] = {
    Op.IS: "is",
    Op.STARTS_WITH: "starts with",
    Op.ENDS_WITH: "ends with",
    Op.CONTAINS: "contains",
    Op.GREATER: "greater than / after",
    Op.LESS: "less than / before",
    Op.BETWEEN: "between",
    Op.EXISTS: "exists",
    Op.MISSING: "does not exist",
    Op.IS_TRUE: "is true",
    Op.IS_FALSE: "is false",
}
VALUE_OPS = frozenset({Op.IS, Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS, Op.GREATER, Op.LESS})
WILDCARD_OPS = frozenset({Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS})
# Auth0 rejects a leading wildcard with fewer literal characters after it.
MIN_SUFFIX_CHARS = 3


class Kind(StrEnum):
    TEXT = "text"
    BOOL = "bool"
    NUMBER = "number"
    DATE = "date"
    METADATA = "metadata"


# What the builder offers for each kind of field (the page hides the others, the form refuses them).
KIND_OPS: dict[Kind, tuple[Op, ...]] = {
    Kind.TEXT: (Op.IS, Op.STARTS_WITH, Op.ENDS_WITH, Op.CONTAINS, Op.EXISTS, Op.MISSING),
    Kind.NUMBER: (Op.IS, Op.GREATER, Op.LESS, Op.BETWEEN, Op.EXISTS, Op.MISSING),
    Kind.DATE: (Op.GREATER, Op.LESS, Op.BETWEEN, Op.EXISTS, Op.MISSING),
    Kind.BOOL: (Op.IS_TRUE, Op.IS_FALSE, Op.EXISTS, Op.MISSING),
    Kind.METADATA: (Op.IS, Op.IS_TRUE, Op.IS_FALSE, Op.EXISTS, Op.MISSING),
}
# Labels that read naturally for one kind ("after" a date, "greater than" a number).
KIND_OP_LABELS: dict[tuple[Kind, Op], str] = {
    (Kind.NUMBER, Op.GREATER): "greater than",
    (Kind.NUMBER, Op.LESS): "less than",
    (Kind.DATE, Op.GREATER): "after",
    (Kind.DATE, Op.LESS): "before",
}
KIND_NAMES = {
    Kind.TEXT: "text",
    Kind.NUMBER: "number",
    Kind.DATE: "date",
    Kind.BOOL: "yes/no",
    Kind.METADATA: "metadata",
}


# The searchable fields of Auth0's user search v3, with how the builder treats them.
FIELDS: dict[str, tuple[str, Kind]] = {
    "email": ("Email", Kind.TEXT),
    "email.domain": ("Email domain", Kind.TEXT),
    "email_verified": ("Email verified", Kind.BOOL),
    "name": ("Name", Kind.TEXT),
    "given_name": ("Given name", Kind.TEXT),
    "family_name": ("Family name", Kind.TEXT),
    "nickname": ("Nickname", Kind.TEXT),
    "username": ("Username", Kind.TEXT),
    "user_id": ("User ID", Kind.TEXT),
    "phone_number": ("Phone number", Kind.TEXT),
    "phone_verified": ("Phone verified", Kind.BOOL),
    "identities.connection": ("Connection", Kind.TEXT),
    "identities.provider": ("Provider", Kind.TEXT),
    "identities.isSocial": ("Social identity", Kind.BOOL),
    "logins_count": ("Logins count", Kind.NUMBER),
    "created_at": ("Created", Kind.DATE),
    "updated_at": ("Updated", Kind.DATE),
    "last_login": ("Last login", Kind.DATE),
    "last_ip": ("Last IP", Kind.TEXT),
    "blocked": ("Blocked", Kind.BOOL),
    "organization_id": ("Organization ID", Kind.TEXT),
}
METADATA_FIELD = "metadata"  # the builder's choice meaning "a metadata path typed below"
METADATA_PATH = re.compile(r"^(app_metadata|user_metadata)(\.[A-Za-z0-9_]+)+$")

# Lucene's reserved characters, escaped with a backslash outside quotes (whitespace too).
_RESERVED = set('+-&|!(){}[]^"~*?:\\/<>=')
_PLAIN_RANGE_BOUND = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")
_BARE_VALUE = re.compile(r"^(true|false|-?\d+(\.\d+)?)$")
_NUMBER = re.compile(r"^-?\d+$")
# ISO-8601 as Auth0 ranges take it: a year, a month, a day, or a full UTC time.
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?)?)?$")


class QueryError(ValueError):
    """A row that cannot be expressed (the message is for the agent)."""


@dataclass(frozen=True)
class Condition:
    field: str  # a key of FIELDS, or a metadata path like app_metadata.plan
    op: Op
    value: str = ""
    value2: str = ""  # the upper bound of "between"
    negate: bool = False


RANGE_OPS = frozenset({Op.IS, Op.GREATER, Op.LESS, Op.BETWEEN})


def op_label(kind: Kind, op: Op) -> str:
    return KIND_OP_LABELS.get((kind, op), OP_LABELS[op])


def _check_bound(kind: Kind, value: str) -> None:
    if not value:
        return
    if kind is Kind.NUMBER and not _NUMBER.match(value):
        raise QueryError(f"“{value}” is not a whole number.")
    if kind is Kind.DATE and not _DATE.match(value):
        raise QueryError(f"“{value}” is not a date: write it as YYYY-MM-DD.")
    if kind is Kind.DATE and len(value) >= 7:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10] or 1)
        try:
            date(year, month, day)
        except ValueError:
            raise QueryError(f"“{value[:10]}” is no day of the calendar.") from None


def _check_order(kind: Kind, low: str, high: str) -> None:
    """A range whose lower end is above its upper end matches nobody: say so at the row."""
    if not low or not high:
        return
    # ISO dates of any precision compare as text; a year sorts before its months.
    reversed_ = int(low) > int(high) if kind is Kind.NUMBER else low[: len(high)] > high
    if reversed_:
        raise QueryError(
            f"The range runs backwards, from {low} down to {high}: put the lower end first."
        )


def field_kind(field: str) -> Kind:
    if field in FIELDS:
        return FIELDS[field][1]
    if METADATA_PATH.match(field):
        return Kind.METADATA
    raise QueryError(
        f"{field!r} is not a searchable field; metadata paths look like app_metadata.plan"
    )


def quote(value: str) -> str:
    """A quoted phrase: matches the whole value exactly; only `\\` and `"` need escaping."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def escape(value: str) -> str:
    """A bare term with every reserved character and whitespace backslash-escaped."""
    return "".join("\\" + ch if ch in _RESERVED or ch.isspace() else ch for ch in value)


def _range_bound(value: str) -> str:
    value = value.strip()
    if not value:
        return "*"
    return value if _PLAIN_RANGE_BOUND.match(value) else quote(value)


def _exact(kind: Kind, value: str) -> str:
    # Numbers and booleans compare as values; for metadata the agent's literal decides.
    if kind in (Kind.NUMBER, Kind.BOOL, Kind.METADATA) and _BARE_VALUE.match(value):
        return value
    if kind is Kind.DATE and _PLAIN_RANGE_BOUND.match(value):
        return value
    return quote(value)


def compile_condition(condition: Condition) -> str:
    field, op = condition.field, condition.op
    kind = field_kind(field)
    value = condition.value.strip()
    if op in VALUE_OPS and not value:
        raise QueryError(f"Enter a value for “{op.label}”.")
    if kind is Kind.METADATA and op in (*WILDCARD_OPS, Op.BETWEEN):
        raise QueryError(
            "Auth0 allows no wildcards or ranges on metadata: use is, exists, is true or is false."
        )
    if op in (Op.BETWEEN, Op.GREATER, Op.LESS) and kind not in (Kind.NUMBER, Kind.DATE):
        raise QueryError(f"“{op_label(kind, op)}” works on numbers and dates.")
    if op in (Op.IS_TRUE, Op.IS_FALSE) and kind not in (Kind.BOOL, Kind.METADATA):
        raise QueryError(f"“{op.label}” works on yes/no fields and metadata.")
    if op not in KIND_OPS[kind]:
        raise QueryError(f"“{op_label(kind, op)}” does not apply to a {KIND_NAMES[kind]} field.")
    for bound in (value, condition.value2.strip()) if op in RANGE_OPS else ():
        _check_bound(kind, bound)
    if op is Op.BETWEEN:
        _check_order(kind, value, condition.value2.strip())
    if op in (Op.ENDS_WITH, Op.CONTAINS) and len(value) < MIN_SUFFIX_CHARS:
        raise QueryError(
            f"“{op.label}” needs at least {MIN_SUFFIX_CHARS} characters (an Auth0 rule)."
        )

    if op is Op.IS:
        expr = f"{field}:{_exact(kind, value)}"
    elif op is Op.STARTS_WITH:
        expr = f"{field}:{escape(value)}*"
    elif op is Op.ENDS_WITH:
        expr = f"{field}:*{escape(value)}"
    elif op is Op.CONTAINS:
        expr = f"{field}:*{escape(value)}*"
    elif op is Op.GREATER:
        expr = f"{field}:{{{_range_bound(value)} TO *]"
    elif op is Op.LESS:
        expr = f"{field}:[* TO {_range_bound(value)}}}"
    elif op is Op.BETWEEN:
        if not value and not condition.value2.strip():
            raise QueryError("Enter at least one end of the range.")
        expr = f"{field}:[{_range_bound(value)} TO {_range_bound(condition.value2)}]"
    elif op is Op.EXISTS:
        expr = f"_exists_:{field}"
    elif op is Op.MISSING:
        expr = f"NOT _exists_:{field}"
    elif op is Op.IS_TRUE:
        expr = f"{field}:true"
    else:
        expr = f"{field}:false"

    if condition.negate:
        if op is Op.MISSING:
            return f"_exists_:{field}"
        return f"NOT {expr}"
    return expr


def compile_query(conditions: Sequence[Condition], join: str = "AND", connection: str = "") -> str:
    """The whole query: rows joined by AND or OR, then narrowed to a connection if chosen."""
    if join not in ("AND", "OR"):
        raise QueryError("Join rows with AND or OR.")
    parts = [compile_condition(c) for c in conditions]
    query = f" {join} ".join(parts)
    if connection:
        narrowing = f"identities.connection:{quote(connection)}"
        if not query:
            return narrowing
        if len(parts) > 1 and join == "OR":
            query = f"({query})"
        return f"{query} AND {narrowing}"
    return query
