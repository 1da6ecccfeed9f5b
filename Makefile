# reelflow: every target installs what it needs first (uv, bootstrapped with pip if missing).
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install system-deps demo test lint bench clean demo-stop up down deploy docs

$(UV):
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --user --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(VENV)/.installed  ## create .venv and install the reelflow CLI into .venv/bin

demo: install  ## import a sample movie of 10 episodes on zero-config defaults
	$(VENV)/bin/reelflow demo

demo-stop:  ## stop the demo's background S3 endpoint (never the stack's: `make down`)
	$(PY) -c "from reelflow.devtools.demo import stop_s3; stop_s3()"

system-deps:  ## Debian's chromium for the UI test (browser downloads are not used)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (UI test)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install system-deps lint  ## the layer contract and lint, then the whole suite against real PostgreSQL, Redis, S3 (moto), Prefect
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup

up: install  ## local stack: Prefect server + UI, a worker, local S3 (again: restarts only what changed)
	$(VENV)/bin/reelflow up

down:  ## stop what `make up` started
	$(VENV)/bin/reelflow down

deploy: install  ## create the work pool, queues, concurrency limits and deployments (idempotent)
	$(VENV)/bin/reelflow deploy

bench: install  ## every benchmark; each prints figures against a baseline from the same run
	$(VENV)/bin/reelflow bench compress .reelflow/bench-images --generate 40 --json
	$(VENV)/bin/reelflow bench compress .reelflow/bench-images --generate 40 --ladder --avif --json
	$(VENV)/bin/reelflow bench presign --json
	$(VENV)/bin/reelflow bench store --json
	$(VENV)/bin/reelflow bench sweep --objects 10000 --json
	$(VENV)/bin/reelflow bench verify --objects 10000 --json
	$(VENV)/bin/reelflow bench decode-memory --json
	$(VENV)/bin/reelflow bench video --json
	$(VENV)/bin/reelflow bench api --json
	$(VENV)/bin/reelflow bench scale --json
	$(VENV)/bin/reelflow bench orchestration --assets 2000 --json
	$(VENV)/bin/reelflow bench import --episodes 200 --plain --json
	$(VENV)/bin/reelflow bench submit --runs 5 --json

docs: install  ## regenerate README.md's settings table from reelflow/settings.py
	$(PY) -m reelflow.devtools.settings_doc

lint: install  ## ruff, the layer contract (import-linter), mypy --strict on the core
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy --strict reelflow/core reelflow/settings.py reelflow/adapters/malloc.py
	$(VENV)/bin/mypy reelflow flows tasks deployments

clean:
	rm -rf $(VENV) .reelflow reelflow.db .pytest_cache .mypy_cache .ruff_cache
