"""Action requests and saved and recent searches carry their Auth0 tenant's slug; existing rows
get the configured one's."""

from __future__ import annotations

from django.db import migrations, models

from management_api import tenants
from management_api.tenant_migrations import tenant_column


class Migration(migrations.Migration):
    dependencies = [("users_admin", "0002_saved_and_recent_searches")]

    operations = [
        migrations.RemoveConstraint(model_name="savedsearch", name="saved_search_unique_name"),
        migrations.RemoveConstraint(model_name="recentsearch", name="recent_search_unique"),
        *tenant_column(
            "users_admin",
            ("ActionRequest", "SavedSearch", "RecentSearch"),
            tenants.current_tenant_slug,
        ),
        migrations.AddConstraint(
            model_name="savedsearch",
            constraint=models.UniqueConstraint(
                fields=("owner", "tenant", "name"), name="saved_search_unique_name"
            ),
        ),
        migrations.AddConstraint(
            model_name="recentsearch",
            constraint=models.UniqueConstraint(
                fields=("owner", "tenant", "digest"), name="recent_search_unique"
            ),
        ),
    ]
