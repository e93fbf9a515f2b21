# Two commands on a fresh machine: `make run` (install, then the bot) and `make test` (install, then the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint typecheck check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
