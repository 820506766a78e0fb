# Samvad: `make run` serves the embedded system, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install lock migration migration-reset clean help reliability bench

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Installs are locked: requirements/*.txt pin every package with its hashes (`make lock` writes
# them with uv). pip installs only the bootstrap tools; uv installs the rest, exactly the lock.
LOCKS := requirements/bootstrap.txt requirements/samvad.txt
UV := $(BIN)/uv

$(STAMP): pyproject.toml $(LOCKS)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Samvad needs Python >= 3.11 (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	@echo "==> Installing Samvad into $(VENV) from requirements/samvad.txt (locked, hashes checked)"
	@start=$$(date +%s); \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/bootstrap.txt && \
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes $(LOCKS) && \
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e . && \
	echo "    $$($(UV) pip list --python $(BIN)/python 2>/dev/null | tail -n +3 | wc -l) packages installed in $$(( $$(date +%s) - start )) s"
	@touch $@

install: $(STAMP) ## create .venv and install Samvad with its dev tools, exactly as locked

lock: $(STAMP) ## re-resolve requirements/*.txt from pyproject.toml and requirements/*.in (then commit)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	    requirements/bootstrap.in -o requirements/bootstrap.txt $(LOCK_ARGS)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 \
	    pyproject.toml --extra dev -o requirements/samvad.txt $(LOCK_ARGS)
	$(UV) pip compile --quiet --universal --generate-hashes --python-version 3.10 \
	    requirements/rasa.in -o requirements/rasa.txt $(LOCK_ARGS)
	@git diff --stat -- requirements/ 2>/dev/null || true

run: $(STAMP) ## migrate, load the demo data and serve on http://127.0.0.1:8000 (with Rasa once `make rasa` built it)
	$(BIN)/samvad db upgrade
	$(BIN)/samvad seed --demo
	$(BIN)/samvad serve --rasa

test: $(STAMP) rasa ## ruff, mypy, import-linter, catalogs, flows, then the whole suite (PostgreSQL, SQLite, Redis, Rasa)
	@echo "==> ruff (style and common bugs)"
	@$(BIN)/ruff check .
	@echo "==> mypy (types)"
	@$(BIN)/mypy
	@echo "==> import-linter (layers)"
	@$(BIN)/lint-imports
	@echo "==> Catalogs: compile and check every locale"
	@$(BIN)/samvad locales compile
	@$(BIN)/samvad locales check
	@echo "==> Flows: references, messages and SMS budgets"
	@$(BIN)/samvad flows check
	@echo "==> pytest: the whole suite (about 12 to 20 minutes on 2 cores)"
	@start=$$(date +%s); $(BIN)/python -m pytest; code=$$?; \
	echo "==> pytest finished in $$(( $$(date +%s) - start )) s (exit $$code)"; exit $$code

lint: $(STAMP) ## ruff, mypy and import-linter: the static checks `make test` starts with
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

migration: $(STAMP) ## autogenerate an Alembic migration: make migration m="what changed"
	$(BIN)/samvad db revision -m "$(m)"

migration-reset: $(STAMP) ## (pre-release only) regenerate 0001_initial from the models
	rm -f core_api/migrations/versions/*.py
	rm -rf var/migration-reset && mkdir -p var/migration-reset
	SAMVAD_DATA_DIR=var/migration-reset $(BIN)/samvad db revision -m "initial schema" --rev-id 0001
	rm -rf var/migration-reset

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var

include rasa.mk

reliability: $(STAMP) ## run the fault, abuse, fuzzing and privacy suites and write RELIABILITY.md
	SAMVAD_RELIABILITY_OUT=RELIABILITY.md $(BIN)/python -m pytest -m reliability

bench: $(STAMP) rasa ## benchmark end to end (Samvad, ceiling, Rasa, scale) -> bench/results, BENCHMARKS.md
	$(BIN)/samvad bench $(BENCH_ARGS)
