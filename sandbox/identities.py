"""Account linking on the sandbox tenant: `POST /users/{id}/identities` and
`DELETE /users/{id}/identities/{provider}/{user_id}`, with what Auth0 does to the two users.

Linking moves the secondary's identities under the primary (its root attributes go into the
first one's `profileData`), discards the secondary's metadata and removes the secondary from the
user list (`GET /users/{secondary}` is a 404 from then on). Unlinking takes one identity off the
primary and makes it a user of its own again, `<provider>|<id>`, built from its `profileData`,
with no metadata. Where Auth0 says nothing (docs/sandbox/differences.md): an unknown primary is a
404 `inexistent_user`, unlinking an identity the user does not hold answers 200 with the
identities unchanged, and the new user's dates are the unlinking's.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from sandbox import faults, indexing, support
from sandbox.models import Connection, TenantUser
from sandbox.routers import SANDBOX_DB

# The root attributes a linked identity keeps in its `profileData` (recorded keys).
PROFILE_DATA_KEYS = (
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "username",
    "nickname",
    "picture",
    "phone_number",
    "phone_verified",
)
LINK_KEYS = ("provider", "user_id", "connection_id", "link_with")
CONNECTION_ID = "^con_[A-Za-z0-9]{16}$"


class LinkError(support.ActionError):
    pass


def _refused(message: str, status: int = 400, code: str = "invalid_body") -> LinkError:
    return LinkError(status, message, code)


def profile_data(profile: dict[str, Any]) -> dict[str, Any]:
    return {key: profile[key] for key in PROFILE_DATA_KEYS if profile.get(key) is not None}


def _identity(identity: dict[str, Any], data: dict[str, Any] | None) -> dict[str, Any]:
    """An identity as the link/unlink answers list it (`profileData` first, as recorded)."""
    item: dict[str, Any] = {}
    if data:
        item["profileData"] = data
    item.update({key: identity[key] for key in ("connection", "user_id", "provider", "isSocial")})
    for key in ("access_token", "refresh_token"):
        if key in identity:
            item[key] = identity[key]
    return item


def _answer(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary's identities as link and unlink answer them: the recording shows the
    primary's own identity with its `profileData` too."""
    identities = profile.get("identities") or []
    return [
        _identity(identity, profile_data(profile) if index == 0 else identity.get("profileData"))
        for index, identity in enumerate(identities)
    ]


def _check_body(body: dict[str, Any]) -> None:
    extra = [key for key in body if key not in LINK_KEYS]
    if extra:
        raise _refused(
            f"Payload validation error: 'Additional properties not allowed: {', '.join(extra)}'."
        )
    if not body:
        raise _refused("Payload validation error: 'Too few properties defined (0), minimum 1'.")
    if "link_with" in body:
        if any(key in body for key in ("provider", "user_id", "connection_id")):
            raise _refused(
                "Payload validation error: 'Data matches more than one schema in oneOf'."
            )
        # The sandbox issues no ID tokens for its users: every link_with is one it cannot check.
        raise _refused("Invalid token (link_with).")
    for key in ("provider", "user_id"):
        if key not in body:
            raise _refused(f"Payload validation error: 'Missing required property: {key}'.")
    if not isinstance(body["provider"], str) or not body["provider"]:
        raise _refused("Payload validation error: 'Expected type string' on property provider.")
    user_id = body["user_id"]
    if isinstance(user_id, bool) or not isinstance(user_id, str | int) or user_id == "":
        raise _refused(
            "Payload validation error: 'Data does not match any schemas from oneOf' on "
            "property user_id."
        )
    connection_id = body.get("connection_id")
    if connection_id is not None and (
        not isinstance(connection_id, str)
        or len(connection_id) != 20
        or not connection_id.startswith("con_")
        or not connection_id[4:].isalnum()
    ):
        raise _refused(
            f"Payload validation error: 'String does not match pattern {CONNECTION_ID}: "
            f"{connection_id}' on property connection_id."
        )


def _secondary_id(provider: str, user_id: str | int) -> str:
    text = str(user_id)
    return text if text.startswith(f"{provider}|") else f"{provider}|{text}"


