# ruff: noqa: S608 (table and column names are our constants; values are always bound parameters)
"""Auth0 user search (v3, a Lucene subset) compiled to SQLite over the sandbox's search index.

Interface (used by the `/api/v2/users` view):

    from sandbox.query import QueryError, compile_query, sort_clause

    where = compile_query(q)        # CompiledQuery(sql, params); also unpacks as (sql, params)
    order = sort_clause(sort)       # e.g. "u.s_created_at ASC NULLS LAST, u.id ASC"
    cursor.execute(
        "SELECT u.profile FROM sandbox_tenantuser u"
        f" WHERE u.searchable = 1 AND ({where.sql}) ORDER BY {order} LIMIT ? OFFSET ?",
        [*where.params, limit, offset],
    )
    walk = compile_query(q, walk=True)   # the same condition for a NOT INDEXED walk in id order

`where.sql` is a boolean expression over the alias `u` with `?` placeholders (values are always
bound, never interpolated; with Django's cursor, `%s` placeholders come from `.sql_format("%s")`).
A blank `q` compiles to a match-all expression. Both functions raise `QueryError`; render it with
`sandbox.http.api_error(400, err.message, err.error_code)`. The errorCode `invalid_query_string`
is our choice: Auth0 documents no errorCode for a malformed query, and none was recorded.

`sort_clause` is the one place sorting is validated and mapped: keep sort handling out of views.
Write `u.searchable = 1`, not `u.searchable`: only an equality lets SQLite seek the
(searchable, column) indexes. Every indexed kind compiles to a seekable form (equality, a range
on the literal prefix of a wildcard, `u.id IN (SELECT t.user_id FROM sandbox_searchterm t ...)`);
see tests/sandbox/test_query.py for the plans checked.

Semantics (https://auth0.com/docs/manage-users/user-search/user-search-query-syntax),
with the choices made where Auth0 is silent:
- Fields are untokenized: `field:value` and `field:"a phrase"` match the whole value.
  Case-insensitive only for email, email.domain, name, given_name, family_name and nickname.
- `*` wildcards (prefix, suffix, infix, both ends) per term; a leading `*` needs at least three
  literal characters in the term; `?` is rejected. `field:*` means "has a value".
  Phrases are literal: `"a*"` matches the text `a*`.
- Ranges `[a TO b]`, `{a TO b}`, mixed, `*` open ends, on text, `logins_count` (numbers) and the
  dates (ISO-8601, partial dates rounded like Elasticsearch: an inclusive upper bound or an exact
  value covers the whole period, an exclusive lower bound skips it).
- `AND`, `OR`, `NOT` (upper case only; lower-case `and`/`or`/`not` are plain terms, as in
  Lucene), `+`/`-`, grouping, field groups `email:(a OR b)`. AND binds tighter than OR and an
  implicit operator is AND. Operators are evaluated as boolean logic (a missing value is
  "no match", so `NOT email:x` includes users without an email), not as Lucene's scoring clauses.
- A term without a field searches BARE_TERM_FIELDS, never metadata.
- Metadata (`app_metadata.*`, `user_metadata.*`): exact values only; wildcards and ranges are
  rejected on both roots (Auth0 documents the ban for user_metadata; app_metadata is UNCONFIRMED).
- Unknown field names, fuzzy `~`, boosts `^`, regexes and `>`/`<` comparisons are rejected with a
  message that says what to write instead.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, NamedTuple

from luqum import tree
from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.thread import parse
from luqum.utils import UnknownOperationResolver

from sandbox.indexing import METADATA_ROOTS, canonical, fold

ERROR_CODE = "invalid_query_string"

# Deeper nesting than this is refused rather than risking Python's or SQLite's recursion limits.
MAX_DEPTH = 64
MAX_PARAMS = 2000
# A leading `*` forces a scan of every value: Auth0 asks for at least this many literal characters.
MIN_SUFFIX_CHARS = 3

SEARCHTERM = "sandbox_searchterm"
DEFAULT_ORDER = "u.id ASC"


class QueryError(ValueError):
    """A `q` or `sort` Auth0 would answer with 400; `message` is shown to the caller verbatim."""

    status_code = 400
    error_code = ERROR_CODE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CompiledQuery(NamedTuple):
    sql: str
    params: list[Any]

    def sql_format(self, placeholder: str) -> str:
        """The SQL with another placeholder style (`%s` for Django's cursor wrappers)."""
        return self.sql.replace("?", placeholder)


Kind = Literal["text", "int", "bool", "date", "searchterm", "connection", "none"]


@dataclass(frozen=True)
class Field:
    kind: Kind
    column: str | None = None  # the u.s_ column, when there is one
    folded: bool = False  # values are stored lower-cased (case-insensitive search)
    path: str | None = None  # the SearchTerm path for searchterm/connection fields


FIELDS: dict[str, Field] = {
    "user_id": Field("text", "u.s_user_id"),
    "username": Field("text", "u.s_username"),
    "phone_number": Field("text", "u.s_phone_number"),
    "last_ip": Field("text", "u.s_last_ip"),
    "email": Field("text", "u.s_email", folded=True),
    "email.domain": Field("text", "u.s_email_domain", folded=True),
    "name": Field("text", "u.s_name", folded=True),
    "given_name": Field("text", "u.s_given_name", folded=True),
    "family_name": Field("text", "u.s_family_name", folded=True),
    "nickname": Field("text", "u.s_nickname", folded=True),
    "email_verified": Field("bool", "u.s_email_verified"),
    "phone_verified": Field("bool", "u.s_phone_verified"),
    "blocked": Field("bool", "u.s_blocked"),
    "logins_count": Field("int", "u.s_logins_count"),
    "created_at": Field("date", "u.s_created_at"),
    "updated_at": Field("date", "u.s_updated_at"),
    "last_login": Field("date", "u.s_last_login"),
    # The first identity's connection is a column; later identities' are SearchTerm rows.
    "identities.connection": Field("connection", "u.s_connection", path="identities.connection"),
    "identities.provider": Field("searchterm", path="identities.provider"),
    "identities.user_id": Field("searchterm", path="identities.user_id"),
    "identities.isSocial": Field("searchterm", path="identities.isSocial"),
    # Searchable on Auth0, but the sandbox has no organizations: it matches nobody.
    "organization_id": Field("none"),
}

# What a term without a field name searches (exact whole value, each field's case rule).
BARE_TERM_FIELDS = (
    "email",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "username",
    "user_id",
    "phone_number",
)

NOT_SEARCHABLE = frozenset(
    {"picture", "last_password_reset", "multifactor", "multifactor_last_modified"}
)
HINTS = {
    "connection": "identities.connection",
    "email_domain": "email.domain",
    "domain": "email.domain",
    "provider": "identities.provider",
    "strategy": "identities.provider",
}

SORT_RE = re.compile(r"^([a-zA-Z0-9_\.]+):(1|-1)$")
SORT_MESSAGE = (
    "Query validation error: 'String does not match pattern ^([a-zA-Z0-9_\\.]+):(1|-1)$: {sort}'"
    " on property sort (Field to sort by. Use field:order where order is 1 for ascending and -1"
    " for descending. e.g. created_at:1)."
)


def sort_clause(sort: str | None) -> str:
    """`ORDER BY` terms for Auth0's `sort` parameter; `u.id` always breaks ties.

    Users without the sort field come last in both directions (Elasticsearch's default).
    Sorting on a case-insensitive field sorts by its lower-cased value. An empty `sort` is
    treated as absent.
    """
    if not sort:
        return DEFAULT_ORDER
    match = SORT_RE.match(sort)
    if match is None:
        raise QueryError(SORT_MESSAGE.format(sort=sort))
    name, order = match.groups()
    if name.split(".", 1)[0] in METADATA_ROOTS:
        raise QueryError(
            f"Sorting by {name} is not supported: app_metadata and user_metadata"
            " fields cannot be used to sort."
        )
    field = FIELDS.get(name)
    if field is None or field.column is None:
        raise QueryError(f'Cannot sort by "{name}": {_unknown_field_hint(name)}')
    if order == "1":
        return f"{field.column} ASC NULLS LAST, u.id ASC"
    return f"{field.column} DESC NULLS LAST, u.id DESC"


def compile_query(q: str | None, *, walk: bool = False) -> CompiledQuery:
    """Compile an Auth0 v3 query to an SQL boolean expression over `sandbox_tenantuser u`.

    `walk=True` gives the same condition shaped for a walk of the table in id order (`NOT
    INDEXED`, dense matches): SearchTerm tests become correlated EXISTS probes instead of IN
    lists, which SQLite would first build in full.
    """
    if q is None or not q.strip():
        return CompiledQuery("1", [])
    try:
        parsed = parse(q)
        resolved = UnknownOperationResolver(resolve_to=tree.AndOperation)(parsed)
        compiler = _Compiler(correlated=walk)
        sql = compiler.node(resolved, None, 0)
    except IllegalCharacterError as error:
        raise QueryError(_illegal_character_message(q, str(error))) from None
    except ParseError as error:
        raise QueryError(_syntax_message(str(error))) from None
    except RecursionError:
        raise QueryError("The query is nested too deeply.") from None
    if len(compiler.params) > MAX_PARAMS:
        raise QueryError("The query has too many terms; split it into several searches.")
    if walk:
        found = _driving_term(resolved)
        if found is not None:
            term, alone = found
            if alone:
                return CompiledQuery(DRIVER_SQL, list(term))
            return CompiledQuery(f"{DRIVER_SQL} AND ({sql})", [*term, *compiler.params])
    return CompiledQuery(sql, compiler.params)


# Driving a walk from one SearchTerm ------------------------------------------------------------

# The walk form of a query that every match meets through one (path, value) SearchTerm row starts
# with this test. The (path, value, user) index lists those users in id order, so a search walks
# that index instead of the whole table: for a common value the first thousand come at once, and
# a rare one is read in full. `split_driver` gives it back to the search.
DRIVER_SQL = (
    f"EXISTS (SELECT 1 FROM {SEARCHTERM} t WHERE t.user_id = u.id AND t.path = ? AND t.value = ?)"
)


class Driver(NamedTuple):
    path: str
    value: str
    rest: CompiledQuery | None  # the rest of the condition, None when the term is all of it


def split_driver(walk: tuple[str, list[Any]]) -> Driver | None:
    """The driving SearchTerm of a `walk=True` form, if it has one."""
    sql, params = walk
    if sql == DRIVER_SQL:
        return Driver(params[0], params[1], None)
    if sql.startswith(f"{DRIVER_SQL} AND ("):
        rest = CompiledQuery(sql[len(DRIVER_SQL) + 6 : -1], list(params[2:]))
        return Driver(params[0], params[1], rest)
    return None


def _driving_term(item: tree.Item) -> tuple[tuple[str, str], bool] | None:
    """A (path, value) SearchTerm that every match of the query has, and whether it is the
    whole query: a single-valued metadata or identity equality, alone or in a top-level AND."""
    while isinstance(item, tree.Group | tree.Plus):
        item = item.expr if isinstance(item, tree.Group) else item.a
    if isinstance(item, tree.AndOperation):
        for operand in item.operands:
            found = _driving_term(operand)
            if found is not None:
                return found[0], False
        return None
    if not isinstance(item, tree.SearchField) or not isinstance(item.expr, tree.Word | tree.Phrase):
        return None
    name = _unescape(item.name)
    field = FIELDS.get(name)
    is_metadata = name.partition(".")[0] in METADATA_ROOTS and "." in name
    if not is_metadata and (field is None or field.kind != "searchterm"):
        return None
    if isinstance(item.expr, tree.Phrase):
        text = _phrase_text(item.expr)
    else:
        parts = _word_pattern(item.expr.value)
        if _has_wildcard(parts):
            return None
        text = _literal(parts)
    if is_metadata:
        values = _metadata_values(text)
        if len(values) != 1:
            return None
        return (name, values[0]), True
    assert field is not None
    assert field.path is not None
    return (field.path, text), True


# Parse error messages ---------------------------------------------------------------------------

_POSITION_RE = re.compile(r"at position (\d+)")


def _illegal_character_message(q: str, raw: str) -> str:
    found = _POSITION_RE.search(raw)
    position = int(found.group(1)) if found else None
    if position is not None and q[position : position + 1] == '"':
        return f"Invalid query: the quote at position {position} is never closed."
    if position is not None and q[position : position + 1] == "\\":
        return (
            f"Invalid query: the backslash at position {position} escapes nothing; write \\\\"
            " for a literal backslash."
        )
    where = f" at position {position}" if position is not None else ""
    return f"Invalid query: unexpected character{where}."


def _syntax_message(raw: str) -> str:
    if "unexpected end of expression" in raw:
        return (
            "Invalid query: it ends too early (an unclosed parenthesis or range, or an operator"
            " or field name with nothing after it)."
        )
    found = re.search(r"unexpected\s+'(.*)' at position (\d+)", raw, re.DOTALL)
    if found:
        token, position = found.groups()
        hint = ""
        if token in ("AND", "OR", "NOT", "TO"):
            hint = (
                f" {token} is an operator (upper case): put a term on each side, or quote it"
                f' ("{token}") to search for the word.'
            )
        return f"Invalid query: unexpected '{token}' at position {position}.{hint}"
    return "Invalid query: syntax error."


def _unknown_field_hint(name: str) -> str:
    if name in NOT_SEARCHABLE:
        return f"{name} is not searchable."
    if name in METADATA_ROOTS:
        return f"search a metadata field by its path, e.g. {name}.plan:gold."
    if name in HINTS:
        return f"unknown field; did you mean {HINTS[name]}?"
    close = difflib.get_close_matches(name, [*FIELDS, *METADATA_ROOTS], n=1)
    if close:
        return f"unknown field; did you mean {close[0]}?"
    return "unknown field."


# Values -----------------------------------------------------------------------------------------

_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)

