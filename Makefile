# The README's two commands: `make run` starts the whole product, `make test` runs every check
# (`make docs` serves the documentation site).
SHELL := /bin/bash
export UV_COMPILE_BYTECODE := 1
# MkDocs' banner about its successor, printed on every build.
export NO_MKDOCS_2_WARNING := 1
# Ports for `make run`; override with `make run PORT_WEB=8100 SANDBOX_PORT=8101`.
PORT_WEB ?= 8000
SANDBOX_PORT ?= 8001
# The demo's second sandbox tenant, staging (`make run SANDBOX_STAGING_PORT=8102`).
SANDBOX_STAGING_PORT ?= 8002
export PORT_WEB SANDBOX_PORT SANDBOX_STAGING_PORT
# The staging sandbox's own settings: another tenant, database, export folder, client secret and
# plan (Procfile's sandbox-staging and prepare_demo's seeding read them).
STAGING_SANDBOX_ENV = SANDBOX_TENANT=userdesk-staging SANDBOX_PORT=$(SANDBOX_STAGING_PORT) \
  SANDBOX_DATABASE_PATH=$(or $(USERDESK_VAR_DIR),var)/sandbox-staging.sqlite3 \
  SANDBOX_EXPORT_DIR=$(or $(USERDESK_VAR_DIR),var)/sandbox-staging-exports \
  SANDBOX_CLIENT_SECRET=staging-client-secret SANDBOX_TENANT_PLAN=essentials \
  SANDBOX_RATE_LIMIT_PLAN=paid
# Where `make docs` serves the documentation site; `make docs DOCS_ADDR=127.0.0.1:9000`.
DOCS_ADDR ?= 127.0.0.1:8370
# pytest workers; `make test PYTEST_WORKERS=0` runs the suite in one process.
PYTEST_WORKERS ?= auto

UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
# Node packages of the tests (npm), each skipped by its tests without npm: the independent
# OpenID Connect provider of the sign-in tests and the node auth0 SDK of the conformance test.
NPM := $(shell command -v npm 2>/dev/null)
NODE_PACKAGES := tests/oidc_provider tests/sandbox/node
NODE_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NODE_PACKAGES))

.PHONY: run test install install-dev lint pytest demo-env docs docs-build screenshots

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

# The demo's two tenants (README, "Tenants"): the sandbox on SANDBOX_PORT as production and a
# second one on SANDBOX_STAGING_PORT as staging, with other users (seed), plan and name. For the
# demo only: a deployment sets AUTH0_TENANTS (or AUTH0_DOMAIN) itself. The production sandbox
# also plays the staff's identity provider: "Sign in with Auth0 (sandbox)".
# A laptop demo: development mode (DEBUG defaults to off everywhere else).
run demo-env: export DEBUG ?= true
run demo-env: export OIDC_SANDBOX ?= true
run demo-env: export STAGING_SANDBOX_ENV := $(STAGING_SANDBOX_ENV)
run demo-env: export AUTH0_TENANTS ?= production,staging
# Each sandbox tenant enforces the rate limits of the plan its tenant is paced at (bulk runs'
# budget and predicted duration, management_api/pacing.py): production is Enterprise, 16/s for
# the whole tenant; staging (STAGING_SANDBOX_ENV) the sandbox's `paid`, Essentials' buckets.
run demo-env: export SANDBOX_RATE_LIMIT_PLAN ?= enterprise
# The demo's users are the sandbox's: deleting one is offered, so production's guard (type the
# tenant's name) can be tried.
run demo-env: export USERDESK_ALLOW_USER_DELETE ?= true
# $(call demo_tenant,SLUG,Name,environment,plan,sandbox tenant,port,client secret)
define demo_tenant
run demo-env: export AUTH0_TENANT_$(1)_NAME ?= $(2)
run demo-env: export AUTH0_TENANT_$(1)_ENVIRONMENT ?= $(3)
run demo-env: export AUTH0_TENANT_$(1)_PLAN ?= $(4)
run demo-env: export AUTH0_TENANT_$(1)_DOMAIN ?= $(5).sandbox.local
run demo-env: export AUTH0_TENANT_$(1)_BASE_URL ?= http://127.0.0.1:$(6)
run demo-env: export AUTH0_TENANT_$(1)_CLIENT_ID ?= sandbox-client-id
run demo-env: export AUTH0_TENANT_$(1)_CLIENT_SECRET ?= $(7)
endef
$(eval $(call demo_tenant,PRODUCTION,Production (sandbox),production,enterprise,userdesk-sandbox,$(SANDBOX_PORT),sandbox-client-secret))
$(eval $(call demo_tenant,STAGING,Staging (sandbox),staging,essentials,userdesk-staging,$(SANDBOX_STAGING_PORT),staging-client-secret))
# config/procfile.py runs honcho: Ctrl-C or a SIGTERM stops every process and ends with 0.
run: install
	$(UV) run --no-sync python manage.py prepare_demo --url http://127.0.0.1:$(PORT_WEB)
	exec $(UV) run --no-sync python -m config.procfile --procfile Procfile start

# What `make run` puts in its processes' environment (tests/config/test_run.py and tests/config/test_settings.py read it).
demo-env:
	@env | grep -E '^(DEBUG=|AUTH0_TENANT|STAGING_SANDBOX_ENV|SANDBOX_|OIDC_SANDBOX|USERDESK_ALLOW_USER_DELETE)' | sort

lint: install-dev
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy .

docs: install-dev
	$(UV) run --no-sync mkdocs serve -a $(DOCS_ADDR)

# --strict: a broken link, a missing page or a page left out of nav fails the build. Not
# --quiet: it keeps MkDocs' warnings from being counted, so --strict then passes them.
MKDOCS_CONFIG ?= mkdocs.yml
docs-build: install-dev
	site=$$(mktemp -d) && trap 'rm -rf "$$site"' EXIT && \
	  $(UV) run --no-sync mkdocs build --strict --config-file $(MKDOCS_CONFIG) --site-dir "$$site"

# Retakes the docs' screenshots (docs/img/screens/): runs the browser tests that take them.
screenshots: install-dev
	DOCS_SCREENSHOTS=1 $(UV) run --no-sync pytest -p no:xdist -q -m browser \
	  $$(grep -rl --include='test_*.py' 'docs_screenshot(' tests)

pytest: install-dev
	$(UV) run --no-sync pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint docs-build pytest