def _holder_of(provider: str, local_id: str) -> str | None:
    """The user that holds this identity as a linked one, if any (a scan: linking is rare)."""
    needle = json.dumps(local_id)[1:-1]
    for user_id, text in (
        TenantUser.objects.using(SANDBOX_DB)
        .filter(profile__contains=needle)
        .values_list("user_id", "profile")
    ):
        for identity in (json.loads(text).get("identities") or [])[1:]:
            if identity.get("provider") == provider and str(identity.get("user_id")) == local_id:
                return user_id
    return None


def _save(user: TenantUser, profile: dict[str, Any]) -> None:
    profile["updated_at"] = support.users_now()
    user.profile = json.dumps(profile, ensure_ascii=False, separators=(",", ":"))
    user.email = profile.get("email")
    user.save(using=SANDBOX_DB, update_fields=["profile", "email"])


def link(primary_id: str, body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Link the body's secondary account into `primary_id`; the primary's identities, or None
    when there is no such primary. Raises LinkError with Auth0's refusals."""
    _check_body(body)
    provider = str(body["provider"])
    secondary_id = _secondary_id(provider, body["user_id"])
    with transaction.atomic(using=SANDBOX_DB):
        primary = support.find(primary_id)
        if primary is None:
            return None
        if secondary_id == primary_id:
            raise _refused("Main identity and the new one are the same.")
        local_id = secondary_id.split("|", 1)[1]
        for identity in primary.profile.get("identities") or []:
            if identity.get("provider") == provider and str(identity.get("user_id")) == local_id:
                raise _refused("Specified identity already exists.", 409, "identity_conflict")
        secondary = support.find(secondary_id)
        if secondary is None:
            if _holder_of(provider, local_id) is not None:
                raise _refused("Specified identity already exists.", 409, "identity_conflict")
            raise _refused("Provided secondary account not found.")
        if "connection_id" in body:
            connection = (
                Connection.objects.using(SANDBOX_DB).filter(id=body["connection_id"]).first()
            )
            if connection is None or connection.name != secondary.connection_name:
                raise _refused("The provider/connection is not configured.")
        moved = [dict(identity) for identity in secondary.profile.get("identities") or []]
        if moved:
            moved[0]["profileData"] = profile_data(secondary.profile)
        primary.profile["identities"] = [*primary.profile.get("identities", []), *moved]
        _save(primary.user, primary.profile)
        # The secondary leaves the user list with its metadata (Auth0 discards both).
        support.delete_user(secondary_id)
    indexing.enqueue([primary.user.pk], faults.now())
    return _answer(primary.profile)


def unlink(primary_id: str, provider: str, local_id: str) -> list[dict[str, Any]] | None:
    """Take the identity off `primary_id` and make it a user of its own again; the primary's
    remaining identities, or None when there is no such primary."""
    with transaction.atomic(using=SANDBOX_DB):
        primary = support.find(primary_id)
        if primary is None:
            return None
        identities = list(primary.profile.get("identities") or [])
        position = next(
            (
                index
                for index, identity in enumerate(identities)
                if identity.get("provider") == provider and str(identity.get("user_id")) == local_id
            ),
            None,
        )
        if position == 0:
            raise _refused("Main identity cannot be removed.", code="operation_not_supported")
        if position is None:
            return _answer(primary.profile)
        removed = identities.pop(position)
        primary.profile["identities"] = identities
        _save(primary.user, primary.profile)
        standalone = _standalone(removed)
        user = TenantUser(
            user_id=standalone["user_id"],
            email=standalone.get("email"),
            profile=json.dumps(standalone, ensure_ascii=False, separators=(",", ":")),
        )
        user.save(using=SANDBOX_DB)
    indexing.enqueue([primary.user.pk, user.pk], faults.now())
    return _answer(primary.profile)


def _standalone(identity: dict[str, Any]) -> dict[str, Any]:
    """The user an unlinked identity becomes: its profileData at the root, no metadata."""
    now = support.users_now()
    data = dict(identity.get("profileData") or {})
    profile: dict[str, Any] = {"created_at": now}
    profile.update({key: data[key] for key in PROFILE_DATA_KEYS if data.get(key) is not None})
    profile["identities"] = [
        {key: identity[key] for key in ("connection", "user_id", "provider", "isSocial")}
    ]
    profile["updated_at"] = now
    profile["user_id"] = f"{identity['provider']}|{identity['user_id']}"
    return profile
