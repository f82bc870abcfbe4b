"""Shared pieces of the search, lookup and user-detail tests (no tests of its own)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import management_api
from tests.fixtures.caches import file_caches


@pytest.fixture
def fresh_cache(settings: Any, tmp_path: Path) -> Path:
    """An empty file cache of this test's own (other processes can share it by path)."""
    location = tmp_path / "cache"
    settings.CACHES = file_caches(location)
    return location


@dataclass
class Upstream:
    """Counts the requests this process sends upstream while the block runs."""

    start_total: int = 0
    start_paths: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.start_total, paths = management_api.stats.snapshot()
        self.start_paths = dict(paths)

    @property
    def total(self) -> int:
        return management_api.stats.total - self.start_total

    def path(self, path: str) -> int:
        return management_api.stats.by_path[path] - self.start_paths.get(path, 0)

    @property
    def searches(self) -> int:
        return self.path("/api/v2/users")

    @property
    def tokens(self) -> int:
        return self.path("/oauth/token")


def fragment_text(html: str) -> str:
    """The visible text of some HTML, whitespace collapsed (for readable assertions)."""
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", text).strip()


def builder_params(*rows: dict[str, str], **extra: str) -> dict[str, str]:
    """The GET parameters the search form sends for these builder rows."""
    params: dict[str, str] = {
        "mode": "builder",
        "c-TOTAL_FORMS": str(len(rows)),
        "c-INITIAL_FORMS": "0",
        "join": "AND",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            params[f"c-{index}-{key}"] = value
    params.update(extra)
    return params
