# The two commands: `make run` and `make test`. Everything else helps them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.DEFAULT_GOAL := help
.PHONY: help run serve migrate test lint typecheck docs docs-build pytest ts-client bench spec lock clean mfa-key

help:
	@echo "make run    set up (venv, .env with a generated secret, migrations) and serve"
	@echo "make test   install dev dependencies, lint, type-check, build the docs and run the tests"
	@echo "make docs   serve the documentation site (docs/) on http://127.0.0.1:8001"
	@echo "make bench  load-test authapi against the machine's ceilings (BENCH_ARGS=--help)"
	@echo "make lint | typecheck | docs-build | pytest | migrate | spec | lock | clean"

# --- environment -------------------------------------------------------------------

$(VENV)/.runtime: requirements/runtime.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r requirements/runtime.txt
	$(PIP) install --no-deps -e .
	touch $@

# The dev venv also holds clients/python (authapi-verifier), editable: the example
# resource server and its tests import it (its dependencies are authapi's own).
$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt clients/python/pyproject.toml
	$(PIP) install --require-hashes -r requirements/dev.txt
	$(PIP) install --no-deps -e clients/python
	touch $@

# A fresh secret, once: `.env` is never overwritten.
.env:
	@secret=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))'); \
	sed "s|^JWT_SECRET=.*|JWT_SECRET=$$secret|" .env.example > .env.tmp && \
	chmod 600 .env.tmp && mv .env.tmp .env && echo "wrote .env with a generated JWT_SECRET"

# MFA_ENCRYPTION_KEY in `.env`: generated when the line is missing or empty (an `.env`
# written before the second factor existed), every other line left as it was. A key
# already there is never replaced: it decrypts the stored TOTP secrets.
mfa-key: .env
	@grep -Eq '^MFA_ENCRYPTION_KEY=[^[:space:]]' .env || { \
	key=$$($(PYTHON) -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'); \
	if grep -q '^MFA_ENCRYPTION_KEY=' .env; then \
		sed -i "s|^MFA_ENCRYPTION_KEY=.*|MFA_ENCRYPTION_KEY=$$key|" .env; \
	else \
		[ -z "$$(tail -c1 .env)" ] || echo >> .env; \
		printf '%s\n' "# Encrypts the TOTP secrets at rest (added by make run)." \
			"MFA_ENCRYPTION_KEY=$$key" >> .env; \
	fi && echo "added a generated MFA_ENCRYPTION_KEY to .env"; }

# --- the two commands ----------------------------------------------------------------

run: $(VENV)/.runtime mfa-key
	$(PY) -m authapi migrate
	$(PY) -m authapi serve

test: $(VENV)/.dev lint typecheck docs-build pytest ts-client

# --- helpers -------------------------------------------------------------------------

serve: $(VENV)/.runtime mfa-key
	$(PY) -m authapi serve

migrate: $(VENV)/.runtime mfa-key
	$(PY) -m authapi migrate

# lint-imports holds the layers (the contracts are in pyproject.toml).
lint: $(VENV)/.dev
	$(VENV)/bin/ruff check backend scripts bench clients/python
	$(VENV)/bin/ruff format --check backend scripts bench clients/python
	$(VENV)/bin/lint-imports

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy backend/src
	$(VENV)/bin/mypy --strict clients/python/src

# The documentation site (docs/ and mkdocs.yml, Material for MkDocs): `docs` serves it
# with live reload on 8001 (the app has 8000); `docs-build` builds it into site/ with
# --strict, so a broken link or anchor fails make test. NO_MKDOCS_2_WARNING silences
# Material's banner about MkDocs 2, printed on every run.
docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

docs-build: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The social sign-in tests start a real OpenID Connect provider (panva's oidc-provider,
# pinned with its lock file): `npm ci` installs exactly that, again when the lock changes.
OIDC_PROVIDER := backend/tests/oidc_provider
$(OIDC_PROVIDER)/node_modules/.installed: $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The TypeScript client (clients/typescript): npm ci from its lock file (again when the
# lock changes), then its type check and its tests (vitest), against authapi servers
# the tests start themselves with this venv's Python.
TS_CLIENT := clients/typescript
$(TS_CLIENT)/node_modules/.installed: $(TS_CLIENT)/package-lock.json
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

ts-client: $(VENV)/.dev $(TS_CLIENT)/node_modules/.installed
	cd $(TS_CLIENT) && npm run check && AUTHAPI_PYTHON=$(abspath $(PY)) npm test

# The tests use the local PostgreSQL and Redis (started here if installed and stopped)
# and Debian's Chromium (installed here if missing); each skips loudly without them.
# One worker process per core (pytest-xdist), each taking the next test when it is
# free (worksteal): every test process has a PostgreSQL database of its own, and the
# tests that share Redis count under addresses and emails of their own.
# PYTEST_WORKERS=0 runs them in this one process, e.g. to debug a test.
PYTEST_WORKERS ?= auto
pytest: $(VENV)/.dev $(OIDC_PROVIDER)/node_modules/.installed
	@scripts/ensure-services.sh
	@scripts/ensure-chromium.sh
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Load test with wrk on SQLite and PostgreSQL + Redis; prints one table, also written
# to bench/results/latest.md. e.g. make bench BENCH_ARGS="--database postgres --users 1000000"
bench: $(VENV)/.dev
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; }; } \
		>/dev/null; } || { echo "bench needs wrk (Debian: apt-get install -y wrk)"; exit 1; }
	$(PY) bench/run.py $(BENCH_ARGS)

# Regenerate specs/002-auth-jwt-security/contracts/auth.yaml from the app, and the
# TypeScript client's types from it (a test of each fails while they differ).
spec: $(VENV)/.dev $(TS_CLIENT)/node_modules/.installed
	$(PY) scripts/export_openapi.py
	cd $(TS_CLIENT) && npm run --silent generate

# Re-resolve and re-pin every dependency (needs uv: pip install uv).
lock:
	uv lock
	uv export --frozen --no-dev --no-emit-project --no-header -o requirements/runtime.txt -q
	uv export --frozen --all-groups --no-emit-project --no-header -o requirements/dev.txt -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
