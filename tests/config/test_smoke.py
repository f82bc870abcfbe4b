from __future__ import annotations

from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper


def test_health_needs_no_sign_in(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }


def test_health_names_the_part_that_fails(db: None, settings: SettingsWrapper) -> None:
    # A cache nobody listens on (port 1): the check says which part failed, and the status is 503.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("error: ")


def test_pages_need_sign_in(db: None) -> None:
    response = Client().get("/t/userdesk-sandbox/users/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")


def test_support_agent_searches_but_not_exports(agent_client: Client) -> None:
    assert agent_client.get("/t/userdesk-sandbox/users/").status_code == 200
    assert agent_client.get("/t/userdesk-sandbox/exports/").status_code == 403
