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
	$(PY) -m pip install -q -e ".[tests,benchmarks]"
	touch $@

# Train REINFORCE with baseline on CartPole-v1 through the RL Zoo harness, then run the trained
# agent for 5000 steps (10 episodes once CartPole is solved) and print its mean return
train: $(VENV)/.installed
	WANDB_MODE=offline $(PY) -m sb3_pg train --algo reinforce_baseline --env CartPole-v1 --seed 0 -f logs --log-interval -2
	$(PY) -m sb3_pg enjoy --algo reinforce_baseline --env CartPole-v1 -f logs --exp-id 0 --no-render -n 5000 \
		| grep -E "^(Mean reward|[0-9]+ Episodes)"

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	WANDB_MODE=offline $(PY) -m pytest -q
