"""What `make run` starts: the Procfile under honcho, on a fresh machine, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import ROOT, embedded_env, free_port, manage

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


# Deadlines for a loaded 2-core CI machine: honcho starts four Django processes at once next
# to the other pytest workers, so start-up and the first requests can take far longer than on
# an idle machine. They only bound how long a broken start takes to be reported.
START_SECONDS = 300
REQUEST_SECONDS = 60


def wait_for_status(url: str, expected: int, timeout: float = START_SECONDS) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            # A short per-request timeout would abandon slow first requests and send new ones,
            # which pile up in the threaded runserver and slow it down further.
            response = httpx.get(url, timeout=REQUEST_SECONDS)
        except httpx.TransportError as exc:
            last = exc
        else:
            if response.status_code == expected:
                return response
            last = response.status_code
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer {expected} within {timeout} s (last: {last})")


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def demo_env(**make_variables: str) -> dict[str, str]:
    """What `make run` adds to its processes' environment (the two sandbox tenants)."""
    assignments = [f"{name}={value}" for name, value in make_variables.items()]
    made = subprocess.run(
        ["make", "-s", "--no-print-directory", "demo-env", *assignments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in made.stdout.splitlines())


@pytest.fixture
def procfile_env(tmp_path: Path) -> dict[str, str]:
    ports = {
        "PORT_WEB": str(free_port()),
        "SANDBOX_PORT": str(free_port()),
        "SANDBOX_STAGING_PORT": str(free_port()),
    }
    var = str(tmp_path / "var")
    env = embedded_env(
        tmp_path,
        **{**ports, **demo_env(**ports, USERDESK_VAR_DIR=var)},
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    prepared = manage(env, "prepare_demo", "--seed-users", "20", timeout=START_SECONDS)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert "Email:    staging@userdesk.local" in prepared.stdout  # Support on staging alone
    return env


@pytest.fixture
def honcho(procfile_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "honcho.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "honcho"), "--procfile", "Procfile", "start"],
        cwd=ROOT,
        env=procfile_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:  # the test failed before stopping it
        # honcho stops its children (each in a session of its own) on SIGTERM.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    log.close()


def test_procfile_starts_web_worker_beat_and_sandbox_and_sigterm_stops_them(
    procfile_env: dict[str, str], honcho: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    web = f"http://127.0.0.1:{procfile_env['PORT_WEB']}"
    sandbox = f"http://127.0.0.1:{procfile_env['SANDBOX_PORT']}"

    health = wait_for_status(f"{web}/healthz", 200)
    assert health.json()["status"] == "ok"
    assert "Sign in" in wait_for_status(f"{web}/sign-in/", 200).text
    # The sandbox answers like Auth0: no token, no users.
    wait_for_status(f"{sandbox}/api/v2/users", 401)
    # `make run` starts two sandbox tenants, production and staging, each with its own users.
    staging = f"http://127.0.0.1:{procfile_env['SANDBOX_STAGING_PORT']}"
    wait_for_status(f"{staging}/api/v2/users", 401)
    colours = wait_for_status(f"{web}/tenants.css", 200).text
    assert ".tenant-production {" in colours
    assert ".tenant-staging {" in colours
    var = Path(procfile_env["USERDESK_VAR_DIR"])
    with sqlite3.connect(var / "sandbox-staging.sqlite3") as db:
        (staging_users,) = db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()
    assert staging_users == 6  # 3/10 of production's 20, from another seed
    # The worker under honcho runs tasks.
    ping = manage(
        procfile_env, "celery_ping", "--timeout", str(START_SECONDS), timeout=START_SECONDS + 60
    )
    assert ping.returncode == 0, ping.stderr + (tmp_path / "honcho.log").read_text()

    honcho.send_signal(signal.SIGTERM)
    assert honcho.wait(timeout=120) is not None
    log = (tmp_path / "honcho.log").read_text()
    for name in ("web", "worker", "beat", "sandbox", "sandbox-staging"):
        assert f"{name}.1 stopped" in log, log
    assert port_is_closed(int(procfile_env["PORT_WEB"]))
    assert port_is_closed(int(procfile_env["SANDBOX_PORT"]))
    assert port_is_closed(int(procfile_env["SANDBOX_STAGING_PORT"]))
    # beat keeps its schedule in the var folder, not in the checkout.
    assert any(Path(procfile_env["USERDESK_VAR_DIR"]).glob("celerybeat-schedule*"))
