# The two commands of the README:
#   make run   - install into .venv and start PodML at http://127.0.0.1:8000 (SQLite + local files)
#   make test  - install the test extras and run the whole suite (lint, types, tests)
# Everything is installed from uv.lock (committed), by a pinned uv that lives in .tools/.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The interpreter's real path (a pyenv shim's path never matches the venv's, and uv would
# recreate .venv on every sync).
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

.PHONY: run test install install-test lint typecheck pytest lock clean web web-check browser

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen --inexact

install-test: $(UV)
	$(UV) sync --frozen --extra test

run: install web
	$(VENV)/bin/podml serve

# The web UI (web/): a static export served by `podml serve` at /, rebuilt only when its sources,
# its packages or the API's schema changed. Its typed client is generated from `podml openapi`.
NPM := cd web && NEXT_TELEMETRY_DISABLED=1
PY_SOURCES := $(shell find src/podml -name '*.py')
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/next.config.ts web/tsconfig.json web/postcss.config.mjs

# `npm ci` when the registry has every package the lock names; a mirror without some other
# platform's optional binaries (as here) makes it refuse, and `npm install` from the lock (same tree,
# the lock left as it is) is the fallback.
web/node_modules/.package-lock.json: web/package-lock.json
	$(NPM) npm ci --no-audit --no-fund || npm install --no-audit --no-fund
	@touch $@

build/openapi.json: $(PY_SOURCES)
	$(VENV)/bin/podml openapi --output $@

web/src/lib/schema.d.ts: build/openapi.json web/node_modules/.package-lock.json
	$(NPM) npx openapi-typescript ../build/openapi.json --default-non-nullable false -o src/lib/schema.d.ts

web/out/index.html: $(WEB_SOURCES) web/src/lib/schema.d.ts web/node_modules/.package-lock.json
	$(NPM) npx next build

web: web/out/index.html

# Debian's chromium for the browser tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; } \
		|| { echo "could not install chromium: run 'apt-get install -y chromium' as root" >&2; exit 1; }

web-check: web
	$(NPM) npx eslint . --max-warnings 0
	$(NPM) npx tsc --noEmit

lint: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install-test
	$(VENV)/bin/mypy

pytest: install-test
	$(VENV)/bin/pytest

test: lint typecheck web-check browser pytest

lock: $(UV)
	$(UV) lock

clean:
	rm -rf .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache build web/out web/.next web/node_modules
