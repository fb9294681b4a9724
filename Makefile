# Keel developer commands. Every target creates what it needs and is safe to re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-run
STAMP_DEV := $(VENV)/.stamp-dev
STAMP_CHROMIUM := $(VENV)/.stamp-chromium

.PHONY: quickstart test lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[sklearn,serving,ui]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q torch==2.13.0
	touch $@ $(STAMP_RUN)

# The store is left in ./keel-quickstart for exploring (`export KEEL_HOME=keel-quickstart`).
quickstart: $(STAMP_RUN)
	rm -rf keel-quickstart
	$(BIN)/keel quickstart --keep keel-quickstart

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The browser tests (tests/ui, marker `browser`) drive Debian's chromium: installed here when
# missing and we are root; otherwise say how (they skip locally and fail with CI=true).
$(STAMP_CHROMIUM): | $(BIN)/python
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q chromium; fi
	@if [ -x /usr/bin/chromium ]; then touch $@; else \
		echo "Browser tests need /usr/bin/chromium: run 'sudo apt-get install -y chromium'."; fi

test: lint $(STAMP_CHROMIUM)
	$(BIN)/pytest -q

bench: $(STAMP_RUN)
	bash bench/run.sh

docs: $(STAMP_DEV)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache
