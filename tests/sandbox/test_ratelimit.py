"""The sandbox's rate limits per Auth0 plan: buckets, headers, 429s and the tenant log events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures.sandbox import SandboxServer


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset_faults()
    yield sandbox_server
    sandbox_server.reset_faults()


def _until_refused(api: httpx.Client, path: str, most: int = 200) -> list[httpx.Response]:
    """Calls until the first 429 (quick calls empty a bucket however slow the machine is)."""
    responses: list[httpx.Response] = []
    while len(responses) < most and not any(r.status_code == 429 for r in responses):
        responses.append(api.get(path))
    return responses


def _log_events(sandbox: SandboxServer, kind: str) -> list[dict[str, Any]]:
    """The tenant's `kind` events (the sandbox's log outlives a test: compare before/after)."""
    plan = sandbox.faults()["rate_limit_plan"]
    sandbox.set_faults(rate_limit_plan="off")
    with sandbox.api() as api:
        response = api.get("/api/v2/logs", params={"q": f"type:{kind}", "per_page": 100})
    sandbox.set_faults(rate_limit_plan=plan)
    assert response.status_code == 200, response.text
    return list(response.json())


def _new_events(
    sandbox: SandboxServer, kind: str, before: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    seen = {event["log_id"] for event in before}
    return [event for event in _log_events(sandbox, kind) if event["log_id"] not in seen]


@pytest.mark.parametrize(
    ("plan", "path", "limit"),
    [
        ("essentials", "/api/v2/connections", 5),
        ("essentials", "/api/v2/users/auth0|nobody", 40),
        ("professional", "/api/v2/jobs/job_AAAAAAAAAAAAAAAA", 10),
        ("enterprise", "/api/v2/connections", 50),
        ("enterprise_nonprod", "/api/v2/users/auth0|nobody", 10),
        ("free", "/api/v2/connections", 2),
        ("paid", "/api/v2/connections", 20),
    ],
)
def test_each_plan_has_auth0s_bucket_sizes(
    sandbox: SandboxServer, plan: str, path: str, limit: int
) -> None:
    sandbox.set_faults(rate_limit_plan=plan)
    with sandbox.api() as api:
        response = api.get(path)
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert int(response.headers["X-RateLimit-Remaining"]) == limit - 1


def test_essentials_buckets_are_per_endpoint_group(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_plan="essentials")
    with sandbox.api() as api:
        refused = _until_refused(api, "/api/v2/connections")
        # Read Connections is empty; Read Users and the rest are not touched by it.
        users = api.get("/api/v2/users/auth0|nobody")
    assert refused[-1].status_code == 429
    assert refused[-1].json() == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "Global per second connections group limit has been reached",
        "errorCode": "too_many_requests",
    }
    assert int(refused[-1].headers["Retry-After"]) >= 1
    assert users.status_code == 404
    assert users.headers["X-RateLimit-Limit"] == "40"


def test_enterprise_is_one_bucket_for_the_tenant(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_plan="enterprise_nonprod")
    with sandbox.api() as api:
        refused = _until_refused(api, "/api/v2/connections")
        users = _until_refused(api, "/api/v2/users/auth0|nobody")
    assert refused[-1].status_code == 429
    assert refused[-1].json()["message"] == "Global limit has been reached"
    # Burst 10 refilled at 2/s: users share the empty bucket, so they are refused after what
    # refilled meanwhile (a token or two on a slow machine), not after a burst of their own.
    assert users[-1].status_code == 429
    assert len(users) <= 3, [r.status_code for r in users]
    assert users[-1].headers["X-RateLimit-Limit"] == "10"


def test_a_bucket_80_percent_used_writes_api_limit_warning_once(sandbox: SandboxServer) -> None:
    before = _log_events(sandbox, "api_limit_warning")
    sandbox.set_faults(rate_limit_plan="essentials")
    with sandbox.api() as api:
        # Read Connections holds 5 tokens: the 4th call leaves 1 (80% used).
        statuses = [api.get("/api/v2/connections").status_code for _ in range(5)]
    assert statuses[:4] == [200] * 4

    warnings = _new_events(sandbox, "api_limit_warning", before)
    assert len(warnings) == 1, warnings
    event = warnings[0]
    assert event["type"] == "api_limit_warning"
    assert event["user_id"] is None
    assert event["details"] == {
        "api": "management",
        "bucket": "connections",
        "limit": 5,
        "remaining": int(str(event["details"]["remaining"])),
    }
    assert int(str(event["details"]["remaining"])) <= 1
    assert str(event["description"]).startswith("The limit of requests")


def test_an_exceeded_bucket_writes_api_limit(sandbox: SandboxServer) -> None:
    before = _log_events(sandbox, "api_limit")
    sandbox.set_faults(rate_limit_plan="free")
    with sandbox.api() as api:
        refused = _until_refused(api, "/api/v2/connections")
        refused += _until_refused(api, "/api/v2/connections")
    assert refused[-1].status_code == 429
    limits = _new_events(sandbox, "api_limit", before)
    # Once a minute per bucket, however many calls were refused.
    assert len(limits) == 1, limits
    assert limits[0]["details"]["bucket"] == "global"


def test_plan_off_writes_no_rate_limit_events(sandbox: SandboxServer) -> None:
    before = _log_events(sandbox, "api_limit_warning")
    sandbox.set_faults(rate_limit_plan="off")
    with sandbox.api() as api:
        for _ in range(30):
            api.get("/api/v2/connections")
    assert _new_events(sandbox, "api_limit_warning", before) == []


def test_plans_are_listed_when_a_bad_one_is_set(sandbox: SandboxServer) -> None:
    with httpx.Client(
        base_url=sandbox.base_url, auth=(sandbox.client_id, sandbox.client_secret)
    ) as admin:
        response = admin.put("/sandbox/faults", json={"rate_limit_plan": "gold"})
    assert response.status_code == 400
    for plan in ("essentials", "professional", "enterprise", "enterprise_nonprod", "paid", "off"):
        assert plan in response.json()["message"]
