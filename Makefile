# sevenstep — the two commands every user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The same Dagster home as the `sevenstep` command: under $SEVENSTEP_DATA_DIR when it is set.
DATA_DIR := $(abspath $(or $(SEVENSTEP_DATA_DIR),data))
export DAGSTER_HOME ?= $(DATA_DIR)/dagster_home
INSTANCE := $(BIN)/python -c 'import os, pathlib; from pipelines.runner import ensure_instance_config; ensure_instance_config(pathlib.Path(os.environ["DAGSTER_HOME"]))'

.PHONY: demo test ui lint bench install constraints clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "sevenstep needs Python 3.11+, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv with sevenstep and its development tools

demo: $(STAMP) ## Run all seven steps over the last 90 days of synthetic data; prints the report path
	$(BIN)/sevenstep demo --days 90

test: $(STAMP) ## Run the whole test suite
	@mkdir -p $(DAGSTER_HOME)
	$(BIN)/python -m pytest

ui: $(STAMP) ## Open the Dagster UI on the demo warehouse (http://127.0.0.1:3000)
	@$(INSTANCE)
	$(BIN)/dagster dev -w workspace.yaml

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) ## Performance harness (not part of the tests)
	$(BIN)/python -m benchmarks.run

constraints: $(STAMP) ## Re-pin constraints.txt from the current .venv
	@{ head -2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e'; } > constraints.tmp && mv constraints.tmp constraints.txt

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
