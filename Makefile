# The two commands a newcomer types are `make sim` and `make test`; both bootstrap .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: venv deps sim sim-live test lint format bench stress clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Onthaal needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

SPEED    ?= 200
SCENARIO ?= scenarios/quiet-tuesday.toml

sim: $(STAMP)  ## a quiet Tuesday at the city hall, 200x real time (about a minute); web app on :8080
	$(BIN)/onthaal sim --scenario $(SCENARIO) --speed $(SPEED) --report var/report.json $(ARGS)

sim-live: $(STAMP)  ## the whole system against the simulator, until Ctrl-C (ARGS='--duration 5')
	$(BIN)/onthaal sim $(ARGS)

lint: $(STAMP)  ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

deps:  ## system programs the tests talk to (mosquitto, chromium): apt-get, or what to run
	@sh scripts/deps

WORKERS ?= 2

test: deps lint  ## lint, then the test suite (on WORKERS processes; WORKERS=0: in this one)
	$(BIN)/python -m pytest -n $(WORKERS) $(ARGS)

bench: $(STAMP)  ## benchmarks -> bench/results/*.json and docs/benchmarks.md
	$(BIN)/python -m bench $(ARGS)

stress: $(STAMP)  ## the scenario tests 200 times in a row beside a CPU hog (bounded; RUNS=N)
	$(BIN)/python -m bench.stress --runs $(or $(RUNS),200) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
