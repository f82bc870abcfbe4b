"""The filesystem broker of a machine without Redis (`make run`), each message written whole.

kombu's filesystem transport creates a message's file under its final name, then locks and
writes it, while a worker takes files by moving them away and reads them without the lock: a
worker polling in that instant took an empty file, failed to decode it and stopped the whole
worker ("Unrecoverable error: JSONDecodeError"), and `make run` with it (seen while a bulk run
went and beat queued its sweeps). Here a message is written under a name no queue reads, then
renamed to its final name, which a rename does at once.
"""

from __future__ import annotations

import os
import uuid
from fcntl import LOCK_EX
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

ALIAS = "userdesk-filesystem"
PARTIAL = ".part"


class Channel(filesystem.Channel):
    # kombu's filesystem channel's own signature (which its base class words otherwise).
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put `payload` onto `queue`: its file appears whole, or not at all."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL  # "<queue>.msg.part": no queue's name, so never taken
        f = None
        try:
            f = open(partial, "wb", buffering=0)  # noqa: SIM115 (closed below, as kombu does)
            filesystem.lock(f, LOCK_EX)
            f.write(str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc
        finally:
            if f is not None:
                filesystem.unlock(f)
                f.close()
        os.replace(partial, final)


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
