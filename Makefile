# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PG_BIN := /usr/lib/postgresql/15/bin

.PHONY: demo test lint services bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

# Real services the tests start themselves: PostgreSQL server binaries from Debian.
services:
	@if [ ! -x $(PG_BIN)/initdb ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q postgresql-15; \
		else echo "PostgreSQL 15 is missing: sudo apt-get install postgresql-15" >&2; exit 1; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test: $(STAMP) services lint
	$(PY) -m pytest -n 2 -q

demo: $(STAMP)
	$(VENV)/bin/edgeops demo --home .demo

bench: $(STAMP)
	$(PY) benchmarks/ingest_files.py

clean:
	rm -rf $(VENV) .demo .edgeops .pytest_cache .mypy_cache .ruff_cache
