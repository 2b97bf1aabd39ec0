# recall — two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint services bench clean migration

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recall demo

services:
	bash .ci/services

test: $(STAMP) services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy pipeline actors channels schedules web cli

clean:
	rm -rf $(VENV) recall.db* .pytest_cache .mypy_cache .ruff_cache

# Regenerate the one initial migration from pipeline/models.py (nothing is deployed yet).
migration: $(STAMP)
	$(BIN)/python -m pipeline.migrations.regenerate
	$(BIN)/ruff format --quiet pipeline/migrations
	$(BIN)/ruff check --fix --unsafe-fixes --quiet pipeline/migrations
	$(BIN)/ruff format --quiet pipeline/migrations
