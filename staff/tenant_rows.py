"""Stored rows whose tenant slug is no longer configured, and moving them to one that is.

Rows carry their tenant's slug (management_api.tenants). A slug that leaves the configuration
leaves its rows behind, unseen: the demo's earlier single tenant was `userdesk-sandbox` (its
sandbox's name), while `make run` now calls that same sandbox tenant `production`. Moving rows
changes their `tenant` only; audit events are append-only and keep theirs, and one event says
what was moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import IntegrityError, models, transaction

from management_api.tenants import Tenant, all_tenants, get_tenant, tenant_scope

from . import audit
from .models import AuditEvent

# The apps whose models carry a `tenant` (the product's; the sandbox's are another database).
TENANT_APPS = ("exports", "users_admin", "staff")


def tenant_models() -> list[type[models.Model]]:
    return [
        model
        for label in TENANT_APPS
        for model in apps.get_app_config(label).get_models()
        if any(f.name == "tenant" for f in model._meta.concrete_fields)
    ]


def _label(model: type[models.Model]) -> str:
    return str(model._meta.verbose_name)


def movable_models() -> list[type[models.Model]]:
    """Every model with a tenant but the append-only audit events."""
    return [model for model in tenant_models() if model is not AuditEvent]


def unconfigured_slugs() -> dict[str, dict[str, int]]:
    """Each slug that rows (audit events aside) carry and no configured tenant has, with how
    many rows of each kind."""
    configured = {t.slug for t in all_tenants()}
    found: dict[str, dict[str, int]] = {}
    for model in movable_models():
        counts = (
            model._default_manager.exclude(tenant__in=[*configured, ""])
            .values_list("tenant")
            .annotate(n=models.Count("pk"))
        )
        for slug, n in counts:
            found.setdefault(slug, {})[_label(model)] = n
    return found


def same_sandbox_tenant(slug: str) -> Tenant | None:
    """The configured tenant that is the sandbox tenant the old slug named: the demo's single
    tenant took its slug from the sandbox's name, the first label of its domain
    (`userdesk-sandbox.sandbox.local`). None for any other slug."""
    for tenant in all_tenants():
        if tenant.domain.endswith(".sandbox.local") and tenant.domain.split(".")[0] == slug:
            return tenant
    return None


@dataclass
class Moved:
    moved: dict[str, int] = field(default_factory=dict)
    # Rows left where a row of the same name (a saved search, a template) is already there.
    kept: dict[str, int] = field(default_factory=dict)

    def words(self) -> str:
        parts = [f"{label}: {n}" for label, n in self.moved.items() if n]
        kept = [f"{label}: {n}" for label, n in self.kept.items() if n]
        text = ", ".join(parts) or "no rows"
        return f"{text} (kept, their names already taken: {', '.join(kept)})" if kept else text


def move_rows(old: str, new: str, *, by: str) -> Moved:
    """Give every row of the slug `old` to the configured tenant `new`, except audit events.
    Each row moves on its own, so one whose name is taken on `new` stays and is counted."""
    get_tenant(new)  # UnknownTenant: only to a configured tenant
    result = Moved()
    for model in movable_models():
        label = _label(model)
        rows = model._default_manager.filter(tenant=old)
        for pk in rows.values_list("pk", flat=True):
            try:
                with transaction.atomic():
                    model._default_manager.filter(pk=pk).update(tenant=new)
            except IntegrityError:
                result.kept[label] = result.kept.get(label, 0) + 1
            else:
                result.moved[label] = result.moved.get(label, 0) + 1
    if not result.moved:
        return result
    with tenant_scope(new):
        audit.record_for(
            None,
            None,
            audit.TENANT_ROWS_MOVED,
            target=old,
            actor_label=by,
            moved=result.moved,
            kept=result.kept,
        )
    return result
