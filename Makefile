# Every target installs what it needs into .venv (Python 3.11).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
OUT ?= out/plan-$(STACK)

.PHONY: venv checkov-venv plan test lint golden mutation bench-plan-time bench-boot-path bench-rolling clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# checkov in its own venv: its pins (packaging<24) conflict with pulumi's (tests/tools/test_checkov.py).
CK_VENV := .venv-checkov
$(CK_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CK_VENV)
	$(CK_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

checkov-venv: $(CK_VENV)/.installed

## Offline plan of one example stack (default: dev) into out/plan-<stack>/
plan: venv
	$(PY) -m stackctl plan --stack $(STACK) --out $(OUT)

## All tests and linters (what CI runs)
test: venv checkov-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy components stackctl planner
	$(PY) -m pytest -q -n 2

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy components stackctl planner

## Regenerate golden files under tests/golden/ and the README configuration table after an intended change
golden: venv
	$(PY) -m tests.regenerate_golden
	$(PY) -m stackctl.docs

## Mutation score per module group (mutmut; not part of `make test` or CI: minutes per group).
## GROUPS="sizing rules vllm_args diff render" (default all); MUTATION_ARGS e.g. --survivors --fresh
mutation: venv
	$(PY) tools/mutation.py $(GROUPS) $(MUTATION_ARGS)

## Benchmarks (not tests). Plan time of the offline plan vs an import floor; the ECS boot critical
## path in the sandbox. (The endpoint load test is `python -m stackctl bench`, against a server.)
bench-plan-time: venv
	$(PY) bench/plan_time.py

bench-boot-path: venv
	$(PY) bench/boot_path.py

## Failed requests during a serving change across 2 groups behind a load balancer (sandbox)
bench-rolling: venv
	$(PY) bench/rolling.py

clean:
	rm -rf $(VENV) out
