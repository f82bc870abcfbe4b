from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from . import broker  # noqa: F401 (the userdesk-filesystem:// transport, without Redis)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("userdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _leave_stopping_to_the_main_process(**kwargs: Any) -> None:
    """A pool process leaves the worker's process group. honcho (`make run`), Heroku and
    systemd's default stop signal a worker's whole group: its pool processes died at once of
    that SIGTERM, each logged as an ERROR ("exited with signal 15") and losing its task. Now
    only the main process is told, and its warm shutdown lets them finish; it still ends them
    itself (a hard time limit, a cold shutdown), and they die with it (celery sets their
    parent-death signal)."""
    os.setpgid(0, 0)
