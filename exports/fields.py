"""What an export may contain: Auth0's exportable attributes, metadata paths found on real
users, and the rules for field names (https://auth0.com/docs/manage-users/user-migration/bulk-user-exports)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache

import management_api
from management_api.errors import ManagementApiError

logger = logging.getLogger(__name__)

# Auth0's exportable user attributes, in the order the builder lists them.
EXPORTABLE_FIELDS: tuple[str, ...] = (
    "user_id",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "username",
    "phone_number",
    "phone_verified",
    "picture",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "last_password_reset",
    "blocked",
    "identities",
    "multifactor",
    "multifactor_last_modified",
    "app_metadata",
    "user_metadata",
)
METADATA_ROOTS = ("app_metadata", "user_metadata")
# Fields whose values are objects or arrays: a format that holds no whole object (CSV,
# exports.formats) takes their leaf paths instead.
OBJECT_FIELDS = (*METADATA_ROOTS, "identities", "multifactor")
# Paths inside those that still hold an object: one identity, or its provider's profile
# (a pattern the builder's JavaScript uses too, so no look-behind or \Z).
OBJECT_PATH_PATTERN = r"identities\[\d+\](?:\.profileData)?"
_OBJECT_PATH = re.compile(OBJECT_PATH_PATTERN)
# The dashboard's "default fields" (the import/export extension's list), ticked on a new form
# when nothing else chose them.
DEFAULT_FIELDS: tuple[dict[str, str], ...] = (
    {"name": "user_id", "export_as": "Id"},
    {"name": "email"},
    {"name": "email_verified"},
    {"name": "name"},
    {"name": "identities[0].connection", "export_as": "Connection"},
    {"name": "created_at"},
    {"name": "last_login"},
)
MAX_NAME_LENGTH = 100

_SEGMENT = r"[A-Za-z0-9_\-$@:]+"
_PATH = re.compile(rf"(?P<root>[a-z_]+)(?:\[\d+\])?(?:\.{_SEGMENT}(?:\[\d+\])?)*\Z")
METADATA_SAMPLE_SIZE = 25


def field_problem(name: str) -> str | None:
    """Why `name` cannot be exported, or None when Auth0 accepts it."""
    if not name:
        return "A field needs a name."
    if len(name) > MAX_NAME_LENGTH:
        return f"“{name[:40]}…” is longer than {MAX_NAME_LENGTH} characters."
    match = _PATH.match(name)
    if not match or match.group("root") not in EXPORTABLE_FIELDS:
        return (
            f"“{name}” is not an exportable field. Use one of Auth0's attributes "
            f"(email, created_at, …), a metadata path such as user_metadata.plan, "
            f"or an indexed path such as identities[0].connection."
        )
    return None


def is_whole_object(name: str, object_paths: Iterable[str] = ()) -> bool:
    """True for values that are objects or arrays (CSV cannot carry them): app_metadata,
    user_metadata, identities and multifactor themselves, one identity (``identities[0]``) or
    its ``profileData``, and any metadata path known to hold an object (NDJSON can)."""
    if name in OBJECT_FIELDS or _OBJECT_PATH.fullmatch(name):
        return True
    return name.split(".", 1)[0] in METADATA_ROOTS and name in set(object_paths)


def leaf_example(name: str, object_paths: Iterable[str] = ()) -> str:
    if f"{name}[0]" in set(object_paths):
        return f"{name}[0].<field>"
    if name.startswith("identities"):
        return "identities[0].connection" if "profileData" not in name else f"{name}.email"
    return "multifactor[0]" if name == "multifactor" else f"{name}.plan"


def flatten_metadata(users: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Leaf paths and object paths (objects and arrays of objects) found under the users'
    metadata, sorted."""
    leaves: set[str] = set()
    objects: set[str] = set()

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, Mapping) and value:
            if "." in prefix:
                objects.add(prefix)
            for key, child in value.items():
                if re.fullmatch(_SEGMENT, str(key)):
                    walk(f"{prefix}.{key}", child)
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            # An array of objects (addresses): an object too, its first item's leaves indexed.
            objects.add(prefix)
            walk(f"{prefix}[0]", next(item for item in value if isinstance(item, Mapping)))
        elif "." in prefix:
            leaves.add(prefix)

    for user in users:
        for root in METADATA_ROOTS:
            walk(root, user.get(root))
    return sorted(leaves), sorted(objects)


def discovered_metadata() -> tuple[list[str], list[str]]:
    """Metadata leaf and object paths sampled from a few real users (cached briefly)."""
    key = management_api.cache_key("metadata-paths")
    cached = cache.get(key)
    if cached is not None:
        return cached[0], cached[1]
    users: list[dict[str, Any]] = []
    for query in ("_exists_:user_metadata OR _exists_:app_metadata", ""):
        try:
            page = management_api.search_users(
                q=query,
                per_page=METADATA_SAMPLE_SIZE,
                fields=["user_id", *METADATA_ROOTS],
                include_totals=False,
            )
        except ManagementApiError as exc:
            logger.warning("Could not sample users for metadata paths: %s", exc)
            continue
        users = page.users
        if users:
            break
    found = flatten_metadata(users)
    cache.set(key, found, settings.CONNECTIONS_CACHE_SECONDS)
    return found


def objects_among(names: Iterable[str], known: Iterable[str] = ()) -> set[str]:
    """The metadata paths among ``names`` that hold an object or an array of objects on some
    user (with ``name[0]`` for an array), asked of the upstream for each path not in ``known``
    (the sampled paths), so a path the sample missed is found too (cached briefly per path)."""
    found: set[str] = set()
    skip = set(known)
    for name in dict.fromkeys(names):
        root, _, rest = name.partition(".")
        if root not in METADATA_ROOTS or not rest or name in skip or "[" in name:
            continue
        key = management_api.cache_key("metadata-object", name)
        held = cache.get(key)
        if held is None:
            try:
                page = management_api.search_users(
                    q=f"_exists_:{name}",
                    per_page=5,
                    fields=["user_id", root],
                    include_totals=False,
                )
            except ManagementApiError as exc:
                logger.warning("Could not check whether %s holds objects: %s", name, exc)
                continue
            objects = flatten_metadata(page.users)[1]
            held = [path for path in objects if path == name or path.startswith(name + "[")]
            cache.set(key, held, settings.CONNECTIONS_CACHE_SECONDS)
        found.update(held)
    return found
