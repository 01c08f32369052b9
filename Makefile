# Raabta: `make run` starts the bot on http://127.0.0.1:8080, `make test` runs every test.
# Dependencies come from the lock files (README, "Dependencies"): requirements/dev.lock for .venv (tests,
# lint, tools), requirements/runtime.lock alone for .venv-run (`make run`, as the container installs it).
PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
RUN_VENV := .venv-run
RUN_BIN  := $(RUN_VENV)/bin
STAMP     := $(VENV)/.installed-$(shell cat pyproject.toml requirements/dev.lock | cksum | cut -d' ' -f1)
RUN_STAMP := $(RUN_VENV)/.installed-$(shell cat pyproject.toml requirements/runtime.lock | cksum | cut -d' ' -f1)
HOST     ?= 127.0.0.1
PORT     ?= 8080
# `make lock` upgrades every pin; `make lock UPGRADE=` only adds what pyproject.toml gained;
# `make lock UPGRADE='--upgrade-package starlette'` moves one package.
UPGRADE  ?= --upgrade
LOCK      = $(BIN)/uv pip compile --no-config --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock' $(UPGRADE)
# AUDIT_OPTIONAL=1: an advisory database out of reach is reported, loudly, but does not fail `make audit`.
AUDIT_OPTIONAL ?=

CHECK_PYTHON = $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Raabta needs Python 3.11 or newer")'

.PHONY: install install-runtime browser run test lint format clean soak bench lock audit

install: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.lock
	@$(CHECK_PYTHON)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The runtime alone: no test or lint tools, nothing that requirements/runtime.lock does not pin.
install-runtime: $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml requirements/runtime.lock
	@$(CHECK_PYTHON)
	@test -x $(RUN_BIN)/python || $(PYTHON) -m venv $(RUN_VENV)
	$(RUN_BIN)/python -m pip install --quiet --require-hashes -r requirements/runtime.lock
	$(RUN_BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(RUN_VENV)/.installed-*
	@touch $@

run: install-runtime
	$(RUN_BIN)/raabta db upgrade
	$(RUN_BIN)/raabta serve --host $(HOST) --port $(PORT)

# Both lock files again from pyproject.toml (runtime first; the dev lock keeps the runtime's pins).
lock: install
	$(LOCK) pyproject.toml -o requirements/runtime.lock
	$(LOCK) pyproject.toml --extra dev -c requirements/runtime.lock -o requirements/dev.lock

# pip-audit over both lock files: fails on a known vulnerability, and says "dependency audit NOT RUN" when
# no advisory database answers (status 3; 0 with AUDIT_OPTIONAL=1). requirements/audit.py says more.
audit: install
	AUDIT_OPTIONAL=$(AUDIT_OPTIONAL) $(BIN)/python requirements/audit.py \
		requirements/runtime.lock requirements/dev.lock

# The console's browser tests drive Debian's chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# On every core (pytest-xdist): each test has its own database and ports, so workers share nothing.
test: install browser
	$(BIN)/pytest -q -n auto

soak: install
	RAABTA_SOAK_CYCLES=$${RAABTA_SOAK_CYCLES:-50} $(BIN)/pytest -q tests/test_crash.py

# Benchmarks print figures (docs/benchmarks.md has them with the machine); run them on an idle machine.
# The pipeline run prints the ratio against the bare echo app; RASA_URL adds Rasa DIET to the NLU run. PG_URL adds PostgreSQL to the case-growth run.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.pipeline $(if $(PG_URL),--pg $(PG_URL))
	$(BIN)/python -m bench.queue
	$(BIN)/python -m bench.nlu $(if $(RASA_URL),--rasa-url $(RASA_URL))
	$(BIN)/python -m bench.report_roundtrip 200
	$(BIN)/python -m bench.case_growth 2000 $(if $(PG_URL),--pg $(PG_URL))
	$(BIN)/python -m bench.telegram_update
	$(BIN)/python -m bench.search $(if $(PG_URL),--pg $(PG_URL))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(RUN_VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