# A pattern is a list of literal strings and STAR markers.
STAR = None
Pattern = list[str | None]


def _unescape(text: str) -> str:
    return _ESCAPE_RE.sub(r"\1", text)


def _phrase_text(phrase: tree.Phrase) -> str:
    return _unescape(phrase.value[1:-1])


def _word_pattern(raw: str) -> Pattern:
    """Split a Word on its unescaped `*`; escapes are resolved, `?` and stray quotes refused."""
    parts: Pattern = []
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
            raise QueryError(
                f"The ? wildcard is not supported (in {raw!r}): use * or write \\? for a"
                " literal question mark."
            )
        elif char == '"':
            raise QueryError(f"Invalid query: unbalanced quote in {raw!r}.")
        else:
            literal.append(char)
    if literal:
        parts.append("".join(literal))
    if raw in {"&&", "||"} or raw.startswith("!"):
        raise QueryError(
            f"Invalid query: {raw!r}: use the operators AND, OR and NOT (upper case), or quote"
            " the value."
        )
    return parts


def _is_match_all(parts: Pattern) -> bool:
    return parts == [STAR]


def _has_wildcard(parts: Pattern) -> bool:
    return STAR in parts


def _literal(parts: Pattern) -> str:
    return "".join(part for part in parts if part is not STAR)


