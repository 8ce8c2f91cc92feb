# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NPM    := $(VENV)/npm/.installed
PG_BIN := /usr/lib/postgresql/15/bin
APT    := postgresql-15 mosquitto asterisk-core-sounds-en-wav chromium
SPEECH := /usr/share/asterisk/sounds/en_US_f_Allison

.PHONY: demo test lint audit services bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	# Edge Impulse's Linux SDK, for the .eim test: only its runner is used, and its PyAudio
	# requirement needs PortAudio headers to build, so it comes without dependencies.
	$(VENV)/bin/pip install -q --no-deps 'edge_impulse_linux>=1.2' 'six>=1.16'
	touch $(STAMP)

# Real services the tests start themselves (PostgreSQL, mosquitto), real speech recordings
# (asterisk's studio prompts) for the audio tests and benchmarks, and the Chromium that the
# studio's browser tests drive through Playwright (never `playwright install`), from Debian.
services:
	@if [ ! -x $(PG_BIN)/initdb ] || [ ! -x /usr/sbin/mosquitto ] || [ ! -d $(SPEECH) ] \
		|| [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $(APT); \
		else echo "missing services: sudo apt-get install $(APT)" >&2; exit 1; fi; \
	fi

# The official Edge Impulse Node.js client, for the compatibility tests (its image library's
# install script downloads binaries, and the data forwarder doesn't need it: --ignore-scripts).
$(NPM): $(STAMP)
	mkdir -p $(VENV)/npm
	npm install --prefix $(VENV)/npm --ignore-scripts --no-audit --no-fund --silent edge-impulse-linux@1.25.2
	touch $(NPM)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# Known vulnerabilities (PyPI's advisory data, through its JSON API) in every installed
# dependency. Needs the network, so it is its own target, not part of `make test`; a package
# PyPI does not know at the installed version is listed as skipped, not passed.
audit: $(STAMP)
	$(VENV)/bin/pip-audit --progress-spinner off --skip-editable

test: $(STAMP) $(NPM) services lint
	$(PY) -m pytest -n 2 -q

# The demo compiles the model's C with gcc and verifies it, so it needs a C compiler.
demo: $(STAMP)
	@command -v gcc >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q gcc; } \
		|| { echo "the demo needs gcc: sudo apt-get install gcc" >&2; exit 1; }
	$(VENV)/bin/edgeops demo --home .demo

bench: $(STAMP) services
	@command -v wrk >/dev/null || apt-get install -y -q wrk
	@command -v mosquitto_pub >/dev/null || apt-get install -y -q mosquitto-clients
	@command -v valgrind >/dev/null || apt-get install -y -q valgrind
	@command -v arm-none-eabi-gcc >/dev/null || apt-get install -y -q gcc-arm-none-eabi libnewlib-arm-none-eabi
	@command -v qemu-system-arm >/dev/null || apt-get install -y -q qemu-system-arm
	$(VENV)/bin/pip install -q tflite-micro emlearn
	# Each prints JSON; report.py keeps going past a failure and writes benchmarks/results/
	# (<name>.json, machine.json, report.md).
	$(PY) benchmarks/report.py run ingest_files ingest_http ingest_mqtt features training \
		compiler fleet fleet_rollout drift automation

clean:
	rm -rf $(VENV) .demo .edgeops .pytest_cache .mypy_cache .ruff_cache benchmarks/.cache
