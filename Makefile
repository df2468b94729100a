# Two-command quick start: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test bench lint clean lock

# A clear message instead of a pip resolution error later when the Python is too old.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "visabot needs Python 3.11+; $(PYTHON) is $$($(PYTHON) --version 2>&1). Try: make run PYTHON=python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# requirements.lock holds the exact versions the tests passed with (runtime, test and dev tools;
# not bench), so a fresh machine gets them. Regenerate after changing dependencies: `make lock`.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

run: $(STAMP)
	$(BIN)/visabot start

# Lint first: it takes seconds. The suite reports coverage of bot/, handlers/ and knowledge/. Three
# workers on two cores: a worker often waits (on a subprocess, a bot's reply, a 429 pause), and a
# third keeps both cores busy meanwhile. About 115 CPU-seconds in all with coverage on (100 s on
# this 2-core machine while other jobs kept it at load ~4); tests that only check how lint reports
# a problem lint a few entries (tests/knowledge_copies.py), so the suite grows little with the base.
# Bytecode caches (gitignored) are written even where the shell says not to: without them each
# worker re-rewrites the test modules' asserts under coverage (~3 s) and each `visabot` subprocess
# recompiles the packages.
test: lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 3 --cov --cov-report=term

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run_all

# Resolve pyproject.toml's ranges afresh into a new lock (in a scratch venv, without bench).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet '.[test,dev]'
	echo '# Exact versions the tests passed with; `make lock` regenerates it. Installed by `make run` and `make test`.' > requirements.lock
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^visabot' >> requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .pytest_cache
