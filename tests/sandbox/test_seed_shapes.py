"""The seeded shapes for linked accounts and profile changes: passwordless users, three linked
identities, a profile near 10 KB; the other users unchanged; the official SDK reads them."""

from __future__ import annotations

import json
from typing import Any

from sandbox import seed_shapes
from sandbox.seed import generate_users

SAMPLE = 1100


def _users() -> list[dict[str, Any]]:
    return list(generate_users(SAMPLE, 7))


def test_passwordless_users_sign_in_with_a_code() -> None:
    users = _users()
    sms = [u for u in users if u["identities"][0]["provider"] == "sms"]
    email = [u for u in users if u["identities"][0]["provider"] == "email"]
    assert len(sms) == len(email) == SAMPLE // 60
    for user in sms:
        assert user["user_id"] == f"sms|{user['identities'][0]['user_id']}"
        assert user["phone_verified"] is True
        assert "email" not in user
        assert "username" not in user
    for user in email:
        assert user["email"] == user["email"].lower()
        assert user["identities"][0]["connection"] == "email"


def test_three_linked_identities_and_a_profile_near_the_limit() -> None:
    users = _users()
    linked = [u for u in users if len(u["identities"]) >= 3]
    assert len(linked) >= SAMPLE // 100
    for user in linked:
        providers = [i["provider"] for i in user["identities"]]
        assert "sms" in providers[1:]
        assert all("profileData" in i for i in user["identities"][1:])
    big = users[seed_shapes.BIG_AT]
    size = len(json.dumps(big, ensure_ascii=False, separators=(",", ":")).encode())
    assert seed_shapes.PROFILE_LIMIT - 600 < size < seed_shapes.PROFILE_LIMIT


def test_only_the_chosen_users_change() -> None:
    shaped = _users()
    for index, user in enumerate(shaped):
        chosen = (
            index % seed_shapes.SMS_EVERY in (seed_shapes.SMS_AT, seed_shapes.EMAIL_AT)
            or index % seed_shapes.LINKED_EVERY == seed_shapes.LINKED_AT
            or index % seed_shapes.BIG_EVERY == seed_shapes.BIG_AT
        )
        if not chosen:
            assert user["identities"][0]["provider"] in {
                "auth0",
                "google-oauth2",
                "github",
                "samlp",
            }