def _glob_escape(text: str) -> str:
    return "".join(f"[{char}]" if char in "[]?*" else char for char in text)


def _next_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (code points)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1
            if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored; skip past them
                following = 0xE000
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


# Date periods -----------------------------------------------------------------------------------

_DATE_RE = re.compile(
    r"^(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2})"
    r"(?::(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?)?)?)?)?)?"
    r"(?P<zone>Z|[+-]\d{2}:?\d{2})?$"
)


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _date_period(text: str, field: str) -> tuple[str, str | None]:
    """The [start, end) of the period a (partial) ISO date names, as stored-format text."""
    found = _DATE_RE.match(text)
    if found is None:
        raise QueryError(
            f"{field} takes an ISO-8601 date such as 2017-12-31 or 2017-12-31T23:59:59.000Z"
            f" (partial dates like 2017-12 are allowed), not {text!r}."
        )
    parts = found.groupdict()
    zone = parts["zone"]
    if zone in (None, "Z"):
        tz = UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tz = timezone(sign * offset)
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
        raise QueryError(f"{field}: {text!r} is not a valid date.") from None
    try:
        end: str | None = _iso(start + step)
    except OverflowError:
        end = None
    return _iso(start), end


# The compiler -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bound:
    value: Any  # None: open end
    inclusive: bool


