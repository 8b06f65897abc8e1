# The two commands of the README. Both create .venv on first use, installing the CPU build of torch
# before anything that depends on torch (otherwise pip pulls several GB of CUDA packages).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: train test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[tests]"
	touch $@

# Train REINFORCE with baseline on CartPole-v1 and print its evaluation
train: $(VENV)/.installed
	WANDB_MODE=offline $(PY) -m sb3_pg --algo reinforce_baseline --env CartPole-v1 --n-timesteps 100000 --seed 0

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	WANDB_MODE=offline $(PY) -m pytest -q
