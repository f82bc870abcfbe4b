"""Seeded user shapes for linked accounts and profile changes (see docs/sandbox/seeding.md):
passwordless users (SMS and email), users with three linked identities, and a profile near
Auth0's 10 KB limit.

`reshape(profile, index)` turns some of `sandbox.seed`'s users into these shapes, chosen by
their number alone and built from it without drawing from the seed's random stream, so every
other user stays exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# (id, name, display_name, strategy, options, is_domain_connection), as in sandbox.seed.
PASSWORDLESS_CONNECTIONS: tuple[tuple[str, str, str, str, dict[str, Any], bool], ...] = (
    (
        "con_Em4iLPwd1Less2Xy",
        "email",
        "Email (passwordless)",
        "email",
        {"name": "email", "disable_signup": False, "brute_force_protection": True},
        False,
    ),
    (
        "con_Sms7PwdLess3Qr9",
        "sms",
        "SMS (passwordless)",
        "sms",
        {"name": "sms", "disable_signup": False, "brute_force_protection": True},
        False,
    ),
)
SMS_EVERY, SMS_AT = 60, 21  # user numbers 21, 81, 141, ... sign in by text message
EMAIL_EVERY, EMAIL_AT = 60, 41  # 41, 101, ... by an emailed code
LINKED_EVERY, LINKED_AT = 100, 3  # 3, 103, ... hold three identities
BIG_EVERY, BIG_AT = 1000, 11  # 11, 1011, ... have a profile close to 10 KB
PROFILE_LIMIT = 10 * 1024
NOTE = "Called about the invoice; asked for a callback in French, prefers mornings."


def _hex(index: int, part: str, size: int = 24) -> str:
    return hashlib.sha256(f"{part}:{index}".encode()).hexdigest()[:size]


def _phone(index: int) -> str:
    return f"+1555{index % 10_000_000:07d}"


def _passwordless(profile: dict[str, Any], index: int, strategy: str) -> None:
    """The user signs in with a one-time code: no password, no username, no other identity."""
    local = _hex(index, strategy)
    for key in ("username", "family_name", "given_name", "nickname"):
        profile.pop(key, None)
    profile["identities"] = [
        {"connection": strategy, "user_id": local, "provider": strategy, "isSocial": False}
    ]
    profile["user_id"] = f"{strategy}|{local}"
    if strategy == "sms":
        profile.pop("email", None)
        profile.pop("email_verified", None)
        profile["phone_number"] = _phone(index)
        profile["phone_verified"] = True
        profile["name"] = profile["phone_number"]
    else:
        email = str(profile.get("email") or f"code.{local[:8]}@example.net").lower()
        profile["email"] = email
        profile["email_verified"] = True
        profile["name"] = email
        profile["nickname"] = email.split("@", 1)[0]


def _three_identities(profile: dict[str, Any], index: int) -> None:
    """Two more accounts linked in: a social one and a passwordless SMS one."""
    primary = profile["identities"][0]["provider"]
    social = "github" if primary == "google-oauth2" else "google-oauth2"
    name = str(profile.get("name") or "")
    profile["identities"] = [
        profile["identities"][0],
        {
            "profileData": {
                "email": str(profile.get("email") or f"linked{index}@example.org"),
                "email_verified": True,
                "name": name,
            },
            "connection": social,
            "user_id": 70_000_000 + index if social == "github" else f"2{index:011d}000000001",
            "provider": social,
            "isSocial": True,
        },
        {
            "profileData": {"phone_number": _phone(index), "phone_verified": True},
            "connection": "sms",
            "user_id": _hex(index, "linked-sms"),
            "provider": "sms",
            "isSocial": False,
        },
    ]


def _near_the_limit(profile: dict[str, Any]) -> None:
    """Notes in user_metadata until the profile is just under Auth0's 10 KB."""
    metadata = profile.setdefault("user_metadata", {})
    notes = metadata.setdefault("support_notes", [])
    while True:
        size = len(json.dumps(profile, ensure_ascii=False, separators=(",", ":")).encode())
        if size + len(NOTE) + 8 >= PROFILE_LIMIT - 256:
            return
        notes.append(f"{len(notes) + 1:03d} {NOTE}")


def reshape(profile: dict[str, Any], index: int) -> dict[str, Any]:
    """User number `index` of the seed, in one of these shapes when its number says so."""
    if index % SMS_EVERY == SMS_AT:
        _passwordless(profile, index, "sms")
    elif index % EMAIL_EVERY == EMAIL_AT:
        _passwordless(profile, index, "email")
    elif index % LINKED_EVERY == LINKED_AT:
        _three_identities(profile, index)
    if index % BIG_EVERY == BIG_AT:
        _near_the_limit(profile)
    return profile
