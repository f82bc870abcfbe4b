from __future__ import annotations

from django.test import Client


def test_health_needs_no_sign_in(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code in (200, 503)
    assert set(response.json()["checks"]) == {"database", "cache", "broker"}


def test_pages_need_sign_in(db: None) -> None:
    response = Client().get("/t/userdesk-sandbox/users/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_support_agent_searches_but_not_exports(agent_client: Client) -> None:
    assert agent_client.get("/t/userdesk-sandbox/users/").status_code == 200
    assert agent_client.get("/t/userdesk-sandbox/exports/").status_code == 403
