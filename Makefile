# chatlog: `make run` starts the REPL, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench bench-quick setup clean

setup: $(STAMP)

# Installer chatter goes to .venv/install.log and is shown only when the install fails.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing chatlog and its dependencies into $(VENV) ..."
	@($(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[dev]') \
		> $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/chatlog

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check eventlog projections cli tests benchmarks
	$(BIN)/ruff format --check eventlog projections cli tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.report --write-docs

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
