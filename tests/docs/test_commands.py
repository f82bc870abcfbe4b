"""The `uv run python manage.py ...` commands the README and the docs show work as written on a
fresh machine (no DATABASE_URL, no REDIS_URL, var/ in a temporary folder): each command below is
read from the docs, run through a shell exactly as printed there, and must succeed. A laptop's
command is printed `DEBUG=true uv run ...` and runs with no DEBUG in the environment, as a
newcomer's shell has none; the operator guide's run in a deployment's environment (here a
laptop's, DEBUG=true). Commands that need a placeholder filled in, a password typed, a running
worker or that write into the checkout (collectstatic, makemigrations) are not run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.processes import ROOT, embedded_env

pytestmark = pytest.mark.slow

COMMAND = re.compile(r"(?:DEBUG=true )?uv run python manage\.py [^`\n#]*[^`\n#\s]")
# The commands run as written; each must be in the docs.
RUN = (
    "uv run python manage.py migrate",
    "uv run python manage.py add_staff lee@example.com --role support-lead --generate-password",
    "uv run python manage.py add_staff sam@example.com --role export-admin --generate-password",
    "uv run python manage.py axes_reset",
    "DEBUG=true uv run python manage.py sandbox_seed --users 200 --seed 3",
    "DEBUG=true uv run python manage.py sandbox_faults --show",
    "DEBUG=true uv run python manage.py sandbox_faults --set error_share=0.2 latency_ms=50",
    "DEBUG=true uv run python manage.py sandbox_faults --reset",
    "DEBUG=true uv run python manage.py sandbox_cases",
)


def documented() -> set[str]:
    texts = [(ROOT / "README.md").read_text()]
    texts += [page.read_text() for page in sorted((ROOT / "docs").rglob("*.md"))]
    # A command wrapped across two lines of prose reads "uv run\npython manage.py ...".
    return {command for text in texts for command in COMMAND.findall(text.replace("run\n", "run "))}


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
def test_documented_commands_work_as_written_on_a_fresh_machine(tmp_path: Path) -> None:
    docs = documented()
    missing = [command for command in RUN if command not in docs]
    assert missing == [], f"no longer in the docs: {missing}"
    deployment = embedded_env(tmp_path)
    laptop = {key: value for key, value in deployment.items() if key != "DEBUG"}
    outputs = {}
    for command in RUN:
        env = laptop if command.startswith("DEBUG=true ") else deployment
        done = subprocess.run(
            command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        outputs[command] = done.stdout
    assert re.search(r"^Password: \S{12,}$", outputs[RUN[1]], re.M), outputs[RUN[1]]
    assert '"case": "Blocked by brute-force protection"' in outputs[RUN[-1]]
