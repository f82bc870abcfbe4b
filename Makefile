# The README's two commands: `make run` starts the whole product, `make test` runs every check.
SHELL := /bin/bash
export UV_COMPILE_BYTECODE := 1
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")

.PHONY: run test install install-dev lint

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

install: $(UV)
	$(UV) sync --frozen --no-dev

install-dev: $(UV)
	$(UV) sync --frozen

run: install
	$(UV) run --no-dev python manage.py prepare_demo
	$(UV) run --no-dev honcho --no-prefix -f Procfile start 2>/dev/null || $(UV) run --no-dev honcho -f Procfile start

lint: install-dev
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy .

test: lint
	$(UV) run pytest
