# Raabta: `make run` starts the bot on http://127.0.0.1:8080, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: install browser run test lint format clean soak bench

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Raabta needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: install
	$(BIN)/raabta db upgrade
	$(BIN)/raabta serve --host $(HOST) --port $(PORT)

# The console's browser tests drive Debian's chromium (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: install browser
	$(BIN)/pytest -q

soak: install
	RAABTA_SOAK_CYCLES=$${RAABTA_SOAK_CYCLES:-50} $(BIN)/pytest -q tests/test_crash.py

# Benchmarks print figures (docs/benchmarks.md has them with the machine); run them on an idle machine.
# The pipeline run prints the ratio against the bare echo app; RASA_URL adds Rasa DIET to the NLU run. PG_URL adds PostgreSQL to the case-growth run.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.queue
	$(BIN)/python -m bench.nlu $(if $(RASA_URL),--rasa-url $(RASA_URL))
	$(BIN)/python -m bench.report_roundtrip 200
	$(BIN)/python -m bench.case_growth 2000 $(if $(PG_URL),--pg $(PG_URL))
	$(BIN)/python -m bench.telegram_update

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
