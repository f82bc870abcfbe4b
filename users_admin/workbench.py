"""What the user page knows about one user, fetched at once, and what it diagnoses from it.

The profile, brute-force blocks, MFA methods and the first page of logs are four independent
calls; they run concurrently on the shared client, so the page costs about the slowest one.
A failing side call (blocks, methods, logs) is shown as "could not check", never a 500; only
the profile is essential.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from management_api import (
    LogPage,
    ManagementApiError,
    Outcome,
    PermanentError,
    authentication_methods,
    concurrently,
    current_tenant,
    get_user,
    user_blocks,
    user_logs,
    user_refresh_tokens,
    user_sessions,
)

from .access import access_calls
from .logtypes import FAILED_LOGIN_TYPES, SUCCESS_LOGIN_TYPES

DATABASE_PROVIDER = "auth0"
AVATAR_TONES = 6  # .avatar-0 to .avatar-5 in static/css/workbench.css
# Connections whose email Auth0 will not verify through the Management API.
NO_VERIFICATION_PROVIDERS = frozenset({"sms", "samlp", "waad", "adfs", "ad", "oidc", "okta"})


@dataclass(frozen=True)
class Problem:
    """One reason the user may not be able to sign in (an action's `fixes` names its key)."""

    key: str
    text: str


@dataclass
class Workbench:
    user_id: str
    profile: dict[str, Any]
    blocks: Outcome[list[dict[str, Any]] | None] = field(default_factory=Outcome)
    methods: Outcome[list[dict[str, Any]] | None] = field(default_factory=Outcome)
    logs: Outcome[LogPage] = field(default_factory=Outcome)
    # Read on Enterprise tenants only (the only plan whose Auth0 lists them).
    sessions: Outcome[list[dict[str, Any]]] = field(default_factory=Outcome)
    refresh_tokens: Outcome[list[dict[str, Any]]] = field(default_factory=Outcome)
    # Read for the page and for the actions that read "roles" / "organizations" (access.py).
    roles: Outcome[list[dict[str, Any]] | None] = field(default_factory=Outcome)
    permissions: Outcome[list[dict[str, Any]] | None] = field(default_factory=Outcome)
    memberships: Outcome[list[dict[str, Any]] | None] = field(default_factory=Outcome)

    # --- identity -----------------------------------------------------------------------
    @property
    def primary_identity(self) -> dict[str, Any]:
        identities = self.profile.get("identities") or []
        return dict(identities[0]) if identities else {}

    @property
    def provider(self) -> str:
        return str(self.primary_identity.get("provider") or self.user_id.split("|", 1)[0])

    @property
    def connection(self) -> str:
        return str(self.primary_identity.get("connection") or "")

    @property
    def is_database_user(self) -> bool:
        return self.provider == DATABASE_PROVIDER

    @property
    def email(self) -> str:
        return str(self.profile.get("email") or "")

    @property
    def label(self) -> str:
        """How to name the user to an agent: name, email, username, phone, or the id."""
        for key in ("name", "email", "username", "phone_number"):
            if self.profile.get(key):
                return str(self.profile[key])
        return self.user_id

    @property
    def initials(self) -> str:
        """The avatar's letters: of the name's first two words, else of the label, else "?".

        The user's picture (Gravatar, Auth0's CDN) is never loaded: the staff browser sends
        nothing to a third party."""
        words = str(self.profile.get("name") or "").split() or [self.label.split("@")[0]]
        letters = "".join(word[0] for word in words[:2] if word[:1].isalnum())
        return letters.upper() or "?"

    @property
    def avatar_tone(self) -> int:
        """One of AVATAR_TONES colours, the same for the same user on every page."""
        return zlib.crc32(self.user_id.encode()) % AVATAR_TONES

    @property
    def logins(self) -> int | None:
        """Auth0 leaves out `logins_count` until the first sign-in (and for imported users)."""
        value = self.profile.get("logins_count")
        return value if isinstance(value, int) else None

    # --- what the side calls found -------------------------------------------------------
    @property
    def brute_force_blocks(self) -> list[dict[str, Any]]:
        return list(self.blocks.value or [])

    @property
    def mfa_methods(self) -> list[dict[str, Any]]:
        return list(self.methods.value or [])

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(self.logs.value.events) if self.logs.value else []

    @property
    def last_success(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("type") in SUCCESS_LOGIN_TYPES), None)

    @property
    def last_failure(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("type") in FAILED_LOGIN_TYPES), None)

    # --- diagnosis ------------------------------------------------------------------------
    @property
    def can_verify_email(self) -> bool:
        return bool(self.email) and self.provider not in NO_VERIFICATION_PROVIDERS

    @property
    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.profile.get("blocked"):
            found.append(
                Problem(
                    "admin-blocked",
                    "Blocked by an administrator: every sign-in is refused with "
                    "\u201cuser is blocked\u201d until someone unblocks the account.",
                )
            )
        if self.brute_force_blocks:
            # One problem, one fix: Auth0 lifts a user's blocks all at once, never one address.
            found.append(Problem("brute-force", blocks_sentence(self.brute_force_blocks)))
        if self.email and self.profile.get("email_verified") is False and self.can_verify_email:
            found.append(
                Problem(
                    "unverified",
                    f"The email address {self.email} is not verified.",
                )
            )
        return found


