"""The filesystem broker (no Redis) never hands a worker a message half written: kombu's own
transport created the file under its final name before writing it, and a worker polling in
that instant took it empty and stopped ("Unrecoverable error: JSONDecodeError")."""

from __future__ import annotations

from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import filesystem

from config import broker

QUEUE = "celery"


def connection(url: str, folder: Path) -> Any:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    return Connection(url, transport_options=options)


def test_a_message_is_never_read_before_it_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{broker.ALIAS}://"  # the settings' broker without Redis (test_embedded_celery)
    with connection(url, tmp_path) as writer, connection(url, tmp_path) as reader:
        sending, taking = writer.default_channel, reader.default_channel
        seen: list[Any] = []
        locking = filesystem.lock

        def lock_then_poll(f: Any, flags: int) -> None:
            # The writer holds the file open, nothing written yet: a worker polls now.
            locking(f, flags)
            try:
                seen.append(taking._get(QUEUE))
            except Empty:
                seen.append("Empty")

        monkeypatch.setattr(filesystem, "lock", lock_then_poll)
        sending._put(QUEUE, {"body": "whole"})
        monkeypatch.setattr(filesystem, "lock", locking)
        assert seen == ["Empty"]
        assert taking._get(QUEUE) == {"body": "whole"}
        assert list(tmp_path.iterdir()) == []
