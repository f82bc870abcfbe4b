"""Settings: DEBUG is off unless asked for, and a short SECRET_KEY stops production."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.processes import ROOT, embedded_env, manage, python

PRODUCTION_UPSTREAM = {
    "AUTH0_DOMAIN": "acme.eu.auth0.com",
    "AUTH0_CLIENT_ID": "a-client-id",
    "AUTH0_CLIENT_SECRET": "a-client-secret",
    "ALLOWED_HOSTS": "userdesk.example.com",
}


def without_debug(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = embedded_env(tmp_path, **PRODUCTION_UPSTREAM, **extra)
    env.pop("DEBUG", None)
    return env


def test_debug_is_off_unless_set(tmp_path: Path) -> None:
    env = without_debug(tmp_path, SECRET_KEY=secrets.token_urlsafe(50))
    result = python(env, "from django.conf import settings; print(settings.DEBUG)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "key", ["", "short-key", "a" * 60, secrets.token_urlsafe(20)], ids=["unset", "9", "same", "27"]
)
def test_a_short_or_plain_secret_key_with_debug_off_is_an_error(tmp_path: Path, key: str) -> None:
    result = manage(without_debug(tmp_path, SECRET_KEY=key), "check")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last
    assert "SECRET_KEY" in last
    assert "at least 50" in last


def test_a_long_secret_key_with_debug_off_starts(tmp_path: Path) -> None:
    result = manage(without_debug(tmp_path, SECRET_KEY=secrets.token_urlsafe(50)), "check")
    assert result.returncode == 0, result.stderr


def test_make_run_asks_for_development_mode_itself(tmp_path: Path) -> None:
    env = without_debug(tmp_path)
    made = subprocess.run(
        ["make", "-s", "--no-print-directory", "demo-env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "DEBUG=true" in made.stdout.splitlines()


def test_a_sqlite_database_url_gets_the_embedded_database_s_options(tmp_path: Path) -> None:
    # WAL, the write lock taken when a transaction begins, a 20 s wait: without them a second
    # process writing beside `make run` failed at once with "database is locked".
    env = embedded_env(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    shown = (
        "from django.conf import settings; from django.db import connection; "
        "o = settings.DATABASES['default']['OPTIONS']; "
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
        "print(o['transaction_mode'], o['timeout'], c.fetchone()[0])"
    )
    result = python(env, shown)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "IMMEDIATE 20 wal"
