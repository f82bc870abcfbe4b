"""Auth0 v3 user search evaluated on export records: the filter of exact search exports.

Interface::

    from exports.matching import Unanswerable, compile_query

    query = compile_query('email_verified:true AND NOT user_metadata.plan:"gold"')
    query.fields        # the export fields the query reads: ("email_verified", "user_metadata")
    match = query.bind(getters)   # getters: {export field: callable(record) -> its value}
    match(record)       # True when the record is a match

    query.compile(Attributes({field: attribute}))  # the same, written as one expression
    query.compile(Cells({field: column index}))    # ... on rows of raw CSV cells

``compile_query`` raises :class:`Unanswerable` (``.reason`` in plain words) for a query this
module cannot answer the way Auth0 would, so a form can refuse it before any job starts: a
term without a field name (Auth0 does not document which fields it searches), fuzzy,
proximity, boosts, regexes, ``?``, ``>``/``<`` comparisons, unknown fields, wildcards or
ranges on metadata and a leading ``*`` with fewer than three characters after it.

Semantics (https://auth0.com/docs/manage-users/user-search/user-search-query-syntax), the same
rules the sandbox tenant searches with, evaluated in Python instead of SQL:

- Fields are untokenized: ``field:value`` and ``field:"a phrase"`` match the whole value.
  ``email``, ``email.domain``, ``name``, ``given_name``, ``family_name`` and ``nickname``
  compare lower-cased; every other field, metadata included, is case-sensitive.
- ``*`` wildcards anywhere in a term (case-sensitive on the lower-cased value of a
  case-insensitive field); ``field:*`` means "has a value". Phrases are literal.
- Ranges ``[a TO b]``, ``{a TO b}``, mixed and open (``*``) on text, ``logins_count`` and the
  dates; a partial date names its whole period (``2017-12`` is the month): an exact date or an
  inclusive upper bound covers the period, an exclusive lower bound skips it.
- ``_exists_:field``; metadata objects exist when any leaf under them has a value.
- ``AND``, ``OR``, ``NOT`` (upper case), ``+``/``-``, grouping and ``field:(a OR b)`` as
  boolean logic: a missing value is "no match", so ``NOT email:x`` keeps users with no email.
- Metadata paths walk objects and arrays alike (``user_metadata.addresses.city`` matches any
  element); null, empty arrays and empty objects have no value. A metadata value matches as
  text, and a number written in the query also matches the same number stored as a number.
- ``identities.connection``, ``.provider``, ``.user_id`` and ``.isSocial`` match any identity;
  ``email.domain`` is the part of ``email`` after its last ``@``.

A metadata path is read from its whole root object (``user_metadata``): an export field
``user_metadata.addresses.city`` would not reach into the array. So ``Query.fields`` names the
roots (and ``identities`` whole, ``email`` for ``email.domain``).
"""

from __future__ import annotations

import calendar
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse
from luqum.utils import UnknownOperationResolver

METADATA_ROOTS = ("app_metadata", "user_metadata")
MAX_DEPTH = 64
MIN_SUFFIX_CHARS = 3

# name -> kind. "text" fields compare whole values; FOLDED ones lower-cased.
KINDS: dict[str, str] = {
    "user_id": "text",
    "username": "text",
    "phone_number": "text",
    "last_ip": "text",
    "email": "text",
    "email.domain": "text",
    "name": "text",
    "given_name": "text",
    "family_name": "text",
    "nickname": "text",
    "email_verified": "bool",
    "phone_verified": "bool",
    "blocked": "bool",
    "logins_count": "int",
    "created_at": "date",
    "updated_at": "date",
    "last_login": "date",
    "identities.connection": "identity",
    "identities.provider": "identity",
    "identities.user_id": "identity",
    "identities.isSocial": "identity",
    "organization_id": "none",
}
FOLDED = frozenset({"email", "email.domain", "name", "given_name", "family_name", "nickname"})
NOT_SEARCHABLE = frozenset(
    {"picture", "last_password_reset", "multifactor", "multifactor_last_modified"}
)

