# The two commands of the README (train, test) and what CI runs besides (conformance, core, smoke). Each creates
# its virtualenv on first use, installing the CPU build of torch before anything that depends on torch
# (otherwise pip pulls several GB of CUDA packages).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0
# The extras installed (all of them; the Python 3.10 check of CI leaves out the docs' tools)
EXTRAS ?= all
# The pinned benchmark environment (benchmarks/constraints.txt); Python 3.10, which its numpy no longer supports,
# installs from a resolution made for it (pip's own resolver backtracks for too long there)
CONSTRAINTS := $(shell $(PYTHON) -c 'import sys; print("-c .ci/constraints-py310.txt" if sys.version_info < (3, 11) else "-c benchmarks/constraints.txt")')

.PHONY: train test conformance core smoke docs

# Everything: the package with all its extras (zoo, mujoco, box2d, benchmarks, tests), editable
$(VENV)/.installed: pyproject.toml benchmarks/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q $(CONSTRAINTS) -e ".[$(EXTRAS)]"
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

# SB3's own test suite (downloaded from the package index at the installed version) with our classes in A2C's place
conformance: $(VENV)/.installed
	$(PY) tests/conformance/run.py

# The package alone (`pip install .`, no extras) in a fresh virtualenv: the three classes train, save and load,
# and the sb3-pg command says in one line which extra it needs
core:
	rm -rf .venv-core
	$(PYTHON) -m venv .venv-core
	.venv-core/bin/python -m pip install -q --upgrade pip
	.venv-core/bin/python -m pip install -q $(TORCH)
	.venv-core/bin/python -m pip install -q .
	cd .venv-core && bin/python $(abspath tests/core_install.py)

# A brief check of another Python (CI: 3.10): install, import, and train each algorithm through the zoo
smoke: $(VENV)/.installed
	cd $(VENV) && for algo in reinforce reinforce_baseline onestep_ac; do \
		WANDB_MODE=offline $(abspath $(PY)) -m sb3_pg train --algo $$algo --env CartPole-v1 -n 2000 --seed 0 \
			-f smoke-logs --log-interval -2 || exit 1; \
	done
	$(PY) -c "import sys, sb3_pg; print('sb3-pg', sb3_pg.__version__, 'trains under Python', sys.version.split()[0])"

# The documentation site (docs/), warnings as errors
docs: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
