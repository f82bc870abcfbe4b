from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from tests.fixtures.caches import file_caches

pytest_plugins = [
    "tests.fixtures.personas",
    "tests.fixtures.browser",
    "tests.fixtures.sandbox",
    "tests.fixtures.celery",
    "tests.fixtures.support_cases",
    "tests.fixtures.oidc_provider",
    "tests.fixtures.tenants",
]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    # The production hasher is slow by design; tests sign in often.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_file_cache(settings: Settings, tmp_path: Path) -> None:
    # Without Redis the cache is a folder under var/ shared with `make run`: one per test instead.
    if settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        settings.CACHES = file_caches(tmp_path / "cache")


@pytest.fixture
def fresh_cache(settings: Settings, tmp_path: Path) -> Path:
    """Empty caches of this test's own, with Redis configured too (other processes can share
    the file cache by path)."""
    location = tmp_path / "cache"
    settings.CACHES = file_caches(location)
    return location
