"""Data-subject packages (issue 20, deliver 3; GDPR articles 15 and 20): for one user, a zip of
the profile as Auth0 returns it, every identity, both metadata objects, the Auth0 log events
still within retention, every Userdesk audit event about the user, the exports known to hold
the user, a manifest of SHA-256 sums (`sha256sum -c MANIFEST.sha256`) and a plain summary.

A worker builds it (`build_data_package`); it is downloaded once within DATA_PACKAGE_HOURS and
deleted from storage then, or by `prune_data_packages` (beat) once expired.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import timezone

import management_api
from exports.models import Export, Status
from exports.storage import exports_storage
from exports.tasks import ExportTask
from management_api import LOGS_WINDOW, ManagementApiError, get_user, user_logs
from management_api.tenants import UnknownTenant, get_tenant
from staff.audit import action_label, record_for
from staff.models import AuditEvent

from .pii_models import DataPackage, PackageStatus

LOGS_PAGE = 100  # Auth0's largest page of a user's logs
MANIFEST = "MANIFEST.sha256"
SUMMARY = "SUMMARY.txt"
BUILT = "users.data_package_built"
NEEDLE_OVERLAP = 1024


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def auth0_logs(user_id: str) -> list[dict[str, Any]]:
    """Every log event Auth0 still keeps for the user (as far as its paging window reaches)."""
    events: list[dict[str, Any]] = []
    for page in range(LOGS_WINDOW // LOGS_PAGE):
        found = user_logs(user_id, page=page, per_page=LOGS_PAGE).events
        events.extend(found)
        if len(found) < LOGS_PAGE:
            break
    return events


def audit_events(tenant: str, user_id: str) -> list[dict[str, Any]]:
    """Userdesk's record of the user, oldest first: who viewed, who acted, why."""
    return [
        {
            "at": _when(event.at),
            "staff": event.actor_label,
            "action": event.action,
            "what": action_label(event.action),
            "details": event.details,
            "staff_ip_address": event.ip_address,
        }
        for event in AuditEvent.objects.filter(tenant=tenant, target=user_id).order_by("at", "id")
    ]


def _file_holds(export: Export, needle: bytes) -> bool:
    """Whether the export's kept file names this user (read through once, never whole)."""
    try:
        with export.open_file() as stored, gzip.open(stored) as rows:
            tail = b""
            while chunk := rows.read(1 << 20):
                if needle in tail + chunk:
                    return True
                tail = chunk[-NEEDLE_OVERLAP:]
    except (FileNotFoundError, OSError, EOFError):
        return False
    return False


def known_exports(tenant: str, profile: dict[str, Any]) -> dict[str, Any]:
    """The exports known to hold the user: exact exports whose file names them, and the ids of
    whole exports of their connection (or of all connections) made while they existed."""
    user_id = str(profile.get("user_id") or "")
    created = str(profile.get("created_at") or "")
    connections = {str(i.get("connection") or "") for i in profile.get("identities") or []}
    needle = json.dumps(user_id)[1:-1].encode()
    exports = Export.objects.filter(tenant=tenant).order_by("created_at", "id")
    exact = [
        {
            "export": export.pk,
            "name": export.name,
            "created_at": _when(export.created_at),
            "requested_by": export.requested_by_label,
            "query": export.match_query,
        }
        for export in exports.filter(status=Status.READY).exclude(match_query="")
        if _file_holds(export, needle)
    ]
    whole = exports.filter(match_query="").filter(
        Q(connection_id="") | Q(connection_name__in=connections)
    )
    made_while = [
        {
            "export": export.pk,
            "created_at": _when(export.created_at),
            "connection": export.connection_label,
            "status": export.status,
            "limit": export.limit,
        }
        for export in whole
        if not created or _when(export.created_at) >= created[:19]
    ]
    return {"exact_exports_holding_the_user": exact, "exports_of_their_connection": made_while}


def summary(package: DataPackage, profile: dict[str, Any], files: dict[str, Any]) -> str:
    try:
        tenant = get_tenant(package.tenant)
        tenant_name, retention = tenant.name, tenant.log_retention_days
    except UnknownTenant:
        tenant_name, retention = package.tenant, settings.AUTH0_LOG_RETENTION_DAYS
    audit = files["userdesk-audit-events.json"]
    logs = files["auth0-log-events.json"]
    exports = files["exports.json"]
    oldest = audit[0]["at"][:10] if audit else ""
    return "\n".join(
        [
            f"Data held about the user {package.user_id}",
            "",
            f"Built on {_when(package.finished_at or timezone.now())} UTC for the Auth0 tenant "
            f"{tenant_name}, at the request of {package.requested_by_label} (reason: "
            f"{package.reason}).",
            "",
            "What is in this package:",
            "- profile.json: the user's profile exactly as Auth0 returns it.",
            f"- identities.json: every identity of the user ({len(files['identities.json'])}).",
            "- app_metadata.json and user_metadata.json: both metadata objects.",
            f"- auth0-log-events.json: {len(logs)} Auth0 log events. Auth0 keeps log events for "
            f"{retention} days on this tenant's plan: older ones no longer exist at Auth0.",
            f"- userdesk-audit-events.json: {len(audit)} events recorded by Userdesk, the support "
            "console, about this user: every time staff viewed the user's data, every action "
            f"taken on the account, by whom and why{f', since {oldest}' if oldest else ''}. "
            "Userdesk's own record of the user's history outlives Auth0's log retention: it is "
            "the only record of events older than Auth0's retention.",
            f"- exports.json: {len(exports['exact_exports_holding_the_user'])} exact exports "
            f"whose file holds the user, and {len(exports['exports_of_their_connection'])} "
            "exports of the user's whole connection made while the user existed (these held "
            "every user of the connection, unless limited).",
            f"- {MANIFEST}: the SHA-256 sum of every file; check them with "
            f"`sha256sum -c {MANIFEST}`.",
            "",
            f"The package can be downloaded once, within {settings.DATA_PACKAGE_HOURS} hours; "
            "Userdesk deletes it after the download or at expiry.",
            "",
        ]
    )


