"""One deadline per request, for every app (management_api.middleware): the Management API calls
of one page share AUTH0_DEADLINE_SECONDS, on the exports pages as on the user pages. Against
the sandbox server answering every call 503 with a Retry-After, so a call retries until its
deadline: how often each call was sent says whose deadline it had."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

import management_api
from tests.fixtures.sandbox import SandboxServer

FAILED = re.compile(r"GET (/api/v2/\S+) failed after (\d+) attempt")


@pytest.fixture
def failing_upstream(use_sandbox: SandboxServer, settings: Any, fresh_cache: Any) -> SandboxServer:
    # A cache of its own: under Redis, the connections an earlier test's page read from the
    # same sandbox would spare the builder the call this test fails.
    settings.AUTH0_MAX_RETRIES = 1000
    settings.AUTH0_DEADLINE_SECONDS = 4.0
    management_api.search_users("", per_page=1)  # the token is fetched before the faults
    use_sandbox.set_faults(error_share=1)
    return use_sandbox


def test_the_export_builders_calls_share_one_deadline(
    failing_upstream: SandboxServer, admin_client_: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The builder asks for the connections, then samples users' metadata: the first call
    retries until the request's deadline, so each later call is sent once (on a deadline of
    its own it would be retried as often as the first)."""
    caplog.set_level("WARNING", logger="management_api")
    page = admin_client_.get("/t/userdesk-sandbox/exports/new/")
    assert page.status_code == 200
    failed = [(m[1], int(m[2])) for m in map(FAILED.search, caplog.messages) if m]
    assert failed[0][0] == "/api/v2/connections"
    assert failed[0][1] >= 2, failed
    assert len(failed) >= 2, failed
    assert all(attempts == 1 for _, attempts in failed[1:]), failed
