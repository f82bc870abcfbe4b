from __future__ import annotations

from django.db import migrations, models

import exports.models


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="export", old_name="file_name", new_name="file"),
        migrations.AlterField(
            model_name="export",
            name="file",
            field=models.FileField(
                blank=True, max_length=300, storage=exports.models.exports_storage, upload_to=""
            ),
        ),
        migrations.AddField(
            model_name="export",
            name="attempts",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="export",
            name="auth0_submitted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
