"""Creating users and linking accounts: one plain function per endpoint (see support.py for the
repeat rules)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .errors import PermanentError
from .http import api_request


def _identities(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise PermanentError(f"Auth0 answered the {what} with an unexpected shape")
    return [dict(item) for item in body if isinstance(item, dict)]


def link_identity(
    primary_id: str, provider: str, secondary_id: str, *, connection_id: str = ""
) -> list[dict[str, Any]]:
    """POST /users/{primary}/identities: the secondary account becomes one of the primary's
    identities (Auth0 discards its metadata and removes it from the user list). 201 with the
    primary's identities.

    Not repeated after a timeout: a second link answers 409 "Specified identity already exists."
    even though the first one worked, so the caller reads the primary again instead.
    """
    body: dict[str, Any] = {"provider": provider, "user_id": secondary_id}
    if connection_id:
        body["connection_id"] = connection_id
    answer = api_request(
        "POST", f"/users/{quote(primary_id, safe='')}/identities", json=body, safe_to_repeat=False
    )
    return _identities(answer, "link")


def unlink_identity(primary_id: str, provider: str, identity_id: str) -> list[dict[str, Any]]:
    """DELETE /users/{primary}/identities/{provider}/{identity user_id}: the identity becomes a
    user of its own, `<provider>|<identity user_id>`, with no metadata. 200 with the primary's
    remaining identities. A DELETE: repeatable."""
    path = "/".join(
        (
            f"/users/{quote(primary_id, safe='')}/identities",
            quote(provider, safe=""),
            quote(identity_id, safe=""),
        )
    )
    return _identities(api_request("DELETE", path), "unlink")


def create_user(body: dict[str, Any]) -> dict[str, Any]:
    """POST /users on a database or passwordless connection: 201 with the new user.

    Not repeated after a timeout: a second create answers 409 "The user already exists." even
    though the first one worked.
    """
    answer = api_request("POST", "/users", json=body, safe_to_repeat=False)
    if not isinstance(answer, dict) or not answer.get("user_id"):
        raise PermanentError("Auth0 answered the new user with an unexpected shape")
    return answer
