# ruff: noqa: S608 (table and column names are our constants; values are always bound parameters)
"""Reads and writes of the sandbox tenant's users, shaped like Auth0's.

Profiles are stored as the exact JSON the API returns, so reads without `fields` splice the
stored text into the answer without decoding it. Writes change the profile at once and queue the
search index (`sandbox.indexing`), which `GET /api/v2/users` alone reads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction

from sandbox import faults, indexing, log_reads, query
from sandbox.http import json_type
from sandbox.models import INDEXED_SEARCH_COLUMNS, Connection, TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.support_models import UserSession

# Auth0 never lets a search reach past this many results:
# https://auth0.com/docs/manage-users/user-search/view-search-results-by-page
SEARCH_WINDOW = 1000
USERS = TenantUser._meta.db_table
PHONE_RE = re.compile(r"^\+[0-9]{1,15}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class UserError(Exception):
    """A write Auth0 would refuse: status, message and errorCode for the error body."""

    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


def _dumps(profile: dict[str, Any]) -> str:
    return json.dumps(profile, ensure_ascii=False, separators=(",", ":"))


def now_iso() -> str:
    moment = faults.now()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# Reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    profiles: list[str]  # stored profile JSON texts, in result order
    total: int  # matches, capped at SEARCH_WINDOW


DEFAULT_ORDER = "u.id ASC"


class _OverBudget(Exception):
    pass


# A walk stops early when matches are common, so it gets more room before giving up.
WALK_BUDGET_FACTOR = 8


def _ids(raw: Any, sql: str, params: list[Any], budget: int | None = None) -> list[int]:
    """Run an id query; with a budget (thousands of SQLite VM steps), give up beyond it.

    Steps, not seconds: the same query always makes the same choice, however busy the machine.
    """
    if budget is None:
        return [row[0] for row in raw.execute(sql, params)]
    steps = itertools.count()
    raw.set_progress_handler(lambda: next(steps) >= budget, 1000)
    try:
        return [row[0] for row in raw.execute(sql, params)]
    except sqlite3.OperationalError as error:
        if "interrupt" in str(error):
            raise _OverBudget from None
        raise
    finally:
        raw.set_progress_handler(None, 0)


@dataclass(frozen=True)
class _Matches:
    ids: list[int]  # every match when fewer than the window; else the first window in id order
    complete: bool  # whether `ids` is every match
    in_id_order: bool


@dataclass(frozen=True)
class _Walk:
    """The walk in id order: over the whole table, or over one SearchTerm's users (see
    `sandbox.query.split_driver`), whose (path, value, user) index lists them in id order."""

    condition: str  # over alias `u`, `searchable` included
    params: list[Any]
    driver: query.Driver | None

    @classmethod
    def of(cls, walk: tuple[str, Sequence[Any]]) -> _Walk:
        params = list(walk[1])
        driver = query.split_driver((walk[0], params))
        return cls(f"u.searchable = 1 AND ({walk[0]})", params, driver)

    def sql(self, limit: str) -> tuple[str, list[Any]]:
        """The first `limit` matching ids in id order (`limit` is SQL: a number or `?`)."""
        if self.driver is None:
            return (
                f"SELECT u.id FROM {USERS} u NOT INDEXED WHERE {self.condition} "
                f"ORDER BY u.id LIMIT {limit}",
                self.params,
            )
        rest, rest_params = "u.searchable = 1", []
        if self.driver.rest is not None:
            rest = f"u.searchable = 1 AND ({self.driver.rest.sql})"
            rest_params = self.driver.rest.params
        return (
            f"SELECT t.user_id FROM {query.SEARCHTERM} t INDEXED BY sandbox_term_path_value "
            f"CROSS JOIN {USERS} u ON u.id = t.user_id "
            f"WHERE t.path = ? AND t.value = ? AND {rest} ORDER BY t.user_id LIMIT {limit}",
            [self.driver.path, self.driver.value, *rest_params],
        )


def _matches(raw: Any, where: str, walk: _Walk, params: list[Any]) -> _Matches:
    """The matching ids, up to the 1,000-result window.

    Whether matches are rare or common decides the fast plan, and nobody knows before running
    it: rare matches are found by an index (fewer than a thousand, sorted afterwards), common
    ones by walking the table in id order until a window's worth turned up (`walk`: the same
    condition with correlated probes instead of lists built in full, or the users of a term
    every match has, read from its index in id order). SQLite's own plan runs first, under a
    small budget; then the walk, under a larger one; then, with no budget, SQLite's plan again
    (rare matches that no index covers: a full scan whatever is done). A query that is one
    such term alone skips all that: its walk is exact and fast whether the term is rare or not.
    """
    cap = SEARCH_WINDOW
    found_sql = f"SELECT u.id FROM {USERS} u WHERE {where} LIMIT {cap}"
    walk_sql, walk_params = walk.sql(str(cap))
    if walk.driver is not None and walk.driver.rest is None:
        # One term is the whole query: its index holds every match, in id order.
        driven = _ids(raw, walk_sql, walk_params)
        return _Matches(driven, len(driven) < cap, in_id_order=True)
    budget = settings.SANDBOX_SEARCH_PLAN_BUDGET
    try:
        found = _ids(raw, found_sql, params, budget)
        return _Matches(found, len(found) < cap, in_id_order=False)
    except _OverBudget:
        pass
    try:
        walked = _ids(raw, walk_sql, walk_params, budget * WALK_BUDGET_FACTOR)
        return _Matches(walked, len(walked) < cap, in_id_order=True)
    except _OverBudget:
        found = _ids(raw, found_sql, params)
        return _Matches(found, len(found) < cap, in_id_order=False)


def _page(
    raw: Any,
    matches: _Matches,
    walk: _Walk,
    where: str,
    params: list[Any],
    order: str,
    offset: int,
    limit: int,
) -> list[int]:
    """The page's ids in result order, given the matches (see `_matches`)."""
    if matches.complete or (matches.in_id_order and order == DEFAULT_ORDER):
        if order == DEFAULT_ORDER:
            ordered = matches.ids if matches.in_id_order else sorted(matches.ids)
            return ordered[offset : offset + limit]
        # Fewer than a thousand: sort them by the field from their rows.
        marks = ", ".join("?" * len(matches.ids))
        return _ids(
            raw,
            f"SELECT u.id FROM {USERS} u WHERE u.id IN ({marks}) ORDER BY {order} LIMIT ? OFFSET ?",
            [*matches.ids, limit, offset],
        )
    # A window's worth or more: common enough that walking in result order meets the page soon.
    if order == DEFAULT_ORDER:
        walk_sql, walk_params = walk.sql("?")
        return _ids(raw, walk_sql, [*walk_params, offset + limit])[offset:]
    sorted_sql = f"SELECT u.id FROM {USERS} u WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    column = order.split()[0].removeprefix("u.")
    if column not in INDEXED_SEARCH_COLUMNS:
        return _ids(raw, sorted_sql, [*params, limit, offset])
    try:
        return _ids(raw, sorted_sql, [*params, limit, offset], settings.SANDBOX_SEARCH_PLAN_BUDGET)
    except _OverBudget:
        # SQLite sorts every match; walk the sort field's index instead and stop at the page.
        walk_sorted = (
            f"SELECT u.id FROM {USERS} u INDEXED BY sandbox_u_{column} WHERE {walk.condition} "
            f"ORDER BY {order} LIMIT ? OFFSET ?"
        )
        return _ids(raw, walk_sorted, [*walk.params, limit, offset])


