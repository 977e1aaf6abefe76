# Two entry points (README Quickstart): `make demo` and `make test`. Each creates or
# updates the virtual environment it needs. torch is pinned to the CPU wheel first, so
# the project's range does not pull a multi-GB CUDA build.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.installed-test-stamp
PIP_QUIET := { grep -v '^WARNING: Location' || true; }

.PHONY: demo test check lint install clean-runs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | $(PIP_QUIET)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | $(PIP_QUIET)
	touch $(STAMP)

# The tests also cover the optional engines (Ray); `make demo` and the default install stay without them.
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,ray]' 2>&1 | $(PIP_QUIET)
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(VENV)/bin/edco run configs/demo.yaml

# The whole suite (README, CI): the linter first, then every test.
test: $(TEST_STAMP) lint
	$(PY) -m pytest -q --durations=15

# The fast tier while editing: the linter and the unit tests (no flow, not the real model, not the crash matrix).
check: $(TEST_STAMP) lint
	$(PY) -m pytest -q -m "not slow and not flow" --durations=10

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-runs:
	rm -rf runs
