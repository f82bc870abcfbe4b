"""The sandbox server as a process: tokens, error shapes, rate limits, fault switches."""

from __future__ import annotations

import httpx

from tests.fixtures.sandbox import SandboxServer


def test_server_answers_with_a_token(sandbox_server: SandboxServer) -> None:
    with sandbox_server.api() as api:
        response = api.get("/api/v2/connections")
    assert response.status_code == 200
    assert {c["name"] for c in response.json()} >= {"Username-Password-Authentication"}


def test_unknown_url_is_auth0_shaped_404(sandbox_server: SandboxServer) -> None:
    response = httpx.get(f"{sandbox_server.base_url}/api/v2/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
