# Concord: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
SANDBOX_PORT ?= 8100
export CONCORD_MODE ?= development

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt lock bench fuzz clean

help:
	@echo "make run    install, migrate, seed the demo and start web, worker, beat and sandboxes"
	@echo "make test   install the dev tools and run the whole test suite"
	@echo "make lint   ruff and the import-linter contracts"
	@echo "make bench  benchmarks (table on stdout, JSON under var/bench/)"
	@echo "make fuzz   the engine's property tests with many more examples"
	@echo "make lock   re-resolve requirements/*.txt from pyproject.toml"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files make each install happen once per change of its lock file. The lock files
# carry every artifact's hash: pip refuses a file whose hash is not listed.
$(VENV)/.run-installed: requirements/base.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/base.txt
	@touch $@

$(VENV)/.dev-installed: requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $@ $(VENV)/.run-installed

# honcho gives each process its own PORT (web gets $(PORT), the next ones +100 each), so
# the address external systems call is fixed here for every process alike.
run: export CONCORD_PUBLIC_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.run-installed
	$(BIN)/python manage.py bootstrap
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) $(BIN)/honcho start -f Procfile

# Two test processes (pytest-xdist): the suite waits on workers, sandboxes and browsers as
# much as it computes. Each process has its own test database, Redis database and broker
# folder (apps/config/settings.py). `make test PYTEST_ARGS="tests/runs -x"` runs a part, serially.
# The 25 slowest tests are listed at the end, to keep an eye on the suite's time (CI: 15 min).
PYTEST_ARGS ?= -n 2 --durations=25

# Browser tests drive the system's chromium (Debian's in CI); without one, Playwright's own is
# downloaded once per machine (best effort: offline, those tests are skipped and say why).
test: $(VENV)/.dev-installed
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
		|| [ -n "$$CONCORD_CHROMIUM" ] \
		|| $(BIN)/python -m playwright install chromium >/dev/null 2>&1 \
		|| echo "note: no chromium and none could be downloaded; the browser tests will be skipped"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks $(BENCH)

fuzz: $(VENV)/.dev-installed
	CONCORD_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/syncs -k property -p no:xdist

# Re-resolve the pinned versions, with the hash of every file PyPI (and any local index pip
# is configured with) holds for them (needs pip-tools in the venv; see docs/contributing.md).
lock: $(VENV)/.dev-installed
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links --upgrade -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links --upgrade --extra dev -c requirements/base.txt -o requirements/dev.txt pyproject.toml

clean:
	rm -rf $(VENV) var/celery var/test-*.sqlite3*