def search(
    where: tuple[str, Sequence[Any]],
    walk: tuple[str, Sequence[Any]],
    order_sql: str,
    offset: int,
    limit: int,
) -> SearchPage:
    """One page of `GET /api/v2/users` and the match count capped at the 1,000-result window.

    `where` and `walk` are the compiled query (`sandbox.query.compile_query(q)` and its
    `walk=True` form: SQL over alias `u` with `?` placeholders); `order_sql` its sort clause.
    Queued writes whose lag has passed are indexed first, so search sees them from then on.
    Only ids are selected while searching, so the (searchable, column) indexes answer without
    reading any row; the page's profiles are fetched last, by id.
    """
    indexing.apply_due(faults.now())
    db = connections[SANDBOX_DB]
    db.ensure_connection()
    raw = db.connection
    condition = f"u.searchable = 1 AND ({where[0]})"
    params = list(where[1])
    walked = _Walk.of(walk)
    matches = _matches(raw, condition, walked, params)
    ids: list[int] = []
    if limit > 0:
        ids = _page(raw, matches, walked, condition, params, order_sql, offset, limit)
    profiles: list[str] = []
    if ids:
        marks = ", ".join("?" * len(ids))
        stored = dict(raw.execute(f"SELECT id, profile FROM {USERS} WHERE id IN ({marks})", ids))
        profiles = [stored[pk] for pk in ids]
    return SearchPage(profiles, len(matches.ids))


