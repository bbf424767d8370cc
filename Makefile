# Every target installs what it needs into .venv (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= out/plan-$(STACK)

.PHONY: venv plan test lint golden bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## Offline plan of one example stack (default: dev) into out/plan-<stack>/
plan: venv
	$(PY) -m stackctl plan --stack $(STACK) --out $(OUT)

## All tests and linters (what CI runs)
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy components stackctl

## Regenerate golden files under tests/golden/ and the README configuration table after an intended change
golden: venv
	$(PY) -m tests.regenerate_golden
	$(PY) -m stackctl.docs

bench: venv
	$(PY) bench/plan_time.py

clean:
	rm -rf $(VENV) out
