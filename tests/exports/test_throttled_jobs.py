"""Concurrent export jobs of the sandbox, paced by the `job_rows_per_second` switch,
all complete (they failed with "database is locked" when one job's progress write met another
job's open read of the users)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fixtures.sandbox import SandboxServer, make_sandbox_server

JOBS = 4
# More users than the writer reads in one batch, so its read of the users stays open while
# the job reports progress.
USERS = 5_000


@pytest.fixture(scope="module")
def big_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = make_sandbox_server(tmp_path_factory.mktemp("sandbox-5k"), users=USERS)
    try:
        yield server
    finally:
        server.stop()


def test_concurrent_throttled_export_jobs_all_complete(big_sandbox: SandboxServer) -> None:
    sandbox = big_sandbox
    # 5,000 rows at 2,500 a second: each job reads for about 2 s, reporting progress meanwhile.
    sandbox.set_faults(job_rows_per_second=2_500, rate_limit_plan="off")
    with sandbox.api() as api:
        ids = []
        for number in range(JOBS):
            response = api.post(
                "/api/v2/jobs/users-exports",
                json={"format": "json" if number % 2 else "csv", "fields": [{"name": "email"}]},
            )
            assert response.status_code == 200, response.text
            ids.append(response.json()["id"])
        deadline = time.monotonic() + 120
        jobs: dict[str, dict[str, object]] = {}
        while time.monotonic() < deadline:
            answers = {job_id: api.get(f"/api/v2/jobs/{job_id}") for job_id in ids}
            assert all(answer.status_code == 200 for answer in answers.values())
            jobs = {job_id: answer.json() for job_id, answer in answers.items()}
            if all(job["status"] in ("completed", "failed") for job in jobs.values()):
                break
            time.sleep(0.2)
    details = {job_id: job.get("status_details") for job_id, job in jobs.items()}
    assert [job["status"] for job in jobs.values()] == ["completed"] * JOBS, details
