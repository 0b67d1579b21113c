# Quick start: `make demo` and `make test` each set up what they need, then run.
# Set-up is idempotent: a second run finds the stamp files and does nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
JUDGE_VENV := .venv-judge
STAMP := $(VENV)/.wethink-installed
JUDGE_STAMP := $(JUDGE_VENV)/.wethink-installed
PIP := $(PY) -m pip --disable-pip-version-check

.PHONY: setup setup-judge demo test test-fast bench clean doctor gpu-smoke

setup: $(STAMP)

$(STAMP): setup.py requirements/env.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24"
	$(PIP) install -q -r requirements/env.txt
	$(PIP) install -q -e ".[verl,demo,test]"
	@touch $@

# The real vLLM OpenAI server for judge tests lives in its own venv (it pins another torch).
setup-judge: $(JUDGE_STAMP)

$(JUDGE_STAMP): requirements/judge-env.txt
	@test -x $(JUDGE_VENV)/bin/python || $(PYTHON) -m venv $(JUDGE_VENV)
	$(JUDGE_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/judge-env.txt
	# CUDA-linked companions break `from vllm import LLM` on CPU
	-$(JUDGE_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	@touch $@

demo: setup
	$(VENV)/bin/wethink-verl demo

doctor: setup
	$(VENV)/bin/wethink-verl doctor

test: setup setup-judge
	WETHINK_JUDGE_PYTHON=$(CURDIR)/$(JUDGE_VENV)/bin/python $(PY) -m pytest

# Everything but the slow end-to-end tests (Ray, vLLM server).
test-fast: setup
	$(PY) -m pytest -m "not slow"

# Speed and memory figures (README "Benchmarks"): each prints a table, ours next to its peer.
bench: setup
	$(PY) benchmarks/bench_verifiers.py
	$(PY) benchmarks/bench_reward_hacking.py
	$(PY) benchmarks/bench_reward_loop.py
	$(PY) benchmarks/bench_judge.py
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_faults.py
	$(PY) benchmarks/bench_report.py

# Needs a GPU machine with requirements/gpu.txt installed (README "GPU environment"); not run by CI.
gpu-smoke:
	bash recipes/verl/smoke_1gpu.sh

clean:
	rm -rf $(VENV) $(JUDGE_VENV) outputs .pytest_cache
