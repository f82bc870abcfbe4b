from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.personas",
    "tests.fixtures.browser",
    "tests.fixtures.sandbox",
    "tests.fixtures.celery",
]
