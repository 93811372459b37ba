# nianbao — `make demo` and `make test` work on a fresh Linux machine with Python 3.11.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
DEMO := demo

.PHONY: all setup sysdeps demo test bench clean help

help:
	@echo "make demo   - set up, generate sample reports, run the pipeline, print where outputs are"
	@echo "make test   - set up and run the whole test suite"
	@echo "make bench  - accuracy and speed benchmarks (figures go into README)"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "nianbao needs Python 3.11, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c 'import flows.cli, tasks.extract' 
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

sysdeps:
	@bash scripts/sysdeps.sh

demo: setup sysdeps
	@rm -rf $(DEMO)
	$(BIN)/nianbao synth $(DEMO)/reports --agencies 40 --years 2023,2024 --seed 7
	$(BIN)/nianbao run $(DEMO)/reports --warehouse $(DEMO)/nianbao.duckdb --province 43
	$(BIN)/nianbao roster load $(DEMO)/reports/roster.csv --warehouse $(DEMO)/nianbao.duckdb
	$(BIN)/nianbao report --warehouse $(DEMO)/nianbao.duckdb --out $(DEMO)/dq_reports --roster $(DEMO)/reports/roster.csv --no-pdf
	$(BIN)/nianbao rollup --warehouse $(DEMO)/nianbao.duckdb --level county --out $(DEMO)/rollup.xlsx
	$(BIN)/nianbao dashboard --warehouse $(DEMO)/nianbao.duckdb --out $(DEMO)/dashboard.html
	@echo
	@echo "Demo outputs:"
	@echo "  sample reports        $(DEMO)/reports/ (with .truth.json beside each)"
	@echo "  DuckDB warehouse      $(DEMO)/nianbao.duckdb"
	@echo "                        $(BIN)/nianbao sql 'SELECT * FROM mart_rollup_province' -w $(DEMO)/nianbao.duckdb"
	@echo "  data-quality reports  $(DEMO)/dq_reports/ (index.html: province summary)"
	@echo "  roll-up workbook      $(DEMO)/rollup.xlsx"
	@echo "  dashboard             $(DEMO)/dashboard.html"

test: setup sysdeps
	$(BIN)/python -m pytest

bench: setup sysdeps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(DEMO) .prefect .pytest_cache
