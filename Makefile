# The two commands of the README:
#   make run   - install into .venv and start PodML at http://127.0.0.1:8000 (SQLite + local files)
#   make test  - install the test extras and run the whole suite (lint, types, tests)
# Everything is installed from uv.lock (committed), by a pinned uv that lives in .tools/.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(shell command -v $(PYTHON))

.PHONY: run test install install-test lint typecheck pytest lock clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --frozen --inexact

install-test: $(UV)
	$(UV) sync --frozen --extra test

run: install
	$(VENV)/bin/podml serve

lint: install-test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install-test
	$(VENV)/bin/mypy

pytest: install-test
	$(VENV)/bin/pytest

test: lint typecheck pytest

lock: $(UV)
	$(UV) lock

clean:
	rm -rf .tools $(VENV) .pytest_cache .mypy_cache .ruff_cache
