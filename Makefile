# Grid Ledger: `make test` proves it, `make demo` shows it. Both install what they need, idempotently.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
ESPHOME_VENV := .venv-esphome
NODE_BIN := node_modules/.bin
FORGE := $(CURDIR)/$(NODE_BIN)/forge
PIP_QUIET := --quiet --disable-pip-version-check --no-input

# Python 3.13: a real python3.13 on PATH first, else the newest 3.13 that pyenv has.
PYTHON313 = $(shell \
  if python3.13 -c 'import sys' >/dev/null 2>&1; then command -v python3.13; \
  elif command -v pyenv >/dev/null 2>&1; then \
    ls -d "$$(pyenv root)"/versions/3.13.*/bin/python3.13 2>/dev/null | sort -V | tail -n 1; \
  fi)

.PHONY: help setup chromium contracts test lint typecheck ha-compat contracts-test pytest bench demo demo-scenario screenshot abi clean

help:
	@echo "make demo   run Grid Ledger on a local chain, a simulated meter and Home Assistant"
	@echo "make demo-scenario  run the billing lifecycle headless and print its timeline"
	@echo "make test   lint, type-check and run every test (contracts, integration, firmware)"
	@echo "make bench  print the benchmark table (gas, latencies, throughput)"
	@echo "make abi    regenerate custom_components/grid_ledger/abi from contracts/"

setup: $(VENV)/.installed $(ESPHOME_VENV)/.installed node_modules/.installed chromium

# Debian's Chromium for the browser test (Playwright drives it; it downloads no browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed: tests/requirements.txt custom_components/grid_ledger/manifest.json
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (PATH or pyenv)"; exit 1; }
	@test -x $(PY) || "$(PYTHON313)" -m venv $(VENV)
	@# Home Assistant 2026.2.3 declares Python >=3.13.2; its harness runs on 3.13.0 as well.
	@flag=$$($(PY) -c 'import sys; print("--ignore-requires-python" if sys.version_info < (3, 13, 2) else "")'); \
	 $(PY) -m pip install $(PIP_QUIET) $$flag $$(grep -E '^pytest-homeassistant-custom-component==' tests/requirements.txt) 2>&1 | grep -v '^WARNING: Location' || true; \
	 constraints=$$($(PY) -c 'import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")'); \
	 reqs=$$($(PY) -c 'import json; print(" ".join(json.load(open("custom_components/grid_ledger/manifest.json"))["requirements"]))'); \
	 $(PY) -m pip install $(PIP_QUIET) $$flag -c "$$constraints" -r tests/requirements.txt $$reqs 2>&1 | grep -v '^WARNING: Location' || true; \
	 $(PY) -c 'import homeassistant, web3, serialx, pytest_homeassistant_custom_component'
	@touch $@

$(ESPHOME_VENV)/.installed: esphome_configs/requirements.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (PATH or pyenv)"; exit 1; }
	@test -x $(ESPHOME_VENV)/bin/python || "$(PYTHON313)" -m venv $(ESPHOME_VENV)
	@$(ESPHOME_VENV)/bin/python -m pip install $(PIP_QUIET) -r esphome_configs/requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
	@$(ESPHOME_VENV)/bin/esphome version >/dev/null
	@touch $@

node_modules/.installed: package.json package-lock.json
	@# The lock names every platform's forge/anvil/cast binary, as `npm install` writes it;
	@# `npm ci` installs this platform's and never rewrites the lock, so the clone stays clean.
	@npm ci --no-audit --no-fund --loglevel=error
	@$(NODE_BIN)/forge --version >/dev/null && $(NODE_BIN)/anvil --version >/dev/null
	@touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	cd contracts && $(FORGE) fmt --check

typecheck: setup
	$(VENV)/bin/mypy --strict custom_components/grid_ledger

# The manifest's requirements resolve from wheels on the newest Home Assistant release, its Python
# and its package constraints (kept per release in ~/.cache/grid-ledger). Needs the registry.
ha-compat: $(VENV)/.installed
	$(PY) -m tests.ha_compat

contracts-test: setup
	cd contracts && FOUNDRY_PROFILE=ci $(FORGE) test

# The sources and the operator's scripts, compiled before anything runs them (`forge test` leaves the
# scripts out): no test waits for the IR pipeline under its time limit, and the demo deploys at once.
contracts: setup
	cd contracts && $(FORGE) build --skip test

pytest: setup $(VENV)/.demo-installed contracts
	$(PY) -m pytest --cov --cov-report=term -q tests

test: lint typecheck ha-compat contracts-test pytest

bench: setup
	$(PY) -m tests.bench

abi: setup
	$(PY) contracts/script/export_abi.py

# The integrations the demo's Home Assistant loads, installed before it starts (it runs with
# --skip-pip, so it never installs packages into the environment itself).
$(VENV)/.demo-installed: $(VENV)/.installed tests/demo/requirements.py
	@constraints=$$($(PY) -c 'import homeassistant, pathlib; print(pathlib.Path(homeassistant.__file__).parent / "package_constraints.txt")'); \
	 $(PY) -m pip install $(PIP_QUIET) -c "$$constraints" $$($(PY) -m tests.demo.requirements) 2>&1 | grep -v '^WARNING: Location' || true
	@touch $@

demo: setup $(VENV)/.demo-installed contracts
	$(PY) -m tests.demo

demo-scenario: setup $(VENV)/.demo-installed contracts
	$(PY) -m tests.demo.scenario

screenshot: setup $(VENV)/.demo-installed
	SCREENSHOT_TO=docs/dashboard.png $(PY) -m pytest tests/e2e/test_demo_browser.py -q

clean:
	rm -rf contracts/out contracts/cache esphome_configs/.esphome .demo
