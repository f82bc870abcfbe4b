"""What `make run` starts: the Procfile under honcho, on a fresh machine, stopped by SIGTERM."""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

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


def sandbox_rate_plans(env: dict[str, str]) -> dict[str, str]:
    """The rate-limit plan each of `make run`'s sandbox processes enforces: production's from
    the environment `make run` gives its processes, staging's from STAGING_SANDBOX_ENV on top
    (the Procfile's `env ...`); unset, the sandbox's default, `paid` (sandbox/settings.py)."""
    staging = dict(word.split("=", 1) for word in env["STAGING_SANDBOX_ENV"].split())
    production = env.get("SANDBOX_RATE_LIMIT_PLAN", "paid")
    return {"production": production, "staging": staging.get("SANDBOX_RATE_LIMIT_PLAN", production)}


def test_each_demo_sandbox_enforces_the_limits_its_tenant_is_paced_at() -> None:
    """A bulk run's preview predicts its pace from the tenant's plan (AUTH0_TENANT_<X>_PLAN); the
    sandbox answering for that tenant must limit the run's calls (a read and a write of a user)
    the same way, or the run goes at the sandbox's pace, not the one predicted (the production
    sandbox on `paid`, Essentials' 200 writes a minute, under an Enterprise tenant's 16/s: 3.3
    users a second for 5.6 predicted)."""
    from management_api import pacing
    from sandbox import ratelimit

    env = demo_env()
    for slug, sandbox_plan in sandbox_rate_plans(env).items():
        prefix = f"AUTH0_TENANT_{slug.upper()}_"
        plan = pacing.rate_plan(env[f"{prefix}PLAN"], env[f"{prefix}ENVIRONMENT"])
        limits = ratelimit.PLANS[sandbox_plan]
        for method, group in (("GET", "users_read"), ("PATCH", "users_write")):
            paced = pacing.rate_for(plan, pacing.bucket_for(method, "/users/auth0|1", plan))
            bucket = group if group in limits else "global" if "global" in limits else "other"
            enforced = limits[bucket]
            assert (enforced.burst, enforced.per_minute) == (paced.burst, paced.per_minute), (
                slug,
                method,
                sandbox_plan,
                plan,
            )


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
        (seeded,) = db.execute(
            "SELECT count(*) FROM sandbox_tenantuser WHERE id <= "
            "(SELECT value FROM sandbox_tenantmeta WHERE key = 'seeded_pk')"
        ).fetchone()
        (every,) = db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()
    assert seeded == 6  # 3/10 of production's 20, from another seed
    assert every > seeded  # and a few of production's addresses (prepare_demo's _same_people)
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


def found_in(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    assert found, text
    return found[1]


def password(printed: str, who: str) -> str:
    """The generated password `make run` printed for `who`@userdesk.local."""
    return found_in(rf"Email:    {who}@userdesk.local\n    Password: (\S+)", printed)


def signed_in_client(web: str, email: str, password: str) -> httpx.Client:
    """A browser-like client of the running web process, signed in through the sign-in form."""
    client = httpx.Client(base_url=web, timeout=REQUEST_SECONDS)
    form = client.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text
    fields = {"csrfmiddlewaretoken": token[1], "username": email, "password": password}
    done = client.post("/sign-in/", data=fields, headers={"Referer": f"{web}/sign-in/"})
    assert done.status_code == 302, done.text
    return client


def test_make_run_as_a_newcomer_tries_it_and_ctrl_c_stops_it_cleanly(
    tmp_path: Path,
) -> None:
    ports = {
        name: str(free_port()) for name in ("PORT_WEB", "SANDBOX_PORT", "SANDBOX_STAGING_PORT")
    }
    env = embedded_env(tmp_path, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    log_path = tmp_path / "make.log"
    with log_path.open("wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "run", *(f"{k}={v}" for k, v in ports.items())],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    web = f"http://127.0.0.1:{ports['PORT_WEB']}"
    try:
        wait_for_status(f"{web}/healthz", 200)
        wait_for_status(f"http://127.0.0.1:{ports['SANDBOX_STAGING_PORT']}/api/v2/users", 401)
        deadline = time.monotonic() + START_SECONDS
        while "celery@" not in log_path.read_text() or " ready." not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.25)
        printed = log_path.read_text()

        # `make run` prints a user page for each support case the sandbox seeds: each opens.
        cases = printed.split("A user for each support case on Production (sandbox):\n")[1]
        links = re.findall(r"^  (\S.*?)\s+(http://\S+)$", cases, re.M)
        labels = [label for label, _ in links]
        for expected in (
            "Blocked by brute-force protection",
            "Email not verified",
            "Several MFA methods",
            "Never signed in",
            "No email address",
            "Google (social)",
            "Enterprise SSO (SAML)",
            "Blocked by an admin",
        ):
            assert expected in labels, cases
        client = signed_in_client(web, "lead@userdesk.local", password(printed, "lead"))
        for label, link in links:
            assert link.startswith(f"{web}/t/production/users/"), link
            page = client.get(link)
            assert page.status_code == 200, (label, link)
            user_id = unquote(link.rsplit("/users/", 1)[1].rstrip("/"))
            assert html.escape(user_id) in page.text, (label, link)

        # The two tenants as a newcomer tries them on what `make run` printed: the lookup across
        # tenants, production's delete guard, a staging-only member and a staging link's colour.
        shared = found_in(r"finds each\): ([^,\s]+)", printed)
        found = client.get(
            "/t/production/lookup/", params={"email": shared, "every_tenant": "on"}
        ).text
        production, staging = found.split('id="tenant-lookup-staging"')
        assert 'id="tenant-lookup-production"' in production
        assert re.search(r'href="/t/production/users/auth0%7C\w+/"', production)
        assert re.search(r'href="/t/staging/users/auth0%7C\w+/"', staging)
        colleague_link = found_in(r'href="(/t/staging/users/auth0%7C\w+/)"', staging)
        delete = client.get(links[0][1].replace("/users/", "/actions/delete/")).text
        assert "Type the tenant&#x27;s name, Production (sandbox), to confirm" in delete
        client.close()
        staging_only = signed_in_client(web, "staging@userdesk.local", password(printed, "staging"))
        assert staging_only.get("/").headers["location"] == "/t/staging/"
        assert staging_only.get("/t/production/users/").status_code == 403
        colleague = staging_only.get(colleague_link).text
        assert 'class="tenant-band tenant-staging"' in colleague  # staging's colour
        assert shared in colleague
        staging_only.close()

        # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=120)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=60)
    out = log_path.read_text()
    for name in ("web", "worker", "beat", "sandbox", "sandbox-staging"):
        assert f"{name}.1 stopped" in out, out
    assert "ERROR" not in out, out
    assert "SIGKILL" not in out, out
    assert "make: ***" not in out, out
    for port in ports.values():
        assert port_is_closed(int(port))
