"""Settings of the test process: the dashboard's (config/settings.py) serving its own pages,
with the sandbox app and database of sandbox/settings.py beside it, because tests read and seed
the sandbox's models in-process. Processes the tests start run under the product's settings
(config.settings) or the sandbox's (manage.py picks them for the sandbox commands)."""

from __future__ import annotations

import os

# DEBUG is off unless set: the test process and the processes it starts (which inherit the
# environment) run in development mode, unless a test asks for production explicitly.
os.environ.setdefault("DEBUG", "true")

from config import settings as product
from sandbox.settings import *  # noqa: F403

ROOT_URLCONF = product.ROOT_URLCONF
MIDDLEWARE = product.MIDDLEWARE
DEBUG = product.DEBUG
ALLOWED_HOSTS = product.ALLOWED_HOSTS
