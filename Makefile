# The two commands a newcomer needs: `make run` and `make test`. Everything else is for CI and contributors.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck imports openapi check bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/remixfeed serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

openapi: $(STAMP)
	$(BIN)/remixfeed openapi

# Everything CI checks except the two test runs.
check: lint typecheck imports
	$(BIN)/remixfeed openapi --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