Record = Any
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]


class Unanswerable(ValueError):
    """A query whose answer here could differ from Auth0's; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def export_field(name: str) -> str:
    """The export field a searchable name is read from."""
    if name == "email.domain":
        return "email"
    if name.startswith("identities."):
        return "identities"
    return name.split(".", 1)[0] if _is_metadata(name) else name


def canonical(value: Any) -> str:
    """A metadata or identity value as text (how search compares them)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def metadata_values(text: str) -> frozenset[str]:
    """The stored texts a metadata term matches: as written, and as a number if it is one."""
    values = {text}
    if _NUMBER.fullmatch(text):
        number = float(text)
        values.add(canonical(number))
        if number.is_integer() and abs(number) < 2**53:
            values.add(canonical(int(number)))
    return frozenset(values)


# --- The compiled query: a tree of nodes, bound to getters into a predicate ---------------


class _Source:
    """A predicate being written as one Python expression over ``r``: values the expression
    needs (tests, bound predicates) go into ``names``."""

    def __init__(self, get: Mapping[str, Any]) -> None:
        self.get = get
        self.names: dict[str, Any] = {}

    def name(self, value: Any, prefix: str) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name


@dataclass(frozen=True)
class _Node:
    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        raise NotImplementedError

    def source(self, out: _Source) -> str:
        """This node as a Python expression (by default a call of its bound predicate)."""
        return f"{out.name(self.bind(out.get), 'p')}(r)"


@dataclass(frozen=True)
class _All(_Node):
    value: bool

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        value = self.value
        return lambda record: value

    def source(self, out: _Source) -> str:
        return repr(self.value)


def _both(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) and second(record)


def _either(first: Predicate, second: Predicate) -> Predicate:
    return lambda record: first(record) or second(record)


@dataclass(frozen=True)
class _And(_Node):
    parts: tuple[_Node, ...]

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        bound = [part.bind(get) for part in self.parts]
        test = bound[-1]
        for first in reversed(bound[:-1]):
            test = _both(first, test)
        return test

    def source(self, out: _Source) -> str:
        return "(" + " and ".join(part.source(out) for part in self.parts) + ")"


@dataclass(frozen=True)
class _Or(_Node):
    parts: tuple[_Node, ...]

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        bound = [part.bind(get) for part in self.parts]
        test = bound[-1]
        for first in reversed(bound[:-1]):
            test = _either(first, test)
        return test

    def source(self, out: _Source) -> str:
        return "(" + " or ".join(part.source(out) for part in self.parts) + ")"


@dataclass(frozen=True)
class _Not(_Node):
    part: _Node

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        inner = self.part.bind(get)
        return lambda record: not inner(record)

    def source(self, out: _Source) -> str:
        return f"(not {self.part.source(out)})"


@dataclass(frozen=True)
class _Test(_Node):
    """One test on one searchable name: ``test(value)`` on each of its values."""

    name: str
    test: Callable[[Any], bool] = field(compare=False)
    # Metadata: also the leaves of objects under the path (``_exists_``), not only its own.
    deep: bool = False

    def source(self, out: _Source) -> str:
        kind = KINDS.get(self.name)
        attribute = out.get.get(self.name) if isinstance(out.get, Attributes) else None
        if attribute is None or kind not in _SINGLE_TYPES or self.name == "email.domain":
            return super().source(out)
        test = out.name(self.test, "t")
        value = f"v{len(out.names)}"
        if self.name in FOLDED:
            return f"(type({value} := r.{attribute}) is str and {test}({value}.lower()))"
        wanted = _SINGLE_TYPES[kind]
        return f"(type({value} := r.{attribute}) is {wanted} and {test}({value}))"

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        if isinstance(get, Cells):
            return _cell_test(self.name, get[export_field(self.name)], self.test)
        test = self.test
        kind = KINDS.get(self.name)
        if kind in ("bool", "int", "date") or (kind == "text" and self.name != "email.domain"):
            return _single_test(self.name, get[self.name], test)
        values = _values(self.name, get[export_field(self.name)], self.deep)
        if kind == "text":
            single = values

            def one(record: Record) -> bool:
                value = single(record)
                return value is not None and test(value)

            return one
        many = values
        return lambda record: any(test(value) for value in many(record))


def _single_test(name: str, getter: Getter, test: Callable[[Any], bool]) -> Predicate:
    """``test`` on a profile field's value, its type checked inline (one call a record)."""
    kind = KINDS[name]
    wanted: type = {"bool": bool, "int": int}.get(kind, str)
    if name in FOLDED:

        def folded(record: Record) -> bool:
            value = getter(record)
            return type(value) is str and test(value.lower())

        return folded

    def typed(record: Record) -> bool:
        value = getter(record)
        return type(value) is wanted and test(value)

    return typed


_SINGLE_TYPES = {"bool": "bool", "int": "int", "date": "str", "text": "str"}


class Attributes(dict[str, str]):
    """A binding to objects whose attributes hold the fields: export field -> attribute name
    (msgspec structs decoded from NDJSON; see ``Query.compile``)."""

    def __getitem__(self, key: str) -> Getter:  # type: ignore[override]
        return operator.attrgetter(super().__getitem__(key))


class Cells(dict[str, int]):
    """A binding to rows of raw CSV cells (``list[bytes]`` as Auth0 wrote them): export field
    -> column index. Only for queries whose fields are single values (``Query.scalar``)."""


_FLAGS = {b"true": True, b"false": False}
_ESCAPED = b"\"'"


def _cell_test(name: str, index: Any, test: Callable[[Any], bool]) -> Predicate:
    """``test`` on one raw cell, in one call per row: the cell is decoded only as far as the
    field's kind needs (the hot loop of an exact export from a CSV file)."""
    kind = KINDS[name]
    if kind == "bool":
        accepted = frozenset(raw for raw, flag in _FLAGS.items() if test(flag))
        return lambda cells: cells[index] in accepted
    if kind == "int":

        def integer(cells: list[bytes]) -> bool:
            cell = cells[index]
            if not cell:
                return False
            try:
                return test(int(cell))
            except ValueError:
                return False

        return integer
    if kind == "date":

        def date(cells: list[bytes]) -> bool:
            cell = cells[index]
            return bool(cell) and cell[0] != 34 and test(cell.decode())

        return date
    if name == "email.domain":

        def domain(cells: list[bytes]) -> bool:
            cell = cells[index]
            if cell[:2] != _ESCAPED or b"@" not in cell:
                return False
            part = cell[2:-1].replace(b'""', b'"').decode().rsplit("@", 1)[1].lower()
            return bool(part) and test(part)

        return domain
    folded = name in FOLDED

    def text(cells: list[bytes]) -> bool:
        cell = cells[index]
        if cell[:2] != _ESCAPED:
            return False
        value = cell[2:-1].replace(b'""', b'"').decode()
        return test(value.lower() if folded else value)

    return text


def _values(name: str, getter: Getter, deep: bool = False) -> Getter:
    """What ``email.domain`` (one value, None when there is none), an identity field or a
    metadata path (a list of values) holds in a record; profile fields go by _single_test."""
    kind = KINDS.get(name)
    if name == "email.domain":

        def domain(record: Record) -> Any:
            email = getter(record)
            if type(email) is not str or "@" not in email:
                return None
            return email.rsplit("@", 1)[1].lower() or None

        return domain
    if kind == "identity":
        key = name.split(".", 1)[1]

        def identity_values(record: Record) -> list[str]:
            identities = getter(record)
            if type(identities) is not list:
                return []
            return [
                canonical(identity[key])
                for identity in identities
                if type(identity) is dict and identity.get(key) is not None
            ]

        return identity_values
    return metadata_values_of(name, getter, deep)


def _leaves(value: Any, out: list[str], deep: bool) -> None:
    kind = type(value)
    if kind is dict:
        if deep:
            for item in value.values():
                _leaves(item, out, deep)
    elif kind is list:
        for item in value:
            _leaves(item, out, deep)
    elif value is not None:
        out.append(canonical(value))


def metadata_values_of(path: str, getter: Getter, deep: bool) -> Getter:
    """The values at a metadata path (with ``deep``, also every leaf under it), from the
    getter of its root object: arrays are transparent at every level; null, empty arrays and
    empty objects give nothing."""
    steps = path.split(".")[1:]
    last = len(steps)

    def walk(value: Any, depth: int, out: list[str]) -> None:
        if depth == last:
            _leaves(value, out, deep)
        elif type(value) is dict:
            if steps[depth] in value:
                walk(value[steps[depth]], depth + 1, out)
        elif type(value) is list:
            for item in value:
                walk(item, depth, out)

    def get(record: Record) -> list[str]:
        out: list[str] = []
        walk(getter(record), 0, out)
        return out

    return get


# --- Compiling ------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
STAR = None


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _pattern(raw: str) -> list[str | None]:
    """A word split on its unescaped ``*`` (None marks a star)."""
    parts: list[str | None] = []
    literal: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            literal.append(next(chars, ""))
        elif char == "*":
            if literal:
                parts.append("".join(literal))
                literal = []
            if not parts or parts[-1] is not STAR:
                parts.append(STAR)
        elif char == "?":
            raise Unanswerable(f"The ? wildcard is not supported by Auth0 (in {raw!r}): use *.")
        elif char == '"':
            raise Unanswerable(f"Unbalanced quote in {raw!r}.")
        else:
            literal.append(char)
    if literal:
        parts.append("".join(literal))
    if raw in {"&&", "||"} or raw.startswith("!"):
        raise Unanswerable(f"{raw!r}: write the operators AND, OR and NOT in upper case.")
    return parts


def _literal(parts: list[str | None]) -> str:
    return "".join(part for part in parts if part is not STAR)


def _glob(parts: list[str | None]) -> Callable[[Any], bool]:
    regex = re.compile(
        "".join(".*" if part is STAR else re.escape(part) for part in parts) + r"\Z", re.DOTALL
    )
    return lambda value: regex.match(value) is not None


