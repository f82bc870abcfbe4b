"""Bulk user imports (`POST /api/v2/jobs/users-imports`): the job runner's half.

The HTTP half (sandbox.jobs_api) checks the request, keeps the file beside the job and queues it;
sandbox.jobs' runner then calls :func:`run`, which reads the file, validates each user against
Auth0's published import schema (the transcription in exports/schemas/, data only: the sandbox
shares no code with the converter it tests), applies Auth0's upsert rules
(https://auth0.com/docs/manage-users/user-migration/bulk-user-imports) and writes the users
into the tenant's store, whose search index then picks them up like any other write. Per-user
failures are kept for `GET /api/v2/jobs/{id}/errors` in Auth0's `{user, errors: [{code,
message, path}]}` shape; a file that is not a JSON array fails the whole job (no summary,
`/errors` 204).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
from django.conf import settings
from django.db import transaction

from sandbox import faults, indexing
from sandbox.http import json_type
from sandbox.job_models import ExportJob, job_dir
from sandbox.models import Connection, TenantUser
from sandbox.routers import SANDBOX_DB
from sandbox.users import EMAIL_RE, UserError, _dumps, _gravatar, _initials, _save_new, now_iso

SCHEMA_PATH = Path(settings.BASE_DIR) / "exports" / "schemas" / "auth0-import-user.json"
USERS_FILE = "users-import.json"
# Auth0 answers a larger request 413 (its definition of POST /jobs/users-imports).
MAX_PAYLOAD_BYTES = 512_000
MAX_ACTIVE_IMPORTS = 2
PROFILE_LIMIT_BYTES = 10 * 1024
# Replaced on upsert; everything else an existing user keeps (https://auth0.com/docs/manage-users/user-migration/bulk-user-imports).
UPSERTABLE = (
    "app_metadata",
    "user_metadata",
    "email_verified",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
)
NOT_STORED = ("password_hash", "custom_password_hash", "mfa_factors")
EXISTS = "The user already exist and upsert parameter is false"
# jsonschema validator -> the code Auth0 reports: the names of the z-schema validator whose
# messages Auth0's import errors carry, as its documentation lists them (https://auth0.com/docs/manage-users/user-migration/bulk-user-imports).
CODES = {
    "required": "OBJECT_REQUIRED",
    "additionalProperties": "OBJECT_ADDITIONAL_PROPERTIES",
    "type": "INVALID_TYPE",
    "format": "FORMAT",
    "enum": "ENUM_MISMATCH",
    "pattern": "PATTERN",
    "minItems": "ARRAY_LENGTH_SHORT",
    "maxItems": "ARRAY_LENGTH_LONG",
    "maxProperties": "OBJECT_PROPERTIES_MAXIMUM",
}


def _is_email(value: str) -> bool:
    return len(value) <= 254 and bool(EMAIL_RE.match(value))


_validator = jsonschema_rs.Draft7Validator(
    json.loads(SCHEMA_PATH.read_text("utf-8")), formats={"email": _is_email}, validate_formats=True
)


def users_file(job_id: str) -> Path:
    return job_dir(job_id) / USERS_FILE


def active_imports() -> int:
    return ExportJob.objects.filter(
        type=ExportJob.USERS_IMPORT, status__in=(ExportJob.PENDING, ExportJob.PROCESSING)
    ).count()


# --- validation ----------------------------------------------------------------------------------


def _path(error: jsonschema_rs.ValidationError) -> str:
    text = ""
    for step in error.instance_path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _text(error: jsonschema_rs.ValidationError) -> str:
    """z-schema's wording, which Auth0's messages carry."""
    # `kind.value`: the keyword's detail (the missing property, the unexpected keys, the types...).
    name, detail, value = error.kind.name, error.kind.value, error.instance
    if name == "required":
        return f"Missing required property: {detail}"
    if name == "additionalProperties":
        return f"Additional properties not allowed: {','.join(detail)}"
    if name == "type":
        return f"Expected type {detail[0]} but found type {json_type(value)}"
    if name == "format":
        return f"Object didn't pass validation for format {detail}: {value}"
    if name == "enum":
        return f"No enum match for: {value}"
    if name == "pattern":
        return f"String does not match pattern {detail}: {value}"
    return str(error.message)


def _schema_errors(user: Any) -> list[dict[str, str]]:
    if _validator.is_valid(user):
        return []
    found = []
    for error in sorted(
        _validator.iter_errors(user), key=lambda e: [str(s) for s in e.instance_path]
    ):
        path = _path(error)
        text = _text(error)
        entry = {
            "code": CODES.get(error.kind.name, error.kind.name.upper()),
            "message": f"Error in {path} property - {text}" if path else text,
        }
        if path:
            entry["path"] = path
        found.append(entry)
    return found


def _redacted(user: Any) -> Any:
    if not isinstance(user, dict):
        return user
    shown = dict(user)
    if "password_hash" in shown:
        shown["password_hash"] = "*****"
    custom = shown.get("custom_password_hash")
    if isinstance(custom, dict) and isinstance(custom.get("hash"), dict):
        shown["custom_password_hash"] = {**custom, "hash": {**custom["hash"], "value": "*****"}}
    return shown


# --- the store -----------------------------------------------------------------------------------


def _existing(connection: str, user: dict[str, Any]) -> tuple[TenantUser, str] | None:
    """A user of the connection matching on email, user ID, phone or username, with what matched."""
    users = TenantUser.objects.using(SANDBOX_DB)
    candidates: list[tuple[TenantUser, str]] = []
    if isinstance(user.get("email"), str):
        candidates += [(u, "email") for u in users.filter(email=user["email"].lower())]
    if isinstance(user.get("user_id"), str):
        candidates += [(u, "user_id") for u in users.filter(user_id=f"auth0|{user['user_id']}")]
    for key in ("username", "phone_number"):
        # The search columns: a write seconds ago is not seen here yet
        # (docs/sandbox/differences.md).
        value = user.get(key)
        if isinstance(value, str):
            found = users.filter(**{f"s_{key}__in": {value, value.lower()}})
            candidates += [(u, key) for u in found]
    for candidate, matched in candidates:
        identities = json.loads(candidate.profile).get("identities") or [{}]
        if identities[0].get("connection") == connection:
            return candidate, matched
    return None


def _new_profile(connection: str, user: dict[str, Any]) -> dict[str, Any]:
    email = user["email"].lower()
    local_id = user.get("user_id") or secrets.token_hex(12)
    created = now_iso()
    profile: dict[str, Any] = {
        "created_at": created,
        "email": email,
        "email_verified": user.get("email_verified") is True,
    }
    for key in ("family_name", "given_name"):
        if key in user:
            profile[key] = user[key]
    profile["identities"] = [
        {"connection": connection, "user_id": local_id, "provider": "auth0", "isSocial": False}
    ]
    profile["name"] = user.get("name") or email
    profile["nickname"] = user.get("nickname") or email.split("@", 1)[0]
    for key in ("phone_number", "phone_verified"):
        if key in user:
            profile[key] = user[key]
    if "username" in user:
        profile["username"] = user["username"].lower()
    profile["picture"] = user.get("picture") or _gravatar(email, _initials(profile["name"]))
    profile["updated_at"] = created
    profile["user_id"] = f"auth0|{local_id}"
    for key in ("app_metadata", "user_metadata"):
        if user.get(key):
            profile[key] = user[key]
    if "blocked" in user:
        profile["blocked"] = user["blocked"]
    return profile


def _upserted(stored: TenantUser, user: dict[str, Any]) -> None:
    profile: dict[str, Any] = json.loads(stored.profile)
    for key in UPSERTABLE:
        if key in ("app_metadata", "user_metadata"):
            # Replaced, never merged.
            if user.get(key):
                profile[key] = user[key]
            else:
                profile.pop(key, None)
        elif key == "email_verified":
            profile[key] = user.get(key) is True
        elif key in user:
            profile[key] = user[key]
    profile["updated_at"] = now_iso()
    stored.profile = _dumps(profile)
    stored.save(using=SANDBOX_DB, update_fields=["profile"])


def _too_big(profile: dict[str, Any]) -> bool:
    return len(_dumps(profile).encode()) > PROFILE_LIMIT_BYTES


# --- the job -------------------------------------------------------------------------------------


def _users(job: ExportJob) -> list[Any] | None:
    try:
        data = json.loads(users_file(job.id).read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) else None


def _keys(user: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("email", "username", "user_id"):
        value = user.get(key)
        if isinstance(value, str):
            yield key, value.lower() if key != "user_id" else value


def run(job: ExportJob) -> None:
    """Import the job's file; every status change of an import job after creation is here."""
    users = _users(job)
    if users is None:
        ExportJob.objects.filter(id=job.id).update(
            status=ExportJob.FAILED,
            status_details="Failed to parse users file: it must be a JSON array of users.",
            finished_at=faults.now(),
        )
        return
    connection = job.connection_name
    seen: set[tuple[str, str]] = set()
    errors: list[dict[str, Any]] = []
    inserted = updated = 0
    changed: list[int] = []
    for user in users:
        problems = _schema_errors(user)
        if not problems:
            repeated = next((key for key in _keys(user) if key in seen), None)
            seen.update(_keys(user))
            if repeated is not None:
                problems = [
                    {
                        "code": "DUPLICATED_USER",
                        "message": f"A user with this {repeated[0]} was already provided.",
                    }
                ]
        if not problems:
            with transaction.atomic(using=SANDBOX_DB):
                match = _existing(connection, user)
                if match is not None and not (job.upsert and match[1] == "email"):
                    problems = [{"code": "DUPLICATED_USER", "message": EXISTS}]
                elif match is not None:
                    _upserted(match[0], user)
                    changed.append(match[0].pk)
                    updated += 1
                else:
                    profile = _new_profile(connection, user)
                    if _too_big(profile):
                        problems = [
                            {
                                "code": "PROFILE_SIZE_EXCEEDED",
                                "message": "The user profile exceeds the maximum allowed size "
                                f"({PROFILE_LIMIT_BYTES} bytes).",
                            }
                        ]
                    else:
                        try:
                            changed.append(_save_new(profile).pk)
                            inserted += 1
                        except UserError:
                            problems = [{"code": "DUPLICATED_USER", "message": EXISTS}]
        if problems:
            errors.append({"user": _redacted(user), "errors": problems})
    if changed:
        indexing.enqueue(changed, faults.now())
    summary = {
        "failed": len(errors),
        "updated": updated,
        "inserted": inserted,
        "total": len(users),
    }
    ExportJob.objects.filter(id=job.id).update(
        status=ExportJob.COMPLETED,
        summary=summary,
        import_errors=errors,
        rows_total=len(users),
        rows_done=len(users),
        finished_at=faults.now(),
    )


def check_connection(connection: Connection) -> tuple[str, str] | None:
    """Why users cannot be imported into `connection` (message, errorCode), or None."""
    if connection.strategy != "auth0":
        return "Connection must be a database connection.", "operation_not_supported"
    options = connection.options or {}
    if options.get("enabledDatabaseCustomization") and not options.get("import_mode"):
        return (
            "Custom Database Connections without import mode are not allowed.",
            "operation_not_supported",
        )
    return None
