from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0002_file_field_attempts_submission"),
    ]

    operations = [
        migrations.AddField(
            model_name="export",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="export",
            name="cancelled_by_label",
            field=models.CharField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name="export",
            name="filters_own_file",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="export",
            name="name",
            field=models.CharField(
                blank=True, help_text="A label the requester gave it", max_length=120
            ),
        ),
        migrations.AddField(
            model_name="export",
            name="notified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="export",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("submitted", "Submitted to Auth0"),
                    ("running", "Running"),
                    ("downloading", "Downloading"),
                    ("verifying", "Verifying"),
                    ("ready", "Ready"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("purged", "Purged"),
                ],
                db_index=True,
                default="queued",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="exportevent",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("submitted", "Submitted to Auth0"),
                    ("running", "Running"),
                    ("downloading", "Downloading"),
                    ("verifying", "Verifying"),
                    ("ready", "Ready"),
                    ("failed", "Failed"),
                    ("cancelled", "Cancelled"),
                    ("purged", "Purged"),
                ],
                max_length=12,
            ),
        ),
    ]
