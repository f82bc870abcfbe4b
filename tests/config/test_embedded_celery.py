"""The embedded defaults on a fresh machine: no DATABASE_URL and no REDIS_URL.

A real `celery -A config worker` on kombu's filesystem broker picks up a task sent by another
process and writes to the shared SQLite file, exactly as `make run` works without services.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.processes import (
    ROOT,
    celery_worker_command,
    embedded_env,
    manage,
    python,
    stop_group,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_machine(tmp_path: Path) -> dict[str, str]:
    env = embedded_env(tmp_path, CELERY_POLLING_INTERVAL="0.1")
    migrate = manage(env, "migrate", "--database", "default", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr
    return env


@pytest.fixture
def embedded_worker(
    fresh_machine: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        celery_worker_command("--pool", "solo"),
        cwd=ROOT,
        env=fresh_machine,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    yield worker
    stop_group(worker)
    log.close()


def test_settings_fall_back_to_sqlite_filesystem_broker_and_file_cache(
    fresh_machine: dict[str, str],
) -> None:
    result = python(
        fresh_machine,
        "import json; from django.conf import settings as s\n"
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, "
        "s.CACHES['default']['BACKEND'], str(s.DATABASES['default']['NAME'])]))",
    )
    assert result.returncode == 0, result.stderr
    engine, broker, cache, name = json.loads(result.stdout)
    assert engine == "django.db.backends.sqlite3"
    assert broker == "userdesk-filesystem://"
    assert cache.endswith("FileBasedCache")
    assert name.startswith(fresh_machine["USERDESK_VAR_DIR"])


def test_a_real_worker_runs_a_task_through_the_filesystem_broker(
    fresh_machine: dict[str, str], embedded_worker: subprocess.Popen[str], tmp_path: Path
) -> None:
    # celery_ping sends ops.ping from its own process and waits for the worker's answer in the
    # shared file cache; the worker read the database to give it, and wrote no audit event.
    result = manage(fresh_machine, "celery_ping", "--timeout", "60")
    log = (tmp_path / "worker.log").read_text()
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert "A worker answered ping" in result.stdout

    with sqlite3.connect(Path(fresh_machine["USERDESK_VAR_DIR"]) / "userdesk.sqlite3") as db:
        (pings,) = db.execute(
            "SELECT count(*) FROM staff_auditevent WHERE action = 'worker.ping'"
        ).fetchone()
    assert pings == 0
    assert embedded_worker.poll() is None, "the worker died"
    assert "ops.ping" in log


def test_celery_ping_fails_clearly_when_no_worker_runs(fresh_machine: dict[str, str]) -> None:
    result = manage(fresh_machine, "celery_ping", "--timeout", "1")
    assert result.returncode == 1
    assert "No worker ran ping" in result.stderr
    assert "within 1 s" in result.stderr


def test_a_worker_knows_every_task_beat_sends(tmp_path: Path) -> None:
    # What a starting worker imports (each app's tasks.py and CELERY_IMPORTS), in a fresh process:
    # a task that lives outside a tasks.py module is known there too. Without the system checks,
    # whose URL check imports every view (and so the modules the views import) in passing.
    result = python(
        embedded_env(tmp_path, CELERY_SKIP_CHECKS="1"),
        "import json; from django.conf import settings; from config.celery import app\n"
        "app.loader.import_default_modules()\n"
        "beat = {entry['task'] for entry in settings.CELERY_BEAT_SCHEDULE.values()}\n"
        "print(json.dumps([sorted(beat), sorted(beat - set(app.tasks))]))",
    )
    assert result.returncode == 0, result.stderr
    beat, unknown = json.loads(result.stdout)
    assert "exports.scheduling.run_due_schedules" in beat
    assert unknown == []
