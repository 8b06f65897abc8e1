#!/usr/bin/env bash
# Throughput of two commits of sb3-pg measured alternately (old, new, new, old, old, new: one repeat of
# benchmarks/throughput.py each, the same command), so that load on the machine falls on both alike.
#   bash benchmarks/throughput_ab.sh OLD_COMMIT NEW_COMMIT OUT_DIR
# AB_ARGS adds options of throughput.py (e.g. AB_ARGS="--cpu-time --n-envs 1").
# writes OUT_DIR/{old,new}_<round>.{json,md}; run from the repository root with the venv's python.
set -euo pipefail
old=$1 new=$2 out=$(realpath -m "$3")
python=${PYTHON:-$(pwd)/.venv/bin/python}
methods="reinforce reinforce_baseline onestep_ac a2c a2c_n_steps_1 env_only"
args=(--envs CartPole-v1 HalfCheetah-v5 --n-envs 1 8 --repeats 1 --steps 10000 --methods $methods ${AB_ARGS:-})
work=$(mktemp -d)
git worktree add -q "$work/old" "$old"
git worktree add -q "$work/new" "$new"
trap 'git worktree remove --force "$work/old"; git worktree remove --force "$work/new"' EXIT
mkdir -p "$out"
# This checkout's throughput.py measures both commits (its options may be newer than the old commit's)
script=$(realpath benchmarks/throughput.py)
measure() { (cd "$work/$1" && PYTHONPATH="$work/$1" "$python" "$script" "${args[@]}" --out "$out/$1_$2"); }
measure old 0; measure new 0; measure new 1; measure old 1; measure old 2; measure new 2