def blocks_sentence(blocks: list[dict[str, Any]]) -> str:
    """Every brute-force block of a user, and that clearing lifts them all."""
    said = " ".join(block_sentence(block) for block in blocks)
    if len(blocks) > 1:
        said += (
            f" Auth0 cannot unblock one address: clearing lifts all {len(blocks)} blocks at once."
        )
    return said


def block_sentence(block: dict[str, Any]) -> str:
    """A brute-force block in a support agent's words."""
    identifier = block.get("identifier") or "this account"
    where = f" on the connection {block['connection']}" if block.get("connection") else ""
    if block.get("ip"):
        return (
            f"Locked after too many failed sign-ins from {block['ip']} "
            f"(as {identifier}{where}): that address cannot sign in until the block is cleared."
        )
    return f"Locked out after too many failed sign-ins as {identifier}{where}, from every address."


def load(
    user_id: str,
    *,
    logs_page: int = 0,
    devices: bool = False,
    reads: Iterable[str] = (),
    meanwhile: Callable[[], object] | None = None,
) -> Workbench | None:
    """Everything the user page shows, fetched concurrently; None when the user does not exist.

    Raises the profile's ManagementApiError (the page cannot be shown without it). `devices`
    also lists sessions and refresh tokens (for an action that reads them). `meanwhile` runs in
    this thread while the calls are out.
    """
    calls: dict[str, Callable[[], Any]] = {
        "profile": lambda: get_user(user_id),
        "blocks": lambda: user_blocks(user_id),
        "methods": lambda: authentication_methods(user_id),
        "logs": lambda: user_logs(user_id, page=logs_page),
        **(device_calls(user_id) if devices else {}),
        **access_calls(user_id, reads),
    }
    results = concurrently(calls, meanwhile=meanwhile)
    profile = results.pop("profile")
    if profile.error is not None:
        raise profile.error
    if profile.value is None:
        return None
    return Workbench(user_id=user_id, profile=profile.value, **results)


def device_calls(user_id: str) -> dict[str, Callable[[], Any]]:
    """The calls that list the user's sessions and refresh tokens, where the plan allows them
    (Auth0 answers them on Enterprise tenants only: elsewhere nothing is asked)."""
    if current_tenant().plan != "enterprise":
        return {}
    return {
        "sessions": lambda: user_sessions(user_id),
        "refresh_tokens": lambda: user_refresh_tokens(user_id),
    }


def unavailable(outcome: Outcome[Any], what: str) -> str:
    """Why a side panel is empty: the error, or Auth0 not knowing the endpoint for this user."""
    if isinstance(outcome.error, ManagementApiError):
        return f"Could not check {what}: {outcome.error}"
    if outcome.value is None:
        return f"Auth0 did not report {what} for this user."
    return ""


def sessions_unavailable(bench: Workbench) -> str | None:
    """Why this tenant cannot list or revoke sessions (its plan, or Auth0's 403), or None."""
    plan = current_tenant().plan
    if plan != "enterprise":
        return (
            "Auth0 lists and revokes sessions and refresh tokens on Enterprise plans only; "
            f"this tenant is on the {plan.capitalize()} plan."
        )
    refused = next(
        (o.error for o in (bench.sessions, bench.refresh_tokens) if o.error is not None), None
    )
    if isinstance(refused, PermanentError) and refused.status == 403:
        return f"Auth0 does not let this tenant manage sessions: {refused.message}"
    return None
