# rwm_tasks: one entry point for set-up, the demo and the tests. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rwm-setup-done
TORCH_VERSION := 2.13.0
ISAACLAB_VERSION := 3.0.0

ROBOT ?= go2
SCALE ?= full

.PHONY: help setup demo pipeline test test-fast clean-venv

help:
	@echo "make setup      create .venv with torch (CPU wheel without CUDA), Isaac Lab $(ISAACLAB_VERSION) kit-less, rsl-rl and rwm_tasks"
	@echo "make demo       set up, score the shipped Go2 policies in MuJoCo, train a short offline MOPO-PPO policy"
	@echo "                on the shipped world model, score it; report and video in demo/ (about 10 min on a CPU)"
	@echo "make pipeline   set up, reproduce the shipped results from scratch: ROBOT=go2|anymal_d SCALE=smoke|quick|full"
	@echo "make test       set up, then run the whole test suite"
	@echo "make test-fast  tests without the ones marked slow"

setup: $(STAMP)

# Re-runs only when a requirement changes, so a second `make setup` takes seconds.
$(STAMP): requirements/base.txt requirements/test.txt requirements/mujoco.txt setup.py extension.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# torch first, so no resolver pulls a CUDA build: the CPU wheel unless an NVIDIA driver is present
	if $(BIN)/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" 2>/dev/null; then \
	  echo "torch $(TORCH_VERSION) already installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1; then \
	  $(BIN)/pip install --quiet torch==$(TORCH_VERSION); \
	else \
	  $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)+cpu" \
	  || $(BIN)/pip install --quiet torch==$(TORCH_VERSION) --index-url https://download.pytorch.org/whl/cpu; \
	fi
	@# Isaac Lab 3.0.0 is pure Python; its metadata pins torch 2.11 and Python 3.12, so install it
	@# without dependencies and list those explicitly (REFERENCE §4); the same on Python 3.11 and 3.12.
	$(BIN)/pip install --quiet --no-deps --ignore-requires-python isaaclab==$(ISAACLAB_VERSION)
	$(BIN)/pip install --quiet -r requirements/base.txt -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps -r requirements/mujoco.txt
	@# replacing an older mujoco can delete files mujoco-core just wrote: reinstall if the import broke
	$(BIN)/python -c "import mujoco.batch" 2>/dev/null || $(BIN)/pip install --quiet --no-deps --force-reinstall -r requirements/mujoco.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/python -c "import torch, isaaclab, rsl_rl, mujoco, rwm_tasks; print('rwm_tasks set up: torch', torch.__version__, '| mujoco', mujoco.__version__)"
	touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py --robot go2 --out demo

pipeline: setup
	$(BIN)/python scripts/pipeline.py --robot $(ROBOT) --scale $(SCALE) --out runs/pipeline_$(ROBOT)_$(SCALE)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

clean-venv:
	rm -rf $(VENV)
