# The two commands a newcomer needs: `make run` and `make test`. Everything else is for CI and contributors.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck imports openapi check fuzz bench clean

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

# schemathesis against a live `remixfeed serve` on throwaway embedded servers (tests/fuzz/run.py), as a
# user, a teen and a moderator; a couple of minutes. More: `make fuzz FUZZ_ARGS="--max-examples 100 --seed 7"`.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run $(FUZZ_ARGS)

# The feed benchmark (bench/README.md): `make bench` for the small data set, `make bench SIZE=large`.
# Uses the PostgreSQL server DATABASE_URL names (default: local, user postgres) and REDIS_URL's server.
SIZE ?= small
bench: $(STAMP)
	$(BIN)/python -m bench.load --size $(SIZE) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