def build_zip(package: DataPackage) -> tuple[bytes, dict[str, int]]:
    """The package's zip and what it holds (raises ManagementApiError, LookupError)."""
    profile = get_user(package.user_id)
    if profile is None:
        raise LookupError(f"Auth0 has no user {package.user_id} (any more).")
    files: dict[str, Any] = {
        "profile.json": profile,
        "identities.json": list(profile.get("identities") or []),
        "app_metadata.json": profile.get("app_metadata") or {},
        "user_metadata.json": profile.get("user_metadata") or {},
        "auth0-log-events.json": auth0_logs(package.user_id),
        "userdesk-audit-events.json": audit_events(package.tenant, package.user_id),
        "exports.json": known_exports(package.tenant, profile),
    }
    contents = {name: _json(value) for name, value in files.items()}
    contents[SUMMARY] = summary(package, profile, files).encode()
    manifest = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in contents.items()
    )
    contents[MANIFEST] = manifest.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents.items():
            archive.writestr(f"data-package/{name}", data)
    counts = {
        "auth0_log_events": len(files["auth0-log-events.json"]),
        "userdesk_audit_events": len(files["userdesk-audit-events.json"]),
        "identities": len(files["identities.json"]),
        "exact_exports": len(files["exports.json"]["exact_exports_holding_the_user"]),
        "connection_exports": len(files["exports.json"]["exports_of_their_connection"]),
    }
    return buffer.getvalue(), counts


@shared_task(base=ExportTask, acks_late=True, reject_on_worker_lost=True)
def build_data_package(package_id: int) -> None:
    """Build one package; safe to deliver twice (only a queued package is claimed)."""
    tenant = DataPackage.objects.filter(pk=package_id).values_list("tenant", flat=True).first()
    if tenant is None:
        return
    claimed = DataPackage.objects.filter(pk=package_id, status=PackageStatus.QUEUED).update(
        status=PackageStatus.BUILDING
    )
    if not claimed:
        return
    package = DataPackage.objects.get(pk=package_id)
    with management_api.tenant_scope(tenant):
        try:
            data, counts = build_zip(package)
        except (ManagementApiError, LookupError) as exc:
            changes: dict[str, Any] = {"status": PackageStatus.FAILED, "error": str(exc)}
            outcome: dict[str, Any] = {"outcome": "error", "error": str(exc)}
        else:
            digest = hashlib.sha256(data).hexdigest()
            name = exports_storage().save(
                f"data-packages/{package_id}-{package.token}.zip", ContentFile(data)
            )
            hours = timedelta(hours=settings.DATA_PACKAGE_HOURS)
            changes = {
                "status": PackageStatus.READY,
                "file_name": name,
                "sha256": digest,
                "size": len(data),
                "counts": counts,
                "expires_at": timezone.now() + hours,
            }
            outcome = {"outcome": "ok", "sha256": digest, **counts}
        DataPackage.objects.filter(pk=package_id).update(finished_at=timezone.now(), **changes)
        record_for(
            None,
            None,
            BUILT,
            package.user_id,
            actor_label="Userdesk",
            package=package_id,
            **outcome,
        )


def delete_file(package: DataPackage) -> None:
    if package.file_name:
        exports_storage().delete(package.file_name)


@shared_task
def prune_data_packages() -> int:
    """Delete the files of ready packages past their expiry (beat, hourly); send again the
    build of a package still queued after a minute (its broker was away when asked)."""
    stuck = DataPackage.objects.filter(
        status=PackageStatus.QUEUED, created_at__lt=timezone.now() - timedelta(minutes=1)
    )
    for package_id in stuck.values_list("pk", flat=True):
        build_data_package.delay(package_id)
    expired = DataPackage.objects.filter(status=PackageStatus.READY, expires_at__lte=timezone.now())
    pruned = 0
    for package in expired:
        if DataPackage.objects.filter(pk=package.pk, status=PackageStatus.READY).update(
            status=PackageStatus.EXPIRED
        ):
            delete_file(package)
            pruned += 1
    return pruned