class _Compiler:
    def __init__(self, correlated: bool = False) -> None:
        self.params: list[Any] = []
        # SearchTerm tests as `u.id IN (list)` (index-driven) or as a correlated EXISTS probe
        # per user (cheap when the table is walked in id order and matches are dense).
        self.correlated = correlated

    def terms(self, condition: str) -> str:
        """Users with a SearchTerm row meeting `condition` (over `t.path` and `t.value`)."""
        if self.correlated:
            return f"EXISTS (SELECT 1 FROM {SEARCHTERM} t WHERE t.user_id = u.id AND {condition})"
        return f"u.id IN (SELECT t.user_id FROM {SEARCHTERM} t WHERE {condition})"

    def bind(self, *values: Any) -> None:
        self.params.extend(values)

    # Tree walk ----------------------------------------------------------------------------------

    def node(self, item: tree.Item, field: str | None, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise QueryError("The query is nested too deeply.")
        depth += 1
        if isinstance(item, tree.AndOperation | tree.OrOperation):
            joiner = " AND " if isinstance(item, tree.AndOperation) else " OR "
            return "(" + joiner.join(self.node(op, field, depth) for op in item.operands) + ")"
        if isinstance(item, tree.Not | tree.Prohibit):
            # IFNULL turns SQL's "unknown" (a missing value) into "no match" before negating.
            return f"(NOT IFNULL({self.node(item.a, field, depth)}, 0))"
        if isinstance(item, tree.Plus):
            return self.node(item.a, field, depth)
        if isinstance(item, tree.Group | tree.FieldGroup):
            return self.node(item.expr, field, depth)
        if isinstance(item, tree.SearchField):
            return self.search_field(item, field, depth)
        if isinstance(item, tree.Word | tree.Phrase):
            return self.term(field, item)
        if isinstance(item, tree.Range):
            return self.range(field, item)
        raise QueryError(_unsupported_message(item))

    def search_field(self, item: tree.SearchField, outer: str | None, depth: int) -> str:
        name = _unescape(item.name)
        if outer is not None:
            raise QueryError(
                f"Invalid query: {outer}:(...) cannot contain another field ({name}:)."
            )
        expr = item.expr
        if name == "*":
            if isinstance(expr, tree.Word) and _word_pattern(expr.value) == [STAR]:
                return "1"
            raise QueryError("Invalid query: *: is only supported as *:* (every user).")
        if "*" in name or "?" in name:
            raise QueryError(f"Wildcards in field names are not supported ({name}:).")
        if isinstance(expr, tree.Plus | tree.Prohibit | tree.Not):
            operator = {tree.Plus: "+", tree.Prohibit: "-", tree.Not: "NOT"}[type(expr)]
            raise QueryError(
                f"Invalid query: {name}:{operator} puts an operator where a value should be."
                f' To search for a value that starts with "{operator}", quote it or escape it'
                f' ({name}:"{operator}..." or {name}:\\{operator}...); to negate a search,'
                f" write NOT {name}:value."
            )
        if name != "_exists_":
            self.field(name)  # fail early on unknown fields, even inside groups
        return self.node(expr, name, depth)

    # Fields -------------------------------------------------------------------------------------

    def field(self, name: str) -> Field:
        known = FIELDS.get(name)
        if known is not None:
            return known
        root, _, rest = name.partition(".")
        if root in METADATA_ROOTS and rest:
            return Field("searchterm", path=name)
        if root == "identities" and rest:
            raise QueryError(
                f'Cannot search "{name}": the searchable identity fields are'
                " identities.connection, identities.provider, identities.user_id and"
                " identities.isSocial."
            )
        raise QueryError(f'Cannot search "{name}": {_unknown_field_hint(name)}')

    @staticmethod
    def is_metadata(name: str) -> bool:
        return name.partition(".")[0] in METADATA_ROOTS

    # Terms --------------------------------------------------------------------------------------

    def term(self, name: str | None, item: tree.Word | tree.Phrase) -> str:
        if name is None:
            return self.bare_term(item)
        if name == "_exists_":
            return self.exists(self.term_text(item, "_exists_"))
        field = self.field(name)
        if field.kind == "none":
            return "0"
        if isinstance(item, tree.Phrase):
            text = _phrase_text(item)
            if field.kind in ("text", "searchterm", "connection"):
                return self.equals(name, field, text)
            return self.typed_value(name, field, text)
        parts = _word_pattern(item.value)
        if _is_match_all(parts):
            if self.is_metadata(name):
                raise QueryError(
                    f"Wildcards are not supported on metadata fields; to find users that have"
                    f" {name}, write _exists_:{name}."
                )
            return self.exists(name)
        if not _has_wildcard(parts):
            text = _literal(parts)
            if field.kind in ("text", "searchterm", "connection"):
                return self.equals(name, field, text)
            return self.typed_value(name, field, text)
        if self.is_metadata(name):
            raise QueryError(
                f"Wildcards are not supported on metadata fields ({name}:{item.value});"
                " search for the exact value."
            )
        if field.kind not in ("text", "searchterm", "connection"):
            raise QueryError(
                f"Wildcards are only supported on text fields, not on {name}"
                + (" (use a range, e.g. [2017-01 TO 2017-06])." if field.kind == "date" else ".")
            )
        self.check_suffix_rule(parts, item.value)
        if field.folded:
            parts = [fold(part) if part is not STAR else STAR for part in parts]
        return self.on_field(field, lambda column: self.glob(column, parts))

    def term_text(self, item: tree.Word | tree.Phrase, context: str) -> str:
        if isinstance(item, tree.Phrase):
            return _phrase_text(item)
        parts = _word_pattern(item.value)
        if _has_wildcard(parts):
            raise QueryError(f"Wildcards are not supported in {context}.")
        return _literal(parts)

    def bare_term(self, item: tree.Word | tree.Phrase) -> str:
        if isinstance(item, tree.Phrase):
            text = _phrase_text(item)
            return self.any_field(lambda column, folded: self.eq(column, text, folded))
        parts = _word_pattern(item.value)
        if _is_match_all(parts):
            return "1"
        if not _has_wildcard(parts):
            text = _literal(parts)
            return self.any_field(lambda column, folded: self.eq(column, text, folded))
        self.check_suffix_rule(parts, item.value)
        return self.any_field(
            lambda column, folded: self.glob(
                column, [fold(p) if folded and p is not STAR else p for p in parts]
            )
        )

    def any_field(self, render: Callable[[str, bool], str]) -> str:
        clauses = []
        for name in BARE_TERM_FIELDS:
            field = FIELDS[name]
            assert field.column is not None
            clauses.append(render(field.column, field.folded))
        return "(" + " OR ".join(clauses) + ")"

    @staticmethod
    def check_suffix_rule(parts: Pattern, raw: str) -> None:
        if parts and parts[0] is STAR and len(_literal(parts)) < MIN_SUFFIX_CHARS:
            raise QueryError(
                f"A wildcard at the start of a term needs at least {MIN_SUFFIX_CHARS} characters"
                f" after it ({raw!r} has {len(_literal(parts))})."
            )

    def equals(self, name: str, field: Field, text: str) -> str:
        if field.kind == "searchterm" and self.is_metadata(name):
            values = _metadata_values(text)
            marks = ", ".join("?" * len(values))
            assert field.path is not None
            self.bind(field.path, *values)
            return self.terms(f"t.path = ? AND t.value IN ({marks})")
        return self.on_field(field, lambda column: self.eq(column, text, field.folded))

    def typed_value(self, name: str, field: Field, text: str) -> str:
        assert field.column is not None
        if field.kind == "bool":
            if text not in ("true", "false"):
                raise QueryError(f"{name} takes true or false, not {text!r}.")
            self.bind(1 if text == "true" else 0)
            return f"{field.column} = ?"
        if field.kind == "int":
            self.bind(_integer(name, text))
            return f"{field.column} = ?"
        start, end = _date_period(text, name)
        return self.between(field.column, _Bound(start, True), _Bound(end, False))

    # Ranges -------------------------------------------------------------------------------------

    def range(self, name: str | None, item: tree.Range) -> str:
        if name is None:
            raise QueryError("A range needs a field name, e.g. logins_count:[10 TO 100].")
        if name == "_exists_":
            raise QueryError("_exists_ takes a field name, not a range.")
        field = self.field(name)
        if self.is_metadata(name):
            raise QueryError(
                f"Ranges are not supported on metadata fields ({name}); search for exact values."
            )
        if field.kind == "none":
            return "0"
        if field.kind == "bool":
            raise QueryError(f"Ranges are not supported on {name}; search for true or false.")
        low = _bound_text(item.low)
        high = _bound_text(item.high)
        if field.kind == "int":
            return self.between(
                field.column or "",
                _Bound(None if low is None else _integer(name, low), item.include_low),
                _Bound(None if high is None else _integer(name, high), item.include_high),
            )
        if field.kind == "date":
            lower = _Bound(None, True)
            upper = _Bound(None, False)
            if low is not None:
                start, end = _date_period(low, name)
                lower = _Bound(start, True) if item.include_low else _Bound(end, True)
                if end is None and not item.include_low:
                    return "0"
            if high is not None:
                start, end = _date_period(high, name)
                upper = _Bound(end, False) if item.include_high else _Bound(start, False)
            return self.between(field.column or "", lower, upper)
        if field.folded:
            low = None if low is None else fold(low)
            high = None if high is None else fold(high)
        lower = _Bound(low, item.include_low)
        upper = _Bound(high, item.include_high)
        return self.on_field(field, lambda column: self.between(column, lower, upper))

    # SQL ----------------------------------------------------------------------------------------

    def on_field(self, field: Field, render: Callable[[str], str]) -> str:
        """Apply `render(column_sql)` to the field's column and/or its SearchTerm rows."""
        if field.kind == "searchterm":
            self.bind(field.path)
            return self.terms(f"t.path = ? AND {render('t.value')}")
        assert field.column is not None
        if field.kind == "connection":
            first = render(field.column)
            self.bind(field.path)
            later = self.terms(f"t.path = ? AND {render('t.value')}")
            return f"({first} OR {later})"
        return render(field.column)

    def eq(self, column: str, text: str, folded: bool) -> str:
        self.bind(fold(text) if folded else text)
        return f"{column} = ?"

    def glob(self, column: str, parts: Pattern) -> str:
        """A case-sensitive GLOB, with a range on the literal prefix so an index can serve it."""
        pattern = "".join("*" if part is STAR else _glob_escape(part) for part in parts)
        clauses = []
        prefix = parts[0] if parts and parts[0] is not STAR else ""
        if prefix:
            clauses.append(f"{column} >= ?")
            self.bind(prefix)
            following = _next_prefix(prefix)
            if following is not None:
                clauses.append(f"{column} < ?")
                self.bind(following)
        clauses.append(f"{column} GLOB ?")
        self.bind(pattern)
        return "(" + " AND ".join(clauses) + ")"

    def between(self, column: str, lower: _Bound, upper: _Bound) -> str:
        clauses = []
        if lower.value is not None:
            clauses.append(f"{column} {'>=' if lower.inclusive else '>'} ?")
            self.bind(lower.value)
        if upper.value is not None:
            clauses.append(f"{column} {'<=' if upper.inclusive else '<'} ?")
            self.bind(upper.value)
        if not clauses:
            return f"{column} IS NOT NULL"
        return "(" + " AND ".join(clauses) + ")"

    def exists(self, name: str) -> str:
        if name in METADATA_ROOTS or (self.is_metadata(name) and name.split(".", 1)[1]):
            # Objects have no row of their own: any leaf under the path counts.
            following = _next_prefix(name + ".")
            self.bind(name, name + ".", following)
            return self.terms("(t.path = ? OR (t.path >= ? AND t.path < ?))")
        if name == "identities":
            return "u.s_connection IS NOT NULL"
        field = self.field(name)
        if field.kind == "none":
            return "0"
        if field.kind == "searchterm":
            self.bind(field.path)
            return self.terms("t.path = ?")
        return f"{field.column} IS NOT NULL"


def _bound_text(item: tree.Item) -> str | None:
    if isinstance(item, tree.Phrase):
        return _phrase_text(item)
    if isinstance(item, tree.Prohibit) and isinstance(item.a, tree.Word | tree.Phrase):
        inner = _bound_text(item.a)
        return "-" + (inner or "*")
    if isinstance(item, tree.Word):
        if item.value == "*":
            return None
        return _unescape(item.value)
    raise QueryError("Invalid range bound.")


def _integer(name: str, text: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,18}", text):
        raise QueryError(f"{name} takes an integer, not {text!r}.")
    return int(text)


_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def _metadata_values(text: str) -> list[str]:
    """The indexed texts a metadata value matches: as written, and as a number if it is one."""
    values = [text]
    if _NUMBER_RE.fullmatch(text):
        number = float(text)
        forms = [canonical(number)]
        if number.is_integer() and abs(number) < 2**53:
            forms.append(canonical(int(number)))
        values.extend(form for form in forms if form not in values)
    return values


def _unsupported_message(item: tree.Item) -> str:
    if isinstance(item, tree.Fuzzy | tree.Proximity):
        what = "Fuzzy and proximity searches (~)"
    elif isinstance(item, tree.Boost):
        what = "Boosts (^)"
    elif isinstance(item, tree.Regex):
        what = "Regular expressions (/.../)"
    elif isinstance(item, tree.From | tree.To):
        return (
            "Comparisons with > and < are not supported: use a range, e.g."
            " logins_count:[100 TO *] or last_login:[* TO 2017-12-31] (or quote the value)."
        )
    else:
        what = f"{type(item).__name__} expressions"
    return f"{what} are not supported by user search: quote or escape the character to search it."
