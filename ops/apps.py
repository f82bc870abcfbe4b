from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """No models: an app only so that Django finds its management commands and Celery its task."""

    name = "ops"
    verbose_name = "Operations: the demo and worker checks"
