"""Operations, in real processes: production checks, settings errors, /healthz, prepare_demo."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from tests.fixtures.processes import ROOT, embedded_env, free_port, manage, production_env, python

# --- Production settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preload", "silenced"),
    [
        # axes.W006 (no address in the lockout parameters) is answered in config/settings.py;
        # security.W021 (no HSTS preload) too while preloading is not chosen.
        ("false", 2),
        ("true", 1),
    ],
)
def test_check_deploy_is_clean_with_production_settings(
    tmp_path: Path, preload: str, silenced: int
) -> None:
    env = production_env(tmp_path, SECURE_HSTS_PRELOAD=preload)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"System check identified no issues ({silenced} silenced)." in result.stdout


def test_hsts_preload_is_opt_in(tmp_path: Path) -> None:
    script = "from django.conf import settings as s; print(s.SECURE_HSTS_PRELOAD)"
    assert python(production_env(tmp_path), script).stdout.strip() == "False"
    opted_in = production_env(tmp_path, SECURE_HSTS_PRELOAD="true")
    assert python(opted_in, script).stdout.strip() == "True"


def test_production_refuses_the_bundled_sandbox_unless_told(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    for name in ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"):
        env.pop(name)
    refused = manage(env, "check")
    assert refused.returncode != 0
    last = refused.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in last
    assert "ALLOW_SANDBOX_IN_PRODUCTION" in last
    demo = manage(production_env(tmp_path, OIDC_SANDBOX="true"), "check")
    assert demo.returncode != 0
    assert "ALLOW_SANDBOX_IN_PRODUCTION" in demo.stderr
    allowed = manage({**env, "ALLOW_SANDBOX_IN_PRODUCTION": "true"}, "check")
    assert allowed.returncode == 0, allowed.stderr


def test_healthz_answers_plain_http_behind_the_tls_proxy(tmp_path: Path) -> None:
    result = python(
        production_env(tmp_path),
        "import json; from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='userdesk.example.com')\n"
        "h = c.get('/healthz'); p = c.get('/sign-in/')\n"
        "print(json.dumps([h.status_code, p.status_code, p.get('Location')]))",
    )
    assert result.returncode == 0, result.stderr
    health, page, location = json.loads(result.stdout.strip().splitlines()[-1])
    assert health == 200
    assert page == 301
    assert location == "https://userdesk.example.com/sign-in/"


def test_the_500_page_renders_before_collectstatic(tmp_path: Path) -> None:
    # DEBUG off: static URLs come from collectstatic's manifest, which does not exist yet.
    result = python(
        production_env(tmp_path),
        "from django.test import RequestFactory\n"
        "from staff.views import server_error\n"
        "r = server_error(RequestFactory().get('/', HTTP_HOST='userdesk.example.com'))\n"
        "print(r.status_code); print(r.content.decode())",
    )
    assert result.returncode == 0, result.stderr
    status, _, html = result.stdout.partition("\n")
    assert status == "500"
    assert "Something went wrong on our side" in html


def test_production_settings_are_secure(tmp_path: Path) -> None:
    result = python(
        production_env(tmp_path),
        "import json; from django.conf import settings as s\n"
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT,"
        " s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS, s.DEBUG]))",
    )
    assert result.returncode == 0, result.stderr
    session_secure, csrf_secure, ssl_redirect, hsts, frame, debug = json.loads(result.stdout)
    assert session_secure
    assert csrf_secure
    assert ssl_redirect
    assert hsts >= 31536000
    assert frame == "DENY"
    assert debug is False


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "sometimes"}, "DEBUG"),
        ({"REDIS_URL": "http://127.0.0.1:6379/0"}, "REDIS_URL"),
        ({"AXES_FAILURE_LIMIT": "five"}, "AXES_FAILURE_LIMIT"),
    ],
)
def test_malformed_settings_fail_naming_the_variable(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    result = manage(embedded_env(tmp_path, **variables), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr.strip().splitlines()[-1]


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_reports_every_dependency(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }


def test_healthz_answers_503_when_redis_is_unreachable(tmp_path: Path) -> None:
    # A port nobody listens on: both the Redis cache and the Redis broker are down.
    env = embedded_env(
        tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", ALLOWED_HOSTS="testserver"
    )
    result = python(
        env,
        "import json; from django.test import Client\n"
        "r = Client().get('/healthz'); print(json.dumps([r.status_code, r.json()]))",
    )
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == 503
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("error: ")
    assert body["checks"]["broker"].startswith("error: ")


# --- prepare_demo -------------------------------------------------------------------------------


def test_prepare_demo_migrates_prints_a_sign_in_once_and_seeds(tmp_path: Path) -> None:
    env = embedded_env(tmp_path, OIDC_SANDBOX="true")  # as `make run` sets it
    first = manage(env, "prepare_demo", "--seed-users", "25", "--url", "http://127.0.0.1:8123")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Email:    demo@userdesk.local" in first.stdout
    assert "URL:      http://127.0.0.1:8123/sign-in/" in first.stdout
    assert 'Or "Sign in with Auth0 (sandbox)" at http://127.0.0.1:8123/sign-in/ as:' in first.stdout
    assert re.search(r"exports@userdesk.local +Export admin, Support", first.stdout)
    assert re.search(r"visitor@userdesk.local +no role: refused", first.stdout)
    match = re.search(r"Password: (\S+)", first.stdout)
    assert match
    password = match.group(1)

    with sqlite3.connect(tmp_path / "var" / "userdesk.sqlite3") as db:
        row = db.execute(
            "SELECT u.password, g.name FROM auth_user u "
            "JOIN auth_user_groups ug ON ug.user_id = u.id "
            "JOIN auth_group g ON g.id = ug.group_id WHERE u.username = ?",
            ["demo@userdesk.local"],
        ).fetchone()
    encoded, group = row
    assert group == "Export admin"
    assert PBKDF2PasswordHasher().verify(password, encoded)
    # Two Support leads: one asks for a bulk run, the other approves it (never their own).
    for lead in ("lead@userdesk.local", "approver@userdesk.local"):
        assert f"Email:    {lead}" in first.stdout
        with sqlite3.connect(tmp_path / "var" / "userdesk.sqlite3") as db:
            (lead_group,) = db.execute(
                "SELECT g.name FROM auth_user u JOIN auth_user_groups ug ON ug.user_id = u.id "
                "JOIN auth_group g ON g.id = ug.group_id WHERE u.username = ?",
                [lead],
            ).fetchone()
        assert lead_group == "Support lead"

    second = manage(env, "prepare_demo", "--seed-users", "25")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Password:" not in second.stdout
    assert "Staff accounts exist" in second.stdout

    # The sandbox's own command seeded its own database (under sandbox.settings), once.
    with sqlite3.connect(tmp_path / "var" / "sandbox.sqlite3") as db:
        (users,) = db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()
    assert users == 25
    assert "Seeded 25 users" in first.stdout
    assert "already has users" in second.stdout


# --- add_staff at a terminal -------------------------------------------------------------------


def read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    """Read a pseudo-terminal until `marker` shows up (or the child closes it)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {marker!r} within {timeout} s; got {seen!r}"
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_add_staff_prompts_for_the_password_at_a_terminal(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    assert manage(env, "migrate", "-v", "0").returncode == 0
    argv = [sys.executable, "manage.py", "add_staff", "tty@example.com", "--role", "support"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a real terminal on stdin, as when a person runs the command
        os.chdir(ROOT)
        os.execve(sys.executable, argv, env)
    try:
        read_until(fd, b"Password: ")
        os.write(fd, b"typed at the terminal 42\n")
        read_until(fd, b"Password (again): ")
        os.write(fd, b"typed at the terminal 42\n")
        output = read_until(fd, b"\x00never")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b"Created tty@example.com with the support role." in output
    assert b"typed at the terminal" not in output  # getpass does not echo

    with sqlite3.connect(tmp_path / "var" / "userdesk.sqlite3") as db:
        (encoded,) = db.execute(
            "SELECT password FROM auth_user WHERE username = 'tty@example.com'"
        ).fetchone()
    assert PBKDF2PasswordHasher().verify("typed at the terminal 42", encoded)
