from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Support lead requests and approves bulk runs (never their own: users_admin.bulk decides that).
ADDED = {"Support lead": ["request_bulk_runs", "approve_bulk_runs", "run_bulk_deletes"]}


def add_roles(apps, schema_editor):
    app_config = apps.get_app_config("staff")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ADDED.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="staff", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="staff", codename__in=ADDED["Support lead"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("staff", "0004_staff_identity")]

    operations = [
        migrations.AlterModelOptions(
            name="staffcapability",
            options={
                "default_permissions": (),
                "managed": False,
                "permissions": [
                    ("search_users", "Search users, look up emails and view user details"),
                    ("run_exports", "Build and run bulk user exports"),
                    ("view_all_exports", "See every staff member's exports"),
                    ("download_exports", "Download export files"),
                    ("view_audit_log", "Read the audit log"),
                    ("resend_verification", "Resend a user's verification email"),
                    ("send_password_link", "Send or show a password change link"),
                    ("clear_brute_force", "Clear a user's brute-force blocks"),
                    ("block_users", "Block and unblock users"),
                    ("reset_mfa", "Remove a user's MFA methods"),
                    ("sign_out_everywhere", "Sign a user out everywhere"),
                    ("edit_metadata", "Edit a user's user_metadata and app_metadata"),
                    ("delete_users", "Delete users (only with USERDESK_ALLOW_USER_DELETE)"),
                    ("request_bulk_runs", "Request bulk runs on many users"),
                    ("approve_bulk_runs", "Approve another staff member's bulk runs"),
                    (
                        "run_bulk_deletes",
                        "Delete users in bulk (only with USERDESK_ALLOW_USER_DELETE)",
                    ),
                ],
            },
        ),
        migrations.RunPython(add_roles, remove_roles),
    ]
