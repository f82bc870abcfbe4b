# ruff: noqa: S608 (table and column names are our constants; values are always parameters)
"""The search index of the sandbox tenant: `s_` columns and `SearchTerm` rows built from profiles.

Only `GET /api/v2/users` reads the index. Writes change `profile` at once and queue the user; the
index catches up when `apply_due()` runs after `SANDBOX_SEARCH_LAG_SECONDS`, so search is
eventually consistent while `/users/{id}` and `/users-by-email` are not.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction

from sandbox import faults
from sandbox.models import IndexQueue, SearchTerm, TenantUser
from sandbox.routers import SANDBOX_DB

# Order of the values returned by `search_columns`, and of the UPDATE/INSERT statements below.
S_COLUMNS: tuple[str, ...] = (
    "s_user_id",
    "s_username",
    "s_phone_number",
    "s_last_ip",
    "s_email",
    "s_email_domain",
    "s_name",
    "s_given_name",
    "s_family_name",
    "s_nickname",
    "s_connection",
    "s_email_verified",
    "s_phone_verified",
    "s_blocked",
    "s_logins_count",
    "s_created_at",
    "s_updated_at",
    "s_last_login",
)

# Auth0 searches these fields case-insensitively; their s_ columns hold `fold(value)`.
FOLDED_FIELDS = frozenset({"email", "name", "given_name", "family_name", "nickname"})
METADATA_ROOTS = ("app_metadata", "user_metadata")


def fold(value: str) -> str:
    """Case folding shared by the index and the query compiler, so both sides agree."""
    return value.lower()


def canonical(value: Any) -> str:
    """The text a metadata leaf is indexed (and queried) as."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _folded(value: Any) -> str | None:
    return fold(value) if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def search_columns(profile: Mapping[str, Any]) -> tuple[Any, ...]:
    """The s_ column values of a profile, in `S_COLUMNS` order (absent values are None)."""
    email = profile.get("email")
    domain = None
    if isinstance(email, str) and "@" in email:
        domain = fold(email.rsplit("@", 1)[1]) or None
    identities = profile.get("identities") or []
    connection = None
    if identities and type(identities[0]) is dict:
        connection = _text(identities[0].get("connection"))
    logins = profile.get("logins_count")
    return (
        _text(profile.get("user_id")),
        _text(profile.get("username")),
        _text(profile.get("phone_number")),
        _text(profile.get("last_ip")),
        _folded(email),
        domain,
        _folded(profile.get("name")),
        _folded(profile.get("given_name")),
        _folded(profile.get("family_name")),
        _folded(profile.get("nickname")),
        connection,
        _flag(profile.get("email_verified")),
        _flag(profile.get("phone_verified")),
        _flag(profile.get("blocked")),
        logins if isinstance(logins, int) and not isinstance(logins, bool) else None,
        _text(profile.get("created_at")),
        _text(profile.get("updated_at")),
        _text(profile.get("last_login")),
    )


def _add_leaves(terms: dict[tuple[str, str], None], path: str, value: Any) -> None:
    # Arrays are transparent (`addresses.city` matches any element); null, empty arrays and
    # empty objects are not indexed, as on Auth0. Profiles come from JSON, so dict and list.
    kind = type(value)
    if kind is str:
        terms[(path, value)] = None
    elif kind is dict:
        for key, item in value.items():
            # Interned: the same few paths recur in every profile (and pickle them once).
            _add_leaves(terms, sys.intern(f"{path}.{key}"), item)
    elif kind is list:
        for item in value:
            _add_leaves(terms, path, item)
    elif value is not None:
        terms[(path, canonical(value))] = None


def search_terms(profile: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (path, value) rows of a profile: metadata leaves and identity attributes, no repeats."""
    terms: dict[tuple[str, str], None] = {}
    for root in METADATA_ROOTS:
        metadata = profile.get(root)
        if type(metadata) is dict:
            _add_leaves(terms, root, metadata)
    for position, identity in enumerate(profile.get("identities") or ()):
        if type(identity) is not dict:
            continue
        if position > 0 and identity.get("connection") is not None:
            terms[("identities.connection", canonical(identity["connection"]))] = None
        for key in ("provider", "user_id", "isSocial"):
            if identity.get(key) is not None:
                terms[(f"identities.{key}", canonical(identity[key]))] = None
    return list(terms)


_UPDATE_SQL = (
    f"UPDATE {TenantUser._meta.db_table} SET searchable = 1, "
    + ", ".join(f"{column} = %s" for column in S_COLUMNS)
    + " WHERE id = %s"
)
_DELETE_TERMS_SQL = f"DELETE FROM {SearchTerm._meta.db_table} WHERE user_id = %s"
_INSERT_TERM_SQL = (
    f"INSERT INTO {SearchTerm._meta.db_table} (user_id, path, value) VALUES (%s, %s, %s)"
)


def reindex(pks: Iterable[int]) -> int:
    """Refresh the index of these users from their stored profiles; returns how many were found."""
    pks = list(pks)
    if not pks:
        return 0
    done = 0
    with transaction.atomic(using=SANDBOX_DB), connections[SANDBOX_DB].cursor() as cursor:
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT id, profile FROM {TenantUser._meta.db_table} WHERE id IN ({marks})", chunk
            )
            for pk, raw in cursor.fetchall():
                profile = json.loads(raw)
                cursor.execute(_UPDATE_SQL, [*search_columns(profile), pk])
                cursor.execute(_DELETE_TERMS_SQL, [pk])
                cursor.executemany(
                    _INSERT_TERM_SQL, [(pk, path, value) for path, value in search_terms(profile)]
                )
                done += 1
    return done


def search_lag() -> timedelta:
    return timedelta(seconds=float(settings.SANDBOX_SEARCH_LAG_SECONDS))


def enqueue(pks: Sequence[int], now: datetime | None = None) -> None:
    """Queue written users for indexing; with no lag, index them before returning."""
    lag = search_lag()
    if lag <= timedelta(0):
        reindex(pks)
        return
    due_at = (now or faults.now()) + lag
    IndexQueue.objects.using(SANDBOX_DB).bulk_create(
        IndexQueue(user_id=pk, due_at=due_at) for pk in pks
    )


def apply_due(now: datetime | None = None) -> int:
    """Index every queued user whose lag has passed; cheap when the queue is empty."""
    now = now or faults.now()
    due = IndexQueue.objects.using(SANDBOX_DB).filter(due_at__lte=now)
    entries = list(due.values_list("id", "user_id"))
    if not entries:
        return 0
    with transaction.atomic(using=SANDBOX_DB):
        done = reindex(sorted({user_pk for _, user_pk in entries}))
        IndexQueue.objects.using(SANDBOX_DB).filter(id__in=[pk for pk, _ in entries]).delete()
    return done
