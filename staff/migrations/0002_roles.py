from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Support": ["search_users"],
    "Export admin": [
        "search_users",
        "run_exports",
        "view_all_exports",
        "download_exports",
        "view_audit_log",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally made after migrate; make them now so the groups can hold them.
    app_config = apps.get_app_config("staff")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="staff", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("staff", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
