#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["runsandbox"] and not any(a.startswith("--settings") for a in sys.argv):
        # The sandbox server has settings of its own (sandbox/settings.py).
        os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
