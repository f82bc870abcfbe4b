# The README's two commands: `make run` starts the whole product, `make test` runs every check.
SHELL := /bin/bash
export UV_COMPILE_BYTECODE := 1
# Ports for `make run`; override with `make run PORT_WEB=8100 SANDBOX_PORT=8101`.
PORT_WEB ?= 8000
SANDBOX_PORT ?= 8001
export PORT_WEB SANDBOX_PORT
# pytest workers; `make test PYTEST_WORKERS=0` runs the suite in one process.
PYTEST_WORKERS ?= auto

UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: run test install install-dev lint pytest

$(UV):
	python3 -m pip install --quiet --user uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv \
	  || curl -LsSf https://astral.sh/uv/install.sh | sh

# --inexact: `make run` leaves the dev tools of an earlier `make test` in place.
install: $(UV)
	$(UV) sync --frozen --no-dev --inexact

# The node SDK that tests/test_sandbox_node_sdk.py runs (skipped there when node is missing).
install-dev: $(UV)
	$(UV) sync --frozen
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/node --no-audit --no-fund --silent; fi

run: install
	$(UV) run --no-sync python manage.py prepare_demo --url http://127.0.0.1:$(PORT_WEB)
	exec $(UV) run --no-sync honcho --procfile Procfile start

lint: install-dev
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy .

pytest: install-dev
	$(UV) run --no-sync pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint pytest
