"""Search results (users' personal data) never wait on disk for their 15 seconds to end,
since a file cache deletes an expired entry only when it is read again or culled."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

from tests.fixtures.sandbox import SandboxServer
from users_admin import search


def on_disk(location: Path) -> bytes:
    """Everything the file cache holds, decompressed as Django's FileBasedCache writes it."""
    held = b""
    for path in location.rglob("*.djcache"):
        with path.open("rb") as file:
            pickle.load(file)  # the expiry time
            held += zlib.decompress(file.read())
    return held


def test_search_results_are_never_written_to_files(
    use_sandbox: SandboxServer, tmp_path: Path, db: None, settings: Any
) -> None:
    settings.SEARCH_CACHE_SECONDS = 15
    result = search.run_search("", page=0, per_page=5, sort=None, fields=["user_id", "email"])
    emails = [user["email"].encode() for user in result.page.users if user.get("email")]
    assert emails
    again = search.run_search("", page=0, per_page=5, sort=None, fields=["user_id", "email"])
    assert again.from_cache  # still cached, for this process
    held = on_disk(Path(settings.CACHES["default"]["LOCATION"]))
    assert not [email for email in emails if email in held]