_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?:T(?P<hour>\d{2})"
    r"(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?)?)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def date_period(text: str, name: str) -> tuple[str, str | None]:
    """[start, end) of the period a (partial) ISO-8601 date names, in Auth0's stored form."""
    found = _DATE.match(text)
    if found is None:
        raise Unanswerable(
            f"{name} takes an ISO-8601 date such as 2017-12-31 (or 2017-12), not {text!r}."
        )
    parts = found.groupdict()
    zone = parts["zone"]
    tz: timezone = UTC
    if zone not in (None, "Z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(offset if zone[0] == "+" else -offset)
    try:
        year = int(parts["year"])
        start = datetime(
            year,
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int((parts["fraction"] or "0").ljust(3, "0")[:3]) * 1000,
            tzinfo=tz,
        )
        if parts["fraction"] is not None:
            step = timedelta(milliseconds=1)
        elif parts["second"] is not None:
            step = timedelta(seconds=1)
        elif parts["minute"] is not None:
            step = timedelta(minutes=1)
        elif parts["hour"] is not None:
            step = timedelta(hours=1)
        elif parts["day"] is not None:
            step = timedelta(days=1)
        elif parts["month"] is not None:
            step = timedelta(days=calendar.monthrange(start.year, start.month)[1])
        else:
            step = timedelta(days=366 if calendar.isleap(year) else 365)
    except ValueError:
        raise Unanswerable(f"{name}: {text!r} is not a valid date.") from None
    try:
        end: str | None = _iso(start + step)
    except OverflowError:
        end = None
    return _iso(start), end


def _between(
    low: Any, low_inclusive: bool, high: Any, high_inclusive: bool
) -> Callable[[Any], bool]:
    if low is None and high is None:
        return lambda value: True
    if high is None:
        return (lambda v: v >= low) if low_inclusive else (lambda v: v > low)
    if low is None:
        return (lambda v: v <= high) if high_inclusive else (lambda v: v < high)

    def both(value: Any) -> bool:
        above = value >= low if low_inclusive else value > low
        return above and (value <= high if high_inclusive else value < high)

    return both


def _integer(name: str, text: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise Unanswerable(f"{name} takes a whole number, not {text!r}.")
    return int(text)


def _is_metadata(name: str) -> bool:
    return name.partition(".")[0] in METADATA_ROOTS


class _Compiler:
    def __init__(self) -> None:
        self.names: dict[str, None] = {}

    def node(self, item: tree.Item, name: str | None, depth: int) -> _Node:
        if depth > MAX_DEPTH:
            raise Unanswerable("The query is nested too deeply.")
        depth += 1
        if isinstance(item, tree.AndOperation):
            return _And(tuple(self.node(op, name, depth) for op in item.operands))
        if isinstance(item, tree.OrOperation):
            return _Or(tuple(self.node(op, name, depth) for op in item.operands))
        if isinstance(item, tree.Not | tree.Prohibit):
            return _Not(self.node(item.a, name, depth))
        if isinstance(item, tree.Plus):
            return self.node(item.a, name, depth)
        if isinstance(item, tree.Group | tree.FieldGroup):
            return self.node(item.expr, name, depth)
        if isinstance(item, tree.SearchField):
            return self.search_field(item, name, depth)
        if isinstance(item, tree.Word | tree.Phrase):
            return self.term(name, item)
        if isinstance(item, tree.Range):
            return self.range(name, item)
        raise Unanswerable(_unsupported(item))

    def search_field(self, item: tree.SearchField, outer: str | None, depth: int) -> _Node:
        name = _unescape(item.name)
        if outer is not None:
            raise Unanswerable(f"{outer}:(...) cannot contain another field ({name}:).")
        if name == "*":
            if isinstance(item.expr, tree.Word) and _pattern(item.expr.value) == [STAR]:
                return _All(True)
            raise Unanswerable("*: is only supported as *:* (every user).")
        if "*" in name or "?" in name:
            raise Unanswerable(f"Wildcards in field names are not supported ({name}:).")
        if isinstance(item.expr, tree.Plus | tree.Prohibit | tree.Not):
            raise Unanswerable(
                f"{name}: is followed by an operator where a value should be; to negate, "
                f"write NOT {name}:value; to search a value starting with it, quote the value."
            )
        if name != "_exists_":
            self.check_field(name)
        return self.node(item.expr, name, depth)

    def check_field(self, name: str) -> str:
        if name in KINDS:
            return KINDS[name]
        root, _, rest = name.partition(".")
        if root in METADATA_ROOTS and rest:
            return "metadata"
        if name in NOT_SEARCHABLE:
            raise Unanswerable(f"{name} is not searchable on Auth0.")
        if name in METADATA_ROOTS:
            raise Unanswerable(f"Search a metadata field by its path, e.g. {name}.plan:gold.")
        if root == "identities":
            raise Unanswerable(
                f"{name} is not searchable: the identity fields are identities.connection, "
                "identities.provider, identities.user_id and identities.isSocial."
            )
        raise Unanswerable(f"Unknown field “{name}”: it is not one Auth0 searches.")

    def test(self, name: str, check: Callable[[Any], bool]) -> _Node:
        if KINDS.get(name) == "none":
            return _All(False)
        self.names[name] = None
        return _Test(name, check)

    def term(self, name: str | None, item: tree.Word | tree.Phrase) -> _Node:
        if name is None:
            shown = str(item)
            raise Unanswerable(
                f"The term {shown} has no field name. Auth0 searches several fields for such "
                "a term without saying which, so an export cannot match it the same way: "
                f"name the field, e.g. email:{shown} or name:{shown}."
            )
        if name == "_exists_":
            return self.exists(self.plain_text(item, "_exists_"))
        kind = self.check_field(name)
        if isinstance(item, tree.Phrase):
            return self.equals(name, kind, _unescape(item.value[1:-1]))
        parts = _pattern(item.value)
        if parts == [STAR]:
            if kind == "metadata":
                raise Unanswerable(
                    f"Wildcards are not supported on metadata; to find users that have {name}, "
                    f"write _exists_:{name}."
                )
            return self.exists(name)
        if STAR not in parts:
            return self.equals(name, kind, _literal(parts))
        if kind == "metadata":
            raise Unanswerable(
                f"Auth0 does not support wildcards on metadata ({name}:{item.value}); "
                "search for the exact value."
            )
        if kind not in ("text", "identity"):
            raise Unanswerable(f"Wildcards work on text fields only, not on {name}.")
        if parts[0] is STAR and len(_literal(parts)) < MIN_SUFFIX_CHARS:
            raise Unanswerable(
                f"A wildcard at the start of a term needs at least {MIN_SUFFIX_CHARS} "
                f"characters after it ({item.value!r})."
            )
        if name in FOLDED:
            parts = [part.lower() if part is not STAR else STAR for part in parts]
        return self.test(name, _glob(parts))

    def plain_text(self, item: tree.Word | tree.Phrase, context: str) -> str:
        if isinstance(item, tree.Phrase):
            return _unescape(item.value[1:-1])
        parts = _pattern(item.value)
        if STAR in parts:
            raise Unanswerable(f"Wildcards are not supported in {context}.")
        return _literal(parts)

    def equals(self, name: str, kind: str, text: str) -> _Node:
        if kind == "metadata":
            wanted = metadata_values(text)
            return self.test(name, wanted.__contains__)
        if kind in ("text", "identity"):
            value = text.lower() if name in FOLDED else text
            return self.test(name, value.__eq__)
        if kind == "bool":
            if text not in ("true", "false"):
                raise Unanswerable(f"{name} takes true or false, not {text!r}.")
            flag = text == "true"
            return self.test(name, lambda value: value is flag)
        if kind == "int":
            number = _integer(name, text)
            return self.test(name, number.__eq__)
        if kind == "date":
            start, end = date_period(text, name)
            return self.test(name, _between(start, True, end, False))
        return _All(False)

    def range(self, name: str | None, item: tree.Range) -> _Node:
        if name is None:
            raise Unanswerable("A range needs a field name, e.g. logins_count:[10 TO 100].")
        if name == "_exists_":
            raise Unanswerable("_exists_ takes a field name, not a range.")
        kind = self.check_field(name)
        if kind == "metadata":
            raise Unanswerable(f"Auth0 does not support ranges on metadata ({name}).")
        if kind == "none":
            return _All(False)
        if kind == "bool":
            raise Unanswerable(f"Ranges do not apply to {name}; search for true or false.")
        low, high = _bound(item.low), _bound(item.high)
        if kind == "int":
            return self.test(
                name,
                _between(
                    None if low is None else _integer(name, low),
                    item.include_low,
                    None if high is None else _integer(name, high),
                    item.include_high,
                ),
            )
        if kind == "date":
            lower: tuple[Any, bool] = (None, True)
            upper: tuple[Any, bool] = (None, False)
            if low is not None:
                start, end = date_period(low, name)
                if end is None and not item.include_low:
                    return _All(False)
                lower = (start, True) if item.include_low else (end, True)
            if high is not None:
                start, end = date_period(high, name)
                upper = (end, False) if item.include_high else (start, False)
            return self.test(name, _between(lower[0], lower[1], upper[0], upper[1]))
        if name in FOLDED:
            low = None if low is None else low.lower()
            high = None if high is None else high.lower()
        return self.test(name, _between(low, item.include_low, high, item.include_high))

    def exists(self, name: str) -> _Node:
        if _is_metadata(name):
            self.names[name] = None
            return _Test(name, lambda value: True, deep=True)
        if name == "identities":
            self.names["identities.connection"] = None
            return _First("identities.connection")
        kind = self.check_field(name)
        if kind == "none":
            return _All(False)
        return self.test(name, lambda value: True)


@dataclass(frozen=True)
class _First(_Node):
    """``_exists_:identities``: the first identity has a connection."""

    name: str

    def bind(self, get: Mapping[str, Getter]) -> Predicate:
        getter = get["identities"]

        def first(record: Record) -> bool:
            identities = getter(record)
            return (
                type(identities) is list
                and bool(identities)
                and type(identities[0]) is dict
                and type(identities[0].get("connection")) is str
            )

        return first


def _bound(item: tree.Item) -> str | None:
    if isinstance(item, tree.Phrase):
        return _unescape(item.value[1:-1])
    if isinstance(item, tree.Prohibit) and isinstance(item.a, tree.Word | tree.Phrase):
        return "-" + (_bound(item.a) or "*")
    if isinstance(item, tree.Word):
        return None if item.value == "*" else _unescape(item.value)
    raise Unanswerable("A range bound must be a value or *.")


def _unsupported(item: tree.Item) -> str:
    if isinstance(item, tree.Fuzzy | tree.Proximity):
        return "Fuzzy and proximity searches (~) are not supported by Auth0's user search."
    if isinstance(item, tree.Boost):
        return "Boosts (^) are not supported by Auth0's user search."
    if isinstance(item, tree.Regex):
        return "Regular expressions (/.../) are not supported by Auth0's user search."
    if isinstance(item, tree.From | tree.To):
        return (
            "Comparisons with > and < are not supported: use a range, e.g. logins_count:[100 TO *]."
        )
    return f"{type(item).__name__} expressions are not supported by Auth0's user search."


@dataclass(frozen=True)
class Query:
    """A compiled query: ``fields`` to export for it, ``bind`` to make its predicate."""

    text: str
    root: _Node
    names: tuple[str, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The export fields the query reads (metadata paths stay paths; identities whole)."""
        return tuple(dict.fromkeys(export_field(name) for name in self.names))

    @property
    def scalar(self) -> bool:
        """Every field it reads is a single value CSV can carry (no identities, no metadata),
        so it can be answered from a CSV export."""
        return all(KINDS.get(name) in ("text", "bool", "int", "date") for name in self.names)

    def bind(self, getters: Mapping[str, Getter]) -> Predicate:
        """The predicate on records read by ``getters`` (export field -> record -> value),
        or, given :class:`Cells`, on rows of raw CSV cells."""
        return self.root.bind(getters)

    def compile(self, binding: Attributes | Cells) -> Predicate:
        """The same predicate as ``bind(binding)``, written as one Python expression, so a
        record costs one call plus one per test instead of a call per node."""
        out = _Source(binding)
        expression = self.root.source(out)
        predicate: Predicate = eval(f"lambda r: {expression}", out.names)  # noqa: S307
        return predicate


def compile_query(text: str) -> Query:
    """Compile ``text``; :class:`Unanswerable` when it cannot be answered faithfully."""
    if not text.strip():
        raise Unanswerable("The query is empty: an export of every user needs no query.")
    try:
        parsed = parse(text)
        resolved = UnknownOperationResolver(resolve_to=tree.AndOperation)(parsed)
        compiler = _Compiler()
        root = compiler.node(resolved, None, 0)
    except IllegalCharacterError as exc:
        raise Unanswerable(f"The query does not parse ({exc}).") from None
    except ParseError as exc:
        raise Unanswerable(f"The query does not parse ({exc}).") from None
    except RecursionError:
        raise Unanswerable("The query is nested too deeply.") from None
    return Query(text, root, tuple(compiler.names))


def problem(text: str) -> str | None:
    """Why ``text`` cannot be an exact export's query, or None."""
    try:
        compile_query(text)
    except Unanswerable as exc:
        return exc.reason
    return None


def fields_of(texts: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        for name in compile_query(text).fields:
            found[name] = None
    return list(found)
