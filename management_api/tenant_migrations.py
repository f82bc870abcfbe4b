"""The migration operations that give stored rows their tenant's slug (exports, users_admin and
staff use them): add the column, fill existing rows with the configured tenant's slug
(tenants.slug_for_existing_rows), then make the current tenant the default of new rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations, models

from . import tenants


def tenant_column(
    app_label: str, model_names: tuple[str, ...], default: Callable[[], str]
) -> list[Any]:
    blank = default is tenants.current_tenant_slug_or_blank

    def fill(apps: Any, schema_editor: Any) -> None:
        slug = tenants.slug_for_existing_rows()
        for name in model_names:
            apps.get_model(app_label, name).objects.filter(tenant="").update(tenant=slug)

    def field(value: Any) -> models.CharField[str, str]:
        return models.CharField(db_index=True, default=value, max_length=40, blank=blank)

    return [
        *[
            migrations.AddField(model_name=name.lower(), name="tenant", field=field(""))
            for name in model_names
        ],
        migrations.RunPython(fill, migrations.RunPython.noop),
        *[
            migrations.AlterField(model_name=name.lower(), name="tenant", field=field(default))
            for name in model_names
        ],
    ]
