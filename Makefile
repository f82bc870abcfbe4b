# The README's two commands: `make run` starts the whole product, `make test` runs every check
# (`make docs` serves the documentation site).
SHELL := /bin/bash
export UV_COMPILE_BYTECODE := 1
# MkDocs' banner about its successor, printed on every build.
export NO_MKDOCS_2_WARNING := 1
# Ports for `make run`; override with `make run PORT_WEB=8100 SANDBOX_PORT=8101`.
PORT_WEB ?= 8000
SANDBOX_PORT ?= 8001
export PORT_WEB SANDBOX_PORT
# Where `make docs` serves the documentation site; `make docs DOCS_ADDR=127.0.0.1:9000`.
DOCS_ADDR ?= 127.0.0.1:8370
# pytest workers; `make test PYTEST_WORKERS=0` runs the suite in one process.
PYTEST_WORKERS ?= auto

UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
# Node packages of the tests (npm), each skipped by its tests without npm: the independent
# OpenID Connect provider of the sign-in tests and the node auth0 SDK of the conformance test.
NPM := $(shell command -v npm 2>/dev/null)
NODE_PACKAGES := tests/oidc_provider tests/node
NODE_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NODE_PACKAGES))

.PHONY: run test install install-dev lint pytest docs docs-build

$(UV):
	python3 -m pip install --quiet --user uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv \
	  || curl -LsSf https://astral.sh/uv/install.sh | sh

# --inexact: `make run` leaves the dev tools of an earlier `make test` in place.
install: $(UV)
	$(UV) sync --frozen --no-dev --inexact

install-dev: $(UV) $(if $(NPM),$(NODE_STAMPS))
	$(UV) sync --frozen

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	npm ci --prefix $* --no-audit --no-fund
	touch $@

# The sandbox also plays the staff's identity provider: "Sign in with Auth0 (sandbox)".
run: export OIDC_SANDBOX ?= true
run: install
	$(UV) run --no-sync python manage.py prepare_demo --url http://127.0.0.1:$(PORT_WEB)
	exec $(UV) run --no-sync honcho --procfile Procfile start

lint: install-dev
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy .

docs: install-dev
	$(UV) run --no-sync mkdocs serve -a $(DOCS_ADDR)

# --strict: a broken link, a missing page or a page left out of nav fails the build.
docs-build: install-dev
	site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && \
	  $(UV) run --no-sync mkdocs build --strict --quiet --site-dir "$$site"

pytest: install-dev
	$(UV) run --no-sync pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint docs-build pytest
