#!/usr/bin/env python
from __future__ import annotations

import os
import sys

# The sandbox tenant's commands run under its settings (sandbox/settings.py: the product's plus
# the sandbox app, its database and SANDBOX_*); everything else under the product's alone.
SANDBOX_COMMANDS = {
    "runsandbox",
    "sandbox_seed",
    "sandbox_faults",
    "sandbox_identities",
    "sandbox_cases",
    "sandbox_add_users",
}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in SANDBOX_COMMANDS and not any(a.startswith("--settings") for a in sys.argv):
        os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
