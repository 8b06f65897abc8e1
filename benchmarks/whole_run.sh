#!/usr/bin/env bash
# The comparison table's rows selected for the whole run (benchmarks/README.md, "Selecting for the whole run"), one
# row at a time, so that each row's result lands before the next row's studies: the row's two studies (30 trials),
# their winners exported to benchmarks/hyperparams/<row>_whole.yml, its 20 runs (seeds 0-9 on both tasks, 1M steps)
# added to comparison.txt, both committed (a run records its commit and refuses uncommitted changes), then run.
# Every step skips what is done: run it again to resume. WORKERS (trials) and JOBS (runs) in parallel, one core each.
#
#   nohup benchmarks/whole_run.sh > benchmarks/logs/whole_run.log 2>&1 &
#   WORKERS=16 JOBS=16 benchmarks/whole_run.sh          # on a 16-core machine
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${WORKERS:-1} JOBS=${JOBS:-1} PYTHON=${PYTHON:-.venv/bin/python}
ROWS=${ROWS:-reinforce_baseline_lambda1 reinforce reinforce_baseline onestep_ac a2c}
declare -A PREFIX=([HalfCheetah-v5]=hc [Hopper-v5]=ho)

for name in $ROWS; do
  algo=${name%_lambda1}
  fixed=() && [ "$name" != "$algo" ] && fixed=(--fixed gae_lambda=1.0)
  conf=benchmarks/hyperparams/${name}_whole.yml
  for env in HalfCheetah-v5 Hopper-v5; do
    study=$name-$env-whole
    storage=benchmarks/results/tuning/$study.log
    "$PYTHON" benchmarks/zoo_runs.py tune --rule whole-run --algo "$algo" --env "$env" "${fixed[@]}" --n-trials 30 \
      --n-timesteps 500000 --workers "$WORKERS" --sampler tpe --pruner median --n-evaluations 10 --eval-episodes 5 \
      --seed 200 --storage "$storage" --study-name "$study" --results benchmarks/results/tuning
    if ! grep -q "^$env:" "$conf" 2>/dev/null; then
      "$PYTHON" benchmarks/zoo_runs.py export --algo "$algo" --env "$env" --storage "$storage" --study-name "$study" \
        --definition "benchmarks/results/tuning/$study.json" >> "$conf"
    fi
  done
  for seed in 0 1 2 3 4 5 6 7 8 9; do
    for env in HalfCheetah-v5 Hopper-v5; do
      line="${PREFIX[$env]}_${name}_whole_s$seed --algo $algo --env $env --conf-file $conf --seed $seed"
      grep -qxF -- "$line" benchmarks/comparison.txt || echo "$line" >> benchmarks/comparison.txt
    done
  done
  if [ -n "$(git status --porcelain -- "$conf" benchmarks/comparison.txt)" ]; then
    git add -- "$conf" benchmarks/comparison.txt
    git commit -q -m "Comparison: the $name row selected for the whole run, its entries and 20 runs" \
      -- "$conf" benchmarks/comparison.txt
  fi
  "$PYTHON" benchmarks/zoo_runs.py run benchmarks/comparison.txt --results benchmarks/results/comparison --jobs "$JOBS"
done
