"""Support actions on the sandbox tenant's users: blocks, MFA methods, sessions, tickets, deletes.

Each function takes plain values and returns what the API answers (dicts, or None for "no such
user"); the views in `sandbox.support_api` add the HTTP envelope. Writes append the log events
Auth0 would (`sandbox.tenant_logs`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from sandbox import faults, indexing, jobs, log_reads, tenant_logs
from sandbox.http import json_type
from sandbox.job_models import ExportJob
from sandbox.models import Connection, TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.support_models import (
    AuthenticationMethod,
    RefreshToken,
    Ticket,
    UserBlock,
    UserSession,
)

ALPHANUMERIC = string.ascii_letters + string.digits
TICKET_TTL_SECONDS = 432000  # five days, Auth0's default when ttl_sec is absent or 0
MAX_TTL_SECONDS = 2**31 - 1  # the sandbox's own bound, so an expiry date always exists


class ActionError(Exception):
    """An action Auth0 would refuse: status, message and errorCode for the error body."""

    def __init__(self, status: int, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code


@dataclass(frozen=True)
class Found:
    user: TenantUser
    profile: dict[str, Any]

    @property
    def provider(self) -> str:
        return str((self.profile.get("identities") or [{}])[0].get("provider", ""))

    @property
    def connection_name(self) -> str:
        return str((self.profile.get("identities") or [{}])[0].get("connection", ""))


def find(user_id: str) -> Found | None:
    user = TenantUser.objects.using(SANDBOX_DB).filter(user_id=user_id).first()
    if user is None:
        return None
    return Found(user, json.loads(user.profile))


def connection_ref(name: str) -> dict[str, str] | None:
    row = Connection.objects.using(SANDBOX_DB).filter(name=name).first()
    return {"id": row.id, "name": row.name} if row else None


def random_id(length: int = 16) -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


# Brute-force blocks ------------------------------------------------------------------------------


def _block_json(block: UserBlock) -> dict[str, str]:
    item = {"identifier": block.identifier}
    if block.ip:
        item["ip"] = block.ip
    if block.connection:
        item["connection"] = block.connection
    return item


def _protected_connections() -> set[str]:
    return {
        c.name
        for c in Connection.objects.using(SANDBOX_DB).all()
        if c.options.get("brute_force_protection", True)
    }


def _blocks_json(blocks: list[UserBlock], consider_enablement: bool) -> dict[str, Any]:
    if consider_enablement:
        protected = _protected_connections()
        blocks = [b for b in blocks if not b.connection or b.connection in protected]
    return {"blocked_for": [_block_json(b) for b in blocks]}


def blocks_of(user_id: str, consider_enablement: bool = False) -> dict[str, Any] | None:
    found = find(user_id)
    if found is None:
        return None
    blocks = list(UserBlock.objects.using(SANDBOX_DB).filter(user=found.user).order_by("id"))
    return _blocks_json(blocks, consider_enablement)


def blocks_by_identifier(identifier: str, consider_enablement: bool = False) -> dict[str, Any]:
    blocks = list(
        UserBlock.objects.using(SANDBOX_DB)
        .filter(identifier__iexact=identifier)
        .select_related("user")
        .order_by("id")
    )
    return _blocks_json(blocks, consider_enablement)


def _release(blocks: list[UserBlock]) -> None:
    users: dict[int, dict[str, Any]] = {}
    for block in blocks:
        users.setdefault(block.user_id, json.loads(block.user.profile))
    UserBlock.objects.using(SANDBOX_DB).filter(id__in=[b.id for b in blocks]).delete()
    for profile in users.values():
        # Inferred: Auth0 documents `ublkdu` "User login block released" for this.
        tenant_logs.append("ublkdu", user=profile, details={"released_by": "management_api"})


def unblock(user_id: str) -> bool:
    """Lift every brute-force block of the user; False if there is no such user."""
    found = find(user_id)
    if found is None:
        return False
    blocks = list(
        UserBlock.objects.using(SANDBOX_DB).filter(user=found.user).select_related("user")
    )
    _release(blocks)
    return True


def unblock_identifier(identifier: str) -> None:
    _release(
        list(
            UserBlock.objects.using(SANDBOX_DB)
            .filter(identifier__iexact=identifier)
            .select_related("user")
        )
    )


# MFA authentication methods ----------------------------------------------------------------------


def _mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:4]}{'*' * max(len(local) - 4, 0)}@{domain[:4]}{'*' * max(len(domain) - 4, 0)}"


def _mask_phone(phone: str) -> str:
    return "X" * max(len(phone) - 4, 0) + phone[-4:]


def method_json(method: AuthenticationMethod) -> dict[str, Any]:
    """A method as GET shows it: confirmed, email and phone masked."""
    body: dict[str, Any] = json.loads(method.body)
    if "email" in body:
        body["email"] = _mask_email(str(body["email"]))
    if "phone_number" in body:
        body["phone_number"] = _mask_phone(str(body["phone_number"]))
    return body


def methods_of(user_id: str) -> list[dict[str, Any]] | None:
    found = find(user_id)
    if found is None:
        return None
    rows = AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user).order_by("id")
    return [method_json(m) for m in rows]


def method_of(user_id: str, method_id: str) -> dict[str, Any] | None:
    """One method; ActionError 404 for an unknown user or method."""
    found = _found_or_404(user_id)
    method = (
        AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user, id=method_id).first()
    )
    if method is None:
        raise ActionError(404, "The authentication method could not be found.", "inexistent_method")
    return method_json(method)


def _found_or_404(user_id: str) -> Found:
    found = find(user_id)
    if found is None:
        raise ActionError(404, "The user does not exist.", "inexistent_user")
    return found


def _unenrolled(found: Found, methods: list[AuthenticationMethod]) -> None:
    for method in methods:
        tenant_logs.append(
            "gd_unenroll",
            user=found.profile,
            details={"authenticator": {"id": method.id, "type": method.type}},
        )
    if methods:
        found.profile["multifactor_last_modified"] = users_now()
        remaining = AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user)
        kinds = {m.type for m in remaining}
        if not kinds - {"recovery-code"}:
            found.profile.pop("multifactor", None)
        _save_profile(found)


def delete_methods(user_id: str) -> None:
    """Delete every method (the "reset MFA" of the dashboards); 403 if a passkey is enrolled."""
    found = find(user_id)
    if found is None:
        return
    methods = list(AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user))
    if any(m.type == "passkey" for m in methods):
        raise ActionError(
            403,
            "Operation not permitted when the user has registered at least 1 passkey",
            "operation_not_permitted",
        )
    AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user).delete()
    _unenrolled(found, methods)


def delete_method(user_id: str, method_id: str) -> None:
    found = _found_or_404(user_id)
    method = (
        AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user, id=method_id).first()
    )
    if method is None:
        raise ActionError(404, "The authentication method could not be found.", "inexistent_method")
    link_id = json.loads(method.body).get("link_id")
    doomed = [method]
    if link_id:
        # "Linked authentication methods will be deleted together."
        doomed += [
            m
            for m in AuthenticationMethod.objects.using(SANDBOX_DB).filter(user=found.user)
            if m.id != method.id and json.loads(m.body).get("link_id") == link_id
        ]
    AuthenticationMethod.objects.using(SANDBOX_DB).filter(id__in=[m.id for m in doomed]).delete()
    _unenrolled(found, doomed)


def invalidate_remembered_browsers(user_id: str) -> bool:
    """Nothing signs in against the sandbox, so no browser is remembered: only the user's
    existence is checked (the `sapi` event is the visible effect)."""
    return find(user_id) is not None


# Sessions and refresh tokens ---------------------------------------------------------------------


def _page(items: list[dict[str, Any]], start: int, take: int) -> tuple[list[dict[str, Any]], str]:
    page = items[start : start + take]
    following = start + take
    return page, (_cursor(following) if following < len(items) else "")


def _cursor(position: int) -> str:
    return f"cur_{position:08d}"


def parse_cursor(token: str) -> int | None:
    if token.startswith("cur_") and token[4:].isdigit():
        return int(token[4:])
    return None


def sessions_of(user_id: str) -> list[dict[str, Any]] | None:
    found = find(user_id)
    if found is None:
        return None
    rows = UserSession.objects.using(SANDBOX_DB).filter(user=found.user).order_by("id")
    return [json.loads(s.body) for s in rows]


def tokens_of(user_id: str) -> list[dict[str, Any]] | None:
    found = find(user_id)
    if found is None:
        return None
    rows = RefreshToken.objects.using(SANDBOX_DB).filter(user=found.user).order_by("id")
    return [json.loads(t.body) for t in rows]


def delete_sessions(user_id: str) -> bool:
    found = find(user_id)
    if found is None:
        return False
    sessions = list(UserSession.objects.using(SANDBOX_DB).filter(user=found.user))
    UserSession.objects.using(SANDBOX_DB).filter(user=found.user).delete()
    for session in sessions:
        tenant_logs.append(
            "slo",
            user=found.profile,
            description="User successfully logged out",
            details={"session_id": session.id, "initiator": "session-deleted"},
        )
    return True


def delete_tokens(user_id: str) -> bool:
    found = find(user_id)
    if found is None:
        return False
    tokens = list(RefreshToken.objects.using(SANDBOX_DB).filter(user=found.user))
    RefreshToken.objects.using(SANDBOX_DB).filter(user=found.user).delete()
    for token in tokens:
        tenant_logs.append("srrt", user=found.profile, details={"refresh_token_id": token.id})
    return True


def _end_sessions(found: Found, sessions: list[UserSession], drop_tokens: bool) -> None:
    ids = [session.id for session in sessions]
    UserSession.objects.using(SANDBOX_DB).filter(id__in=ids).delete()
    for session_id in ids:
        tenant_logs.append(
            "slo",
            user=found.profile,
            details={"session_id": session_id, "initiator": "session-deleted"},
        )
    if drop_tokens:
        tokens = list(RefreshToken.objects.using(SANDBOX_DB).filter(session_id__in=ids))
        RefreshToken.objects.using(SANDBOX_DB).filter(id__in=[t.id for t in tokens]).delete()
        for token in tokens:
            tenant_logs.append("srrt", user=found.profile, details={"refresh_token_id": token.id})


def revoke_access(user_id: str, session_id: str | None, preserve_refresh_tokens: bool) -> None:
    """`POST /users/{id}/revoke-access`: the user's sessions (or the one named) and, unless
    preserved, their refresh tokens. Nothing happens for an unknown user (Auth0 lists no 404)."""
    found = find(user_id)
    if found is None:
        return
    sessions = UserSession.objects.using(SANDBOX_DB).filter(user=found.user)
    if session_id is not None:
        sessions = sessions.filter(id=session_id)
    _end_sessions(found, list(sessions), not preserve_refresh_tokens)


def session(session_id: str) -> dict[str, Any] | None:
    row = UserSession.objects.using(SANDBOX_DB).filter(id=session_id).first()
    return None if row is None else json.loads(row.body)


def end_session(session_id: str, drop_tokens: bool) -> bool:
    row = UserSession.objects.using(SANDBOX_DB).filter(id=session_id).select_related("user").first()
    if row is None:
        return False
    _end_sessions(Found(row.user, json.loads(row.user.profile)), [row], drop_tokens)
    return True


# Verification email jobs -------------------------------------------------------------------------

VERIFICATION_KEYS = ("user_id", "client_id", "identity", "organization_id")


def _payload(message: str) -> ActionError:
    return ActionError(400, f"Payload validation error: {message}.", "invalid_body")


def _check_keys(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = [key for key in body if key not in allowed]
    if extra:
        raise _payload(f"'Additional properties not allowed: {', '.join(extra)}'")


def _check_string(body: dict[str, Any], key: str, where: str = "") -> None:
    if key in body and not isinstance(body[key], str):
        raise _payload(
            f"'Expected type string but found type {json_type(body[key])}' on property {where}{key}"
        )


def _identity_of(found: Found, identity: Any) -> dict[str, Any]:
    if not isinstance(identity, dict):
        raise _payload(
            f"'Expected type object but found type {json_type(identity)}' on property identity"
        )
    for key in ("user_id", "provider"):
        if key not in identity:
            raise _payload(f"'Missing required property: {key}' on property identity")
        _check_string(identity, key, "identity.")
    for candidate in found.profile.get("identities") or []:
        if str(candidate.get("user_id")) == identity["user_id"] and (
            candidate.get("provider") == identity["provider"]
        ):
            return dict(candidate)
    raise ActionError(
        400, "The user exists, but does not contain the given identity.", "invalid_body"
    )


def create_verification_job(body: dict[str, Any], switches: dict[str, Any]) -> ExportJob:
    _check_keys(body, VERIFICATION_KEYS)
    if "user_id" not in body:
        raise _payload("'Missing required property: user_id'")
    for key in ("user_id", "client_id", "organization_id"):
        _check_string(body, key)
    if body.get("organization_id"):
        raise ActionError(400, "The organization does not exist", "inexistent_organization")
    found = _found_or_404(body["user_id"])
    identity = (found.profile.get("identities") or [{}])[0]
    if "identity" in body:
        identity = _identity_of(found, body["identity"])
    elif identity.get("provider") != "auth0":
        # Social, enterprise and passwordless primaries must name the identity to verify.
        raise ActionError(400, "Connection must be a database connection.", "invalid_body")
    if not found.profile.get("email"):
        raise ActionError(400, "User does not have an email address.", "invalid_body")
    failure = ""
    if switches["email_template_disabled"]:
        failure = "The verification email template is disabled."
    elif found.profile.get("email_verified") is True:
        failure = "The email address is already verified."
    elif switches["job_fail"]:
        failure = str(switches["job_fail"])
    # One transaction: the runner sees the job only once its `svr` event is written, so a job
    # that fails at once logs `fv` after it, as Auth0's do.
    with transaction.atomic(using=SANDBOX_DB):
        job = jobs.create_verification(found.profile["user_id"], failure, switches)
        tenant_logs.append(
            "svr",
            user=found.profile,
            connection=connection_ref(str(identity.get("connection", ""))),
            details={"job_id": job.id, "email": found.profile["email"]},
        )
    return job


# Password-change tickets -------------------------------------------------------------------------

TICKET_KEYS = (
    "result_url",
    "user_id",
    "client_id",
    "organization_id",
    "connection_id",
    "email",
    "ttl_sec",
    "mark_email_as_verified",
    "includeEmailInRedirect",
    "identity",
)


def create_password_ticket(body: dict[str, Any]) -> Ticket:
    _check_keys(body, TICKET_KEYS)
    for key in ("result_url", "user_id", "client_id", "organization_id", "connection_id", "email"):
        _check_string(body, key)
    for key in ("mark_email_as_verified", "includeEmailInRedirect"):
        if key in body and not isinstance(body[key], bool):
            raise _payload(
                f"'Expected type boolean but found type {json_type(body[key])}' on property {key}"
            )
    ttl = body.get("ttl_sec", 0)
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        raise _payload(
            f"'Expected type integer but found type {json_type(ttl)}' on property ttl_sec"
        )
    if ttl < 0:
        raise _payload(f"'Value {ttl} is less than minimum 0' on property ttl_sec")
    if ttl > MAX_TTL_SECONDS:
        raise _payload(
            f"'Value {ttl} is greater than maximum {MAX_TTL_SECONDS}' on property ttl_sec"
        )
    if "user_id" in body and "connection_id" in body:
        raise ActionError(
            400, "You cannot send user_id when specifying a connection_id.", "invalid_body"
        )
    if "email" in body and "user_id" in body:
        raise ActionError(400, "Cannot specify email when using user_id.", "invalid_body")
    if "result_url" in body and ("client_id" in body or "organization_id" in body):
        raise ActionError(
            400,
            "The result_url cannot be specified when using client_id or organization_id.",
            "invalid_body",
        )
    if "email" in body and "connection_id" not in body:
        raise _payload("'Missing required property: connection_id'")
    if body.get("organization_id"):
        raise ActionError(400, "The organization does not exist", "inexistent_organization")
    found = _ticket_user(body)
    if found.provider != "auth0":
        raise ActionError(
            400, "The user's main connection does not support this operation.", "invalid_body"
        )
    if not found.profile.get("email"):
        raise ActionError(400, "The user does not have an email address.", "invalid_body")
    now = faults.now()
    return Ticket.objects.using(SANDBOX_DB).create(
        id=random_id(32),
        user_id=found.profile["user_id"],
        kind="password-change",
        expires_at=now + dt.timedelta(seconds=ttl or TICKET_TTL_SECONDS),
        mark_email_as_verified=bool(body.get("mark_email_as_verified", False)),
    )


def _ticket_user(body: dict[str, Any]) -> Found:
    if "user_id" in body:
        return _found_or_404(body["user_id"])
    if "email" not in body:
        raise _payload("'Missing required property: user_id'")
    connection = Connection.objects.using(SANDBOX_DB).filter(id=body["connection_id"]).first()
    if connection is None:
        raise ActionError(
            400,
            f"The connection with id {body['connection_id']} does not exist.",
            "inexistent_connection",
        )
    for user in TenantUser.objects.using(SANDBOX_DB).filter(email__iexact=body["email"]):
        profile = json.loads(user.profile)
        if (profile.get("identities") or [{}])[0].get("connection") == connection.name:
            return Found(user, profile)
    raise ActionError(404, "User not found.", "inexistent_user")


def live_ticket(ticket_id: str) -> Ticket | None:
    ticket = Ticket.objects.using(SANDBOX_DB).filter(id=ticket_id).first()
    if ticket is None or ticket.used_at is not None or ticket.expires_at <= faults.now():
        return None
    return ticket


def use_password_ticket(ticket: Ticket) -> dict[str, Any] | None:
    """The user sets a new password through the ticket's page (the sandbox keeps none)."""
    found = find(ticket.user_id)
    if found is None:
        return None
    now = faults.now()
    Ticket.objects.using(SANDBOX_DB).filter(id=ticket.id).update(used_at=now)
    # Newer tickets are the only valid ones; older ones die with this use.
    Ticket.objects.using(SANDBOX_DB).filter(user_id=ticket.user_id, used_at=None).update(
        used_at=now
    )
    found.profile["last_password_reset"] = tenant_logs.iso(now)
    if ticket.mark_email_as_verified:
        found.profile["email_verified"] = True
    _save_profile(found)
    # A password change by the user lifts their brute-force blocks.
    UserBlock.objects.using(SANDBOX_DB).filter(user=found.user).delete()
    tenant_logs.append("scp", user=found.profile, connection=connection_ref(found.connection_name))
    return found.profile


# Deleting a user -------------------------------------------------------------------------------


def delete_user(user_id: str) -> bool:
    """Delete the user and everything attached (blocks, MFA, sessions, refresh tokens); its
    log events stay."""
    with log_reads.history_kept(user_id), transaction.atomic(using=SANDBOX_DB):
        user = TenantUser.objects.using(SANDBOX_DB).filter(user_id=user_id).first()
        if user is None:
            return False
        Ticket.objects.using(SANDBOX_DB).filter(user_id=user_id).delete()
        user.delete(using=SANDBOX_DB)
    return True


# Shared helpers ----------------------------------------------------------------------------------


def users_now() -> str:
    return tenant_logs.iso(faults.now())


def _save_profile(found: Found) -> None:
    found.profile["updated_at"] = users_now()
    found.user.profile = json.dumps(found.profile, ensure_ascii=False, separators=(",", ":"))
    found.user.email = found.profile.get("email")
    found.user.save(using=SANDBOX_DB, update_fields=["profile", "email"])
    indexing.enqueue([found.user.pk], faults.now())
