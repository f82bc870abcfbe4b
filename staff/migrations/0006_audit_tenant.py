"""Audit events carry the Auth0 tenant acted on; existing rows get the configured one's."""

from __future__ import annotations

from django.db import migrations

from management_api import tenants
from management_api.tenant_migrations import tenant_column


class Migration(migrations.Migration):
    dependencies = [("staff", "0005_capabilities_from_declarations")]

    operations = [
        *tenant_column("staff", ("AuditEvent",), tenants.current_tenant_slug_or_blank),
    ]
