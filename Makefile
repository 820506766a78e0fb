# Samvad: `make run` serves the embedded system, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install migration migration-reset clean help reliability bench

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Samvad needs Python >= 3.11 (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(STAMP) ## create .venv and install Samvad with its dev tools

run: $(STAMP) ## migrate, load the demo data and serve on http://127.0.0.1:8000
	$(BIN)/samvad db upgrade
	$(BIN)/samvad seed --demo
	$(BIN)/samvad serve

test: $(STAMP) rasa ## lint, check the flows, run the whole suite (PostgreSQL, SQLite, Redis)
	$(BIN)/ruff check .
	$(BIN)/samvad locales compile
	$(BIN)/samvad locales check
	$(BIN)/samvad flows check
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy samvad core_api

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
