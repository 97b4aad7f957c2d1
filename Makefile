# The two commands: `make run` (the main job on the local stack) and `make test` (the suite).
# Both set everything up on a fresh machine: .venv, Python packages, and (where needed) npm tools.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
INFRA_VENV := .venv-infra
INFRA_STAMP := $(INFRA_VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test test-alone test-random demo bench fuzz lint typecheck clean help

help:
	@echo "make run    - start the whole app on the local stack (Ctrl-C to stop)"
	@echo "make test   - set up and run the test suite"
	@echo "make test-alone  - run every end-to-end test alone, one pytest process each (slow)"
	@echo "make test-random - the unit, contract and end-to-end tests in a random order"
	@echo "make demo   - play the default scenario and write a report"
	@echo "make bench  - run the benchmarks (JSON + table in bench/results/)"
	@echo "make fuzz   - the fuzz suite (tests/fuzz) with 5,000 examples per property"
	@echo "make lint   - ruff + mypy + checkov (infra/*.bicep)"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Node tools (Azurite) from the npm registry, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NODE_STAMP)

run: $(STAMP)
	$(PY) -m local run

# Two pytest workers (pytest-xdist), a test file per worker at a time (`--dist loadfile`: a module's
# shared local stack stays in one process). The suite mostly waits on the local stack (CPU is about
# 45 % of its wall time serially), so two workers on 2 cores take ~6-7 min instead of ~9-10.
test: $(STAMP) $(NODE_STAMP) browser
	$(PY) -m pytest -q -n 2 --dist loadfile

# Order independence: every test passes alone and in any order (tests/tools/run_alone.py; the
# suite itself runs a sample of two alone: tests/e2e/test_each_test_passes_alone.py).
test-alone: $(STAMP) $(NODE_STAMP)
	$(PY) -m tests.tools.run_alone --all

test-random: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest -q --random-order tests/unit tests/contract tests/e2e

demo: $(STAMP)
	$(PY) -m local demo --scenario local/scenarios/demo.json --report .local/demo-report.json

bench: $(STAMP)
	$(PY) -m bench

# The fuzz suite runs in `make test` with 100 examples per property; this is the long run.
fuzz: $(STAMP)
	CTS_FUZZ_EXAMPLES=5000 $(PY) -m pytest tests/fuzz -q -p no:randomly --hypothesis-show-statistics

lint: $(STAMP) $(INFRA_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared
	BC_SKIP_MAPPING=TRUE $(INFRA_VENV)/bin/checkov -d infra --framework bicep --compact --quiet --skip-download

# checkov in its own venv (requirements-infra.txt says why). Accepted findings are skipped in
# infra/resources.bicep with a reason each (docs/deployment.md, "Accepted findings").
$(INFRA_STAMP): requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	touch $(INFRA_STAMP)

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .venv-infra

# Debian's Chromium and its driver for the ops page's browser test (tests/ops); runs as root in CI.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are there.
.PHONY: browser
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; fi
