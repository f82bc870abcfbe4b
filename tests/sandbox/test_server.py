"""The sandbox server as a process: error shapes, rate limits, fault switches, connections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.fixtures.sandbox import SEEDED_CONNECTIONS, SandboxServer


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxServer]:
    sandbox_server.reset_faults()
    yield sandbox_server
    sandbox_server.reset_faults()


def test_unknown_url_is_auth0_shaped_404(sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.base_url}/api/v2/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


def test_dashboard_urls_are_not_served(sandbox: SandboxServer) -> None:
    assert httpx.get(f"{sandbox.base_url}/users/").status_code == 404
    assert httpx.get(f"{sandbox.base_url}/healthz").status_code == 404


# --- rate limits -----------------------------------------------------------------------------


def _sent_at(response: httpx.Response) -> int:
    """The server's clock when it answered (epoch seconds, from the Date header)."""
    return int(parsedate_to_datetime(response.headers["Date"]).timestamp())


def test_every_answer_carries_rate_limit_headers(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        first = api.get("/api/v2/connections")
        second = api.get("/api/v2/connections")
    unauthenticated = httpx.get(f"{sandbox.base_url}/api/v2/connections")

    for response in (first, second, unauthenticated):
        assert response.headers["X-RateLimit-Limit"] == "20"
        assert int(response.headers["X-RateLimit-Reset"]) >= _sent_at(response)
        # Every call takes a token (refills are 2 a second, so never back to the full 20).
        assert int(response.headers["X-RateLimit-Remaining"]) <= 19


def test_free_plan_answers_429_with_auth0_body_and_retry_after(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_plan="free")
    responses: list[httpx.Response] = []
    with sandbox.api() as api:
        # Burst 2, refilled at 2/s: a quick run of calls empties it (however slow the machine).
        while len(responses) < 100 and not any(r.status_code == 429 for r in responses):
            responses.append(api.get("/api/v2/connections"))

    limited = [r for r in responses if r.status_code == 429]
    assert limited, [r.status_code for r in responses]
    assert responses[0].status_code == 200
    assert responses[0].headers["X-RateLimit-Limit"] == "2"
    refused = limited[0]
    assert refused.json() == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "Global limit has been reached",
        "errorCode": "too_many_requests",
    }
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
    assert int(refused.headers["X-RateLimit-Reset"]) > _sent_at(refused)


def test_groups_have_separate_buckets(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        for _ in range(3):
            api.get("/api/v2/connections")
        connections = api.get("/api/v2/connections")
        jobs = api.get("/api/v2/jobs/job_AAAAAAAAAAAAAAAA")
    assert connections.headers["X-RateLimit-Limit"] == "20"
    assert jobs.headers["X-RateLimit-Limit"] == "10"
    assert jobs.headers["X-RateLimit-Remaining"] == "9"


def test_honouring_retry_after_gets_through_again(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_plan="free")
    with sandbox.api() as api:
        response = api.get("/api/v2/connections")
        for _ in range(100):
            if response.status_code == 429:
                break
            response = api.get("/api/v2/connections")
        assert response.status_code == 429
        deadline = time.monotonic() + 10
        while response.status_code == 429 and time.monotonic() < deadline:
            time.sleep(float(response.headers["Retry-After"]))
            response = api.get("/api/v2/connections")
    assert response.status_code == 200


def test_plan_off_never_limits(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_plan="off")
    with sandbox.api() as api:
        statuses = {api.get("/api/v2/connections").status_code for _ in range(30)}
    assert statuses == {200}


# --- fault switches ----------------------------------------------------------------------------


def test_forced_429_share(sandbox: SandboxServer) -> None:
    sandbox.set_faults(rate_limit_share=1)
    with sandbox.api() as api:
        response = api.get("/api/v2/connections")
    assert response.status_code == 429
    assert response.json()["errorCode"] == "too_many_requests"
    assert response.headers["Retry-After"] == "1"
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_forced_server_error_share(sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_share=1)
    with sandbox.api() as api:
        responses = [api.get("/api/v2/connections") for _ in range(8)]
    assert {r.status_code for r in responses} <= {500, 503}
    assert responses[0].json()["statusCode"] == responses[0].status_code
    assert "X-RateLimit-Limit" in responses[0].headers


def test_error_share_zero_point_five_mixes(sandbox: SandboxServer) -> None:
    sandbox.set_faults(error_share=0.5, rate_limit_plan="off")
    with sandbox.api() as api:
        statuses = [api.get("/api/v2/connections").status_code for _ in range(60)]
    assert 200 in statuses
    assert {500, 503} & set(statuses)


def test_faults_admin_endpoint_needs_the_client_secret(sandbox: SandboxServer) -> None:
    url = f"{sandbox.base_url}/sandbox/faults"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=(sandbox.client_id, "wrong")).status_code == 401
    assert httpx.put(url, json={"latency_ms": 5}).status_code == 401
    assert sandbox.faults()["latency_ms"] == 0