def profile_text(user_id: str) -> str | None:
    """The stored profile of a user (immediately consistent), or None."""
    return (
        TenantUser.objects.using(SANDBOX_DB)
        .filter(user_id=user_id)
        .values_list("profile", flat=True)
        .first()
    )


def profiles_by_email(email: str) -> list[str]:
    """Every user whose stored address is exactly `email` (case-sensitive, immediate)."""
    return list(
        TenantUser.objects.using(SANDBOX_DB)
        .filter(email=email)
        .order_by("id")
        .values_list("profile", flat=True)
    )


# Writes ------------------------------------------------------------------------------------------

CREATE_PROPERTIES: dict[str, str] = {
    "connection": "string",
    "email": "string",
    "password": "string",
    "phone_number": "string",
    "user_metadata": "object",
    "app_metadata": "object",
    "blocked": "boolean",
    "email_verified": "boolean",
    "phone_verified": "boolean",
    "verify_email": "boolean",
    "given_name": "string",
    "family_name": "string",
    "name": "string",
    "nickname": "string",
    "picture": "string",
    "user_id": "string",
    "username": "string",
}
UPDATE_PROPERTIES: dict[str, str] = {
    **{key: kind for key, kind in CREATE_PROPERTIES.items() if key != "user_id"},
    "verify_phone_number": "boolean",
    "client_id": "string",
}
# Accepted but without effect here: the sandbox keeps no passwords and sends no mail or SMS.
IGNORED_ON_UPDATE = frozenset(
    {"password", "verify_email", "verify_phone_number", "client_id", "connection"}
)
# Root attributes a PATCH may clear with null.
NULLABLE = frozenset(
    {"given_name", "family_name", "name", "nickname", "picture", "phone_number", "username"}
)
# The definition's lengths (CreateUserRequestContent / UpdateUserRequestContent).
TEXT_LIMITS = {"given_name": 150, "family_name": 150, "name": 300, "nickname": 300, "username": 128}
METADATA = ("app_metadata", "user_metadata")
USERNAME_REFUSED = "Cannot set username for connection without requires_username."


def _invalid(message: str) -> UserError:
    return UserError(400, f"Payload validation error: {message}.", "invalid_body")


def _validate(body: dict[str, Any], allowed: dict[str, str]) -> None:
    extra = [key for key in body if key not in allowed]
    if extra:
        raise _invalid(f"'Additional properties not allowed: {', '.join(extra)}'")
    for key, value in body.items():
        expected = allowed[key]
        found = json_type(value)
        if found == "null" and key in NULLABLE:
            continue
        if found != expected:
            raise _invalid(f"'Expected type {expected} but found type {found}' on property {key}")
        if expected == "string" and key in TEXT_LIMITS and not 1 <= len(value) <= TEXT_LIMITS[key]:
            raise _invalid(
                f"'String is too {'short' if not value else 'long'} ({len(value)} chars), "
                f"{'minimum 1' if not value else f'maximum {TEXT_LIMITS[key]}'}' on property {key}"
            )
    for root in METADATA:
        bad_key = _bad_metadata_key(body.get(root))
        if bad_key is not None:
            raise _invalid(
                f'\'Metadata keys must not contain "." or "$": {bad_key}\' on property {root}'
            )
    phone = body.get("phone_number")
    if isinstance(phone, str) and not PHONE_RE.match(phone):
        raise _invalid(
            f"'String does not match pattern ^\\+[0-9]{{1,15}}$: {phone}' on property phone_number"
        )
    email = body.get("email")
    if isinstance(email, str) and (not EMAIL_RE.match(email) or len(email) > 254):
        raise _invalid(
            f"'Object didn't pass validation for format email: {email}' on property email"
        )


