"""`make run`'s process manager: honcho on the Procfile, given time for a clean stop.

On Ctrl-C honcho sends every process SIGTERM and, 5 s later, SIGKILL to any still running. A
Celery worker on the filesystem broker (a fresh machine's, without REDIS_URL) takes about 9 s to
stop warmly: its loop waits out two 2 s polls of the broker, then joins its pool. So honcho waits
up to STOP_SECONDS here before killing; every process stops on its own well within it.

Ctrl-C (honcho's exit status 130) or SIGTERM (143) is how `make run` is stopped: once every
process has stopped, that ends it cleanly, with 0, not an error for make to report. A process that
failed still ends it with that process's status.
"""

from __future__ import annotations

import sys

import honcho.manager
from honcho.command import main

STOP_SECONDS = 30
STOPPED_BY_SIGNAL = (130, 143)

if __name__ == "__main__":
    honcho.manager.KILL_WAIT = STOP_SECONDS
    try:
        main()
    except SystemExit as stop:
        sys.exit(0 if stop.code in STOPPED_BY_SIGNAL else stop.code)