def test_faults_show_set_and_reset(sandbox: SandboxServer) -> None:
    defaults = sandbox.faults()
    assert defaults == {
        "rate_limit_share": 0.0,
        "error_share": 0.0,
        "latency_ms": 0,
        "download_cut_bytes": 0,
        "link_seconds": 0,
        "link_lapses": 0,
        "job_fail": "",
        "job_pending_seconds": 0,
        "job_rows_per_second": 0,
        "clock_offset_seconds": 0,
        "rate_limit_plan": "paid",
        "tenant_plan": "enterprise",
        "email_template_disabled": False,
    }
    changed = sandbox.set_faults(latency_ms=20, job_fail="disk full")
    assert changed["latency_ms"] == 20
    assert changed["job_fail"] == "disk full"
    with sandbox.api() as api:
        assert api.get("/api/v2/connections").status_code == 200
    assert sandbox.reset_faults() == defaults


@pytest.mark.parametrize(
    "body",
    [{"error_share": 1.5}, {"latency_ms": -1}, {"no_such_switch": 1}, {"rate_limit_plan": "gold"}],
)
def test_faults_refuse_bad_values(sandbox: SandboxServer, body: dict[str, object]) -> None:
    response = httpx.put(
        f"{sandbox.base_url}/sandbox/faults",
        json=body,
        auth=(sandbox.client_id, sandbox.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"


def test_faults_command_reaches_the_running_server(sandbox: SandboxServer) -> None:
    sandbox.manage("sandbox_faults", "--set", "rate_limit_share=1", "job_fail=quota exceeded")
    with sandbox.api() as api:
        assert api.get("/api/v2/connections").status_code == 429
    shown = sandbox.manage("sandbox_faults", "--show").stdout
    assert "quota exceeded" in shown
    sandbox.manage("sandbox_faults", "--reset")
    with sandbox.api() as api:
        assert api.get("/api/v2/connections").status_code == 200


def test_faults_command_refuses_unknown_switch(sandbox: SandboxServer) -> None:
    with pytest.raises(RuntimeError, match="Unknown fault switch"):
        sandbox.manage("sandbox_faults", "--set", "nope=1")


def test_request_counter_counts_api_calls(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        for _ in range(3):
            api.get("/api/v2/connections")
    assert sandbox.requests_seen() == {"connections": 3}


# --- connections ------------------------------------------------------------------------------


def test_connections_bare_array(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        body = api.get("/api/v2/connections").json()
    assert [c["name"] for c in body] == SEEDED_CONNECTIONS
    first = body[0]
    assert first["strategy"] == "auth0"
    assert first["id"].startswith("con_")
    assert len(first["id"]) == 20
    assert {"id", "name", "strategy", "options", "is_domain_connection"} <= set(first)


def test_connections_offset_paging_with_totals(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        page0 = api.get(
            "/api/v2/connections", params={"per_page": 3, "page": 0, "include_totals": "true"}
        ).json()
        page1 = api.get(
            "/api/v2/connections", params={"per_page": 3, "page": 1, "include_totals": "true"}
        ).json()
    assert list(page0) == ["total", "start", "limit", "connections"]
    assert (page0["total"], page0["start"], page0["limit"]) == (6, 0, 3)
    assert [c["name"] for c in page0["connections"] + page1["connections"]] == SEEDED_CONNECTIONS
    assert page1["start"] == 3


def test_connections_checkpoint_paging(sandbox: SandboxServer) -> None:
    names: list[str] = []
    with sandbox.api() as api:
        body = api.get("/api/v2/connections", params={"take": 4}).json()
        names += [c["name"] for c in body["connections"]]
        assert "next" in body
        body = api.get("/api/v2/connections", params={"take": 4, "from": body["next"]}).json()
        names += [c["name"] for c in body["connections"]]
    assert "next" not in body
    assert names == SEEDED_CONNECTIONS


def test_connections_filters_and_fields(sandbox: SandboxServer) -> None:
    with sandbox.api() as api:
        social = api.get(
            "/api/v2/connections", params=[("strategy", "github"), ("strategy", "google-oauth2")]
        ).json()
        by_name = api.get("/api/v2/connections", params={"name": "acme-saml"}).json()
        picked = api.get("/api/v2/connections", params={"fields": "id,name"}).json()
        dropped = api.get(
            "/api/v2/connections", params={"fields": "options", "include_fields": "false"}
        ).json()
    assert [c["name"] for c in social] == ["google-oauth2", "github"]
    assert [c["strategy"] for c in by_name] == ["samlp"]
    # Auth0 adds is_domain_connection whatever `fields` says (go-auth0 recordings).
    assert all(set(c) == {"id", "name", "is_domain_connection"} for c in picked)
    assert all("options" not in c and "name" in c for c in dropped)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": 101}, "'Value 101 is greater than maximum 100' on property per_page"),
        ({"take": 0}, "'Value 0 is less than minimum 1' on property take"),
        ({"from": "garbage!"}, "'from' is not a valid checkpoint"),
        ({"per_page": "x"}, "'Expected type integer but found type string' on property per_page"),
    ],
)
def test_connections_bad_query(
    sandbox: SandboxServer, params: dict[str, str | int], message: str
) -> None:
    with sandbox.api() as api:
        response = api.get("/api/v2/connections", params=params)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Query validation error: {message}",
        "errorCode": "invalid_query_string",
    }


def test_use_sandbox_points_the_dashboard_at_the_server(use_sandbox: SandboxServer) -> None:
    from django.conf import settings

    assert use_sandbox.base_url == settings.AUTH0_BASE_URL
    assert f"https://{settings.AUTH0_DOMAIN}/api/v2/" == settings.AUTH0_AUDIENCE
    response = httpx.post(
        f"{settings.AUTH0_BASE_URL}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": settings.AUTH0_CLIENT_ID,
            "client_secret": settings.AUTH0_CLIENT_SECRET,
            "audience": settings.AUTH0_AUDIENCE,
        },
    )
    assert response.status_code == 200


def test_sigterm_stops_the_server_cleanly(sandbox: SandboxServer) -> None:
    sandbox.stop()
    try:
        assert sandbox.process is not None
        assert sandbox.process.returncode == 0
        assert "Sandbox tenant stopped." in sandbox.log_path.read_text()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{sandbox.base_url}/sandbox/stats")
    finally:
        sandbox.start()
    assert sandbox.faults()["latency_ms"] == 0


def test_runsandbox_on_a_busy_port_says_so(sandbox: SandboxServer) -> None:
    port = sandbox.base_url.rsplit(":", 1)[1]
    with pytest.raises(RuntimeError, match=f"Cannot listen on 127.0.0.1:{port}"):
        sandbox.manage("runsandbox", "--host", "127.0.0.1", "--port", port)


def test_job_fail_switch_accepts_null_as_off(sandbox: SandboxServer) -> None:
    sandbox.set_faults(job_fail="boom")
    assert sandbox.set_faults(job_fail=None)["job_fail"] == ""
