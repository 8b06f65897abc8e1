"""
Run a list of RL Zoo trainings through sb3-pg's harness, resumably, and summarise their evaluations.

Each line of a run list is ``NAME ZOO_TRAIN_ARGS...``; run NAME trains with

    python -m sb3_pg train --eval-freq 20000 --eval-episodes 10 --num-threads 1 ZOO_TRAIN_ARGS -f LOG_FOLDER/NAME

and, once finished, leaves LOG_FOLDER/NAME.done, so that a re-run skips it (a killed run starts over).

    python benchmarks/zoo_runs.py run benchmarks/hyperparams_runs.txt --log-folder benchmarks/logs
    python benchmarks/zoo_runs.py summarize --log-folder benchmarks/logs --out benchmarks/results/hyperparams_runs
"""

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

EVAL_ARGS = ["--eval-freq", "20000", "--eval-episodes", "10", "--num-threads", "1"]


def run(run_list: Path, log_folder: Path) -> None:
    log_folder.mkdir(parents=True, exist_ok=True)
    for line in run_list.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *args = shlex.split(line)
        if (log_folder / f"{name}.done").exists():
            continue
        # The run's own arguments come last, so that they override the evaluation defaults
        command = [sys.executable, "-m", "sb3_pg", "train", *EVAL_ARGS, *args, "-f", str(log_folder / name)]
        print(" ".join(command), flush=True)
        with open(log_folder / f"{name}.log", "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
        (log_folder / f"{name}.done").touch()


def summarize(log_folder: Path, out: Path) -> None:
    results = {}
    for done in sorted(log_folder.glob("*.done")):
        name = done.stem
        (evaluations,) = (log_folder / name).glob("*/*/evaluations.npz")
        data = np.load(evaluations)
        returns = data["results"]  # (n_evaluations, n_episodes)
        results[name] = {
            "timesteps": data["timesteps"].tolist(),
            "mean_return": returns.mean(axis=1).tolist(),
            "final_mean": float(returns[-1].mean()),
            "final_std": float(returns[-1].std()),
            "best_mean": float(returns.mean(axis=1).max()),
        }
    rows = ["| run | steps | final return (10 episodes, deterministic) | best evaluation |", "|---|---|---|---|"]
    for name, r in results.items():
        final = f"{r['final_mean']:.1f} ± {r['final_std']:.1f}"
        rows.append(f"| {name} | {r['timesteps'][-1]} | {final} | {r['best_mean']:.1f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    out.with_suffix(".md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("run_list", type=Path)
    run_parser.add_argument("--log-folder", type=Path, default=Path("benchmarks/logs"))
    summary_parser = commands.add_parser("summarize")
    summary_parser.add_argument("--log-folder", type=Path, default=Path("benchmarks/logs"))
    summary_parser.add_argument("--out", type=Path, default=Path("benchmarks/results/hyperparams_runs"))
    args = parser.parse_args()
    if args.command == "run":
        run(args.run_list, args.log_folder)
    else:
        summarize(args.log_folder, args.out)


if __name__ == "__main__":
    main()