def _bad_metadata_key(value: Any) -> str | None:
    """The first key, at any depth, holding `.` or `$` (Auth0's store cannot keep them)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if "." in key or "$" in key:
                return str(key)
            found = _bad_metadata_key(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _bad_metadata_key(item)
            if found is not None:
                return found
    return None


def _initials(name: str) -> str:
    """Auth0's default avatar letters: of the first two words, else the first two characters
    (recorded: `chuck@example.com` -> `ch`, `test-user@example.com` -> `te`)."""
    words = name.split()
    if len(words) >= 2:
        return (words[0][:1] + words[1][:1]).lower()
    return name.strip()[:2].lower()


def _username_allowed(connection_name: str) -> bool:
    connection = Connection.objects.using(SANDBOX_DB).filter(name=connection_name).first()
    return connection is not None and bool(connection.options.get("requires_username"))


def _gravatar(email: str, initials: str) -> str:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return (
        f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d="
        f"https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials or 'u'}.png"
    )


def _merge_metadata(current: Any, change: dict[str, Any]) -> dict[str, Any]:
    # Auth0 merges metadata one level deep; null removes a key and {} clears the whole object.
    if not change:
        return {}
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _save_new(profile: dict[str, Any]) -> TenantUser:
    user = TenantUser(
        user_id=profile["user_id"], email=profile.get("email"), profile=_dumps(profile)
    )
    try:
        with transaction.atomic(using=SANDBOX_DB):
            user.save(using=SANDBOX_DB)
    except IntegrityError:
        raise UserError(409, "The user already exists.", "auth0_idp_error") from None
    return user


def create_user(body: dict[str, Any]) -> str:
    """`POST /api/v2/users` in a database connection; returns the new profile's JSON."""
    _validate(body, CREATE_PROPERTIES)
    if "connection" not in body:
        raise _invalid("'Missing required property: connection'")
    connection = Connection.objects.using(SANDBOX_DB).filter(name=body["connection"]).first()
    if connection is None:
        # The definition's 400 texts for POST /users.
        raise UserError(400, "Connection does not exist.", "inexistent_connection")
    if connection.strategy in PASSWORDLESS:
        return _create_passwordless(body, connection.strategy)
    if connection.strategy != "auth0":
        # Social and enterprise users are created by signing in through their provider.
        raise UserError(
            400,
            "Connection does not support user creation through the API. It must either be a "
            "database or passwordless connection.",
            "operation_not_supported",
        )
    if body.get("username") is not None and not connection.options.get("requires_username"):
        raise UserError(400, USERNAME_REFUSED, "invalid_body")
    for required in ("email", "password"):
        if required not in body:
            raise _invalid(f"'Missing required property: {required}'")
    if len(body["password"]) < 8:
        raise UserError(400, "PasswordStrengthError: Password is too weak", "invalid_password")
    # Database connections keep addresses lower-cased: https://auth0.com/docs/manage-users/
    # user-search/retrieve-users-with-get-users-by-email-endpoint
    email = body["email"].lower()
    if _address_taken(email, connection.name):
        raise UserError(409, "The user already exists.", "auth0_idp_error")
    local_id = body.get("user_id") or secrets.token_hex(12)
    created = now_iso()
    profile: dict[str, Any] = {
        "created_at": created,
        "email": email,
        "email_verified": bool(body.get("email_verified", False)),
    }
    for key in ("family_name", "given_name"):
        if body.get(key) is not None:
            profile[key] = body[key]
    profile["identities"] = [
        {
            "connection": connection.name,
            "user_id": local_id,
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    profile["name"] = body.get("name") or email
    profile["nickname"] = body.get("nickname") or email.split("@", 1)[0]
    for key in ("phone_number", "phone_verified", "username"):
        if body.get(key) is not None:
            profile[key] = body[key]
    profile["picture"] = body.get("picture") or _gravatar(email, _initials(profile["name"]))
    profile["updated_at"] = created
    profile["user_id"] = f"auth0|{local_id}"
    return _finish_create(profile, body)


def _finish_create(profile: dict[str, Any], body: dict[str, Any]) -> str:
    """The sent metadata and block flag, then the new user saved and queued for search."""
    for key in ("app_metadata", "user_metadata"):
        if body.get(key):
            profile[key] = _merge_metadata({}, body[key])
        elif key == "user_metadata" and body.get(key) == {}:
            profile[key] = {}  # recorded: an empty user_metadata is kept, app_metadata is not
    if body.get("blocked") is not None:
        profile["blocked"] = body["blocked"]
    user = _save_new(profile)
    indexing.enqueue([user.pk], faults.now())
    return user.profile


def _create_passwordless(body: dict[str, Any], strategy: str) -> str:
    """`POST /api/v2/users` on the `email` or `sms` connection: the address or the number is
    the identifier, and there is no password or username."""
    needed = "email" if strategy == "email" else "phone_number"
    if needed not in body:
        raise _invalid(f"'Missing required property: {needed}'")
    for refused in ("password", "username"):
        if refused in body:
            raise UserError(
                400, f"Cannot set {refused} for a passwordless connection.", "invalid_body"
            )
    value = body[needed].lower() if strategy == "email" else body[needed]
    for text in (
        TenantUser.objects.using(SANDBOX_DB)
        .values_list("profile", flat=True)
        .filter(profile__contains=json.dumps(value)[1:-1])
    ):
        found = json.loads(text)
        if found["identities"][0].get("connection") == strategy and found.get(needed) == value:
            raise UserError(409, "The user already exists.", "auth0_idp_error")
    local_id = body.get("user_id") or secrets.token_hex(12)
    created = now_iso()
    profile: dict[str, Any] = {"created_at": created, needed: value}
    if strategy == "email":
        profile["email_verified"] = bool(body.get("email_verified", False))
    else:
        profile["phone_verified"] = bool(body.get("phone_verified", False))
    for key in ("family_name", "given_name"):
        if body.get(key) is not None:
            profile[key] = body[key]
    profile["identities"] = [
        {"connection": strategy, "user_id": local_id, "provider": strategy, "isSocial": False}
    ]
    profile["name"] = body.get("name") or value
    if body.get("nickname") or strategy == "email":
        profile["nickname"] = body.get("nickname") or value.split("@", 1)[0]
    profile["picture"] = body.get("picture") or _gravatar(
        value if strategy == "email" else "", _initials(profile["name"]) or "u"
    )
    profile["updated_at"] = created
    profile["user_id"] = f"{strategy}|{local_id}"
    return _finish_create(profile, body)


def _address_taken(email: str, connection: str, except_user_id: str | None = None) -> bool:
    """Whether another user of the connection has this exact address (read from profiles, so a
    write seconds ago counts even before search sees it)."""
    for user_id, text in (
        TenantUser.objects.using(SANDBOX_DB).filter(email=email).values_list("user_id", "profile")
    ):
        identities = json.loads(text).get("identities") or [{}]
        if identities[0].get("connection") == connection and user_id != except_user_id:
            return True
    return False


# PATCH pairs Auth0 refuses in one call (the 400s of its definition's PATCH /users/{id}:
# https://auth0.com/docs/api/management/v2/users/patch-users-by-id).
EXCLUSIVE_PAIRS = (
    ("password", "email"),
    ("password", "email_verified"),
    ("username", "email"),
    ("username", "email_verified"),
    ("username", "password"),
)
# Root attributes an identity provider overwrites at each login: https://auth0.com/docs/
# manage-users/user-accounts/user-profiles/configure-connection-sync-with-auth0
PROVIDER_SYNCED = ("family_name", "given_name", "name", "nickname", "picture")
SYNC_MESSAGE = (
    "The following user attributes cannot be updated: {fields}. The connection ({connection}) "
    "must either be a database connection (using the Auth0 store), a passwordless connection "
    "(email or sms) or has disabled 'Sync user profile attributes at each login'. For more "
    "information, see https://auth0.com/docs/dashboard/guides/connections/configure-connection-sync"
)
PASSWORDLESS = frozenset({"email", "sms"})
ENTERPRISE = frozenset({"samlp", "waad", "adfs", "oidc", "okta", "pingfederate", "ad"})


def _check_update(profile: dict[str, Any], body: dict[str, Any]) -> None:
    """What the user's connection or the combination of fields forbids (Auth0's 400s)."""
    for first, second in EXCLUSIVE_PAIRS:
        if first in body and second in body:
            raise UserError(
                400, f"Cannot update {first} and {second} simultaneously.", "invalid_body"
            )
    primary = profile["identities"][0]
    provider = primary.get("provider")
    if "connection" in body:
        if not isinstance(body["connection"], str) or not body["connection"]:
            raise _invalid(
                "'String is too short (0 chars), minimum 1' on property connection (The "
                "connection name. This field is not itself updateable but is needed when "
                "updating email, email_verified, username or password)"
            )
        if not Connection.objects.using(SANDBOX_DB).filter(name=body["connection"]).exists():
            raise UserError(400, "Connection does not exist.", "inexistent_connection")
        names = {identity.get("connection") for identity in profile["identities"]}
        if body["connection"] not in names:
            raise UserError(
                400, "Connection is not supported for this operation.", "operation_not_supported"
            )
    if provider in ("auth0", *PASSWORDLESS):
        return
    connection = Connection.objects.using(SANDBOX_DB).filter(name=primary["connection"]).first()
    syncs = connection is None or (
        connection.options.get("set_user_root_attributes", "on_each_login") == "on_each_login"
    )
    synced = sorted(key for key in PROVIDER_SYNCED if key in body)
    if synced and syncs:
        raise UserError(
            400,
            SYNC_MESSAGE.format(fields=", ".join(synced), connection=primary["connection"]),
            "operation_not_supported",
        )
    if "email" in body:
        raise UserError(
            400, "Cannot update email for non-database user.", "operation_not_supported"
        )
    if "password" in body:
        raise UserError(
            400, "Cannot update password for non-database user.", "operation_not_supported"
        )
    if "email_verified" in body and provider in ENTERPRISE:
        raise UserError(
            400,
            "Email verification is not supported for enterprise users.",
            "operation_not_supported",
        )


def update_user(user_id: str, body: dict[str, Any]) -> str | None:
    """`PATCH /api/v2/users/{id}`; returns the updated profile's JSON, or None if no such user."""
    _validate(body, UPDATE_PROPERTIES)
    with log_reads.history_kept(user_id), transaction.atomic(using=SANDBOX_DB):
        user = TenantUser.objects.using(SANDBOX_DB).filter(user_id=user_id).first()
        if user is None:
            return None
        profile: dict[str, Any] = json.loads(user.profile)
        _check_update(profile, body)
        primary = profile["identities"][0]
        is_database = primary.get("provider") == "auth0"
        if (
            body.get("username") is not None
            and is_database
            and not _username_allowed(primary.get("connection", ""))
        ):
            raise UserError(400, USERNAME_REFUSED, "invalid_body")
        if "password" in body and len(body["password"]) < 8:
            raise UserError(400, "PasswordStrengthError: Password is too weak", "invalid_password")
        now = now_iso()
        for key, value in body.items():
            if key in IGNORED_ON_UPDATE:
                continue
            if key in {"app_metadata", "user_metadata"}:
                merged = _merge_metadata(profile.get(key), value)
                # Recorded: `{}` empties both; user_metadata stays as `{}`, app_metadata goes.
                if merged or (key == "user_metadata" and value == {}):
                    profile[key] = merged or {}
                else:
                    profile.pop(key, None)
            elif value is None:
                profile.pop(key, None)
            elif key == "email":
                email = value.lower() if is_database else value
                if is_database and _address_taken(email, primary["connection"], user_id):
                    # A 400 (the definition lists no 409 for PATCH); Auth0's text.
                    raise UserError(
                        400, "The specified new email already exists", "auth0_idp_error"
                    )
                if email != profile.get("email"):
                    profile["email"] = email
                    # A new address is unverified unless the caller says otherwise.
                    profile["email_verified"] = bool(body.get("email_verified", False))
            else:
                profile[key] = value
        if body.get("password"):
            profile["last_password_reset"] = now
            # Auth0's docs: a Management API password reset also lifts an admin block; the
            # recorded answer keeps the key (`"blocked": false`, TestUserManager_Update.yaml).
            if "blocked" in profile:
                profile["blocked"] = False
        profile["updated_at"] = now
        user.profile = _dumps(profile)
        user.email = profile.get("email")
        user.save(using=SANDBOX_DB, update_fields=["profile", "email"])
        if body.get("password"):
            # "Resetting a user's password makes their session expire."
            UserSession.objects.using(SANDBOX_DB).filter(user=user).delete()
    indexing.enqueue([user.pk], faults.now())
    return user.profile
