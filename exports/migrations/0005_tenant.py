"""Exports and templates carry their Auth0 tenant's slug; existing rows get the configured one's."""

from __future__ import annotations

from django.db import migrations, models

from management_api import tenants
from management_api.tenant_migrations import tenant_column


class Migration(migrations.Migration):
    dependencies = [("exports", "0004_exact_search")]

    operations = [
        migrations.RemoveConstraint(
            model_name="exporttemplate", name="export_template_unique_name"
        ),
        *tenant_column("exports", ("Export", "ExportTemplate"), tenants.current_tenant_slug),
        migrations.AddConstraint(
            model_name="exporttemplate",
            constraint=models.UniqueConstraint(
                fields=("owner", "tenant", "name"), name="export_template_unique_name"
            ),
        ),
    ]
