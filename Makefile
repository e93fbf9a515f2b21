# Two commands on a fresh machine: `make run` (install, then the bot) and `make test` (install, then the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK_ARGS := --universal --python-version 3.11

.PHONY: install run demo test test-stock test-crash lint typecheck check lock clean

## Exactly the versions of requirements-dev.lock (the tested ones), then the project itself.
$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Start the offline demo when there is no .env, else the real bot (long polling).
run: $(STAMP)
	@if [ -f .env ] || [ -n "$$BOT_TOKEN" ]; then $(BIN)/smmbot run; else $(BIN)/smmbot demo; fi

## The offline demo, whatever .env says; e.g. `make demo ARGS=--as-admin`.
demo: $(STAMP)
	$(BIN)/smmbot demo $(ARGS)

test: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile

## The end-to-end tests on the libraries' stock paths (FAST_PATHS=false: aiosqlite as shipped;
## PostgreSQL has no fast path, `make test` covers it).
test-stock: $(STAMP)
	FAST_PATHS=false TEST_DATABASE=sqlite $(BIN)/pytest -n 2 --dist loadfile tests/e2e

## Three real webhook processes on PostgreSQL + Redis, two SIGKILLed mid-run (about 30 s on a quiet
## machine; `make test` skips it as heavy).
test-crash: $(STAMP)
	SMM_HEAVY_TESTS=1 $(BIN)/pytest tests/scale/test_crash.py

## Regenerate both lock files from pyproject.toml: run after adding or bumping a dependency.
lock:
	@test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) --extra dev -o requirements-dev.lock

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
