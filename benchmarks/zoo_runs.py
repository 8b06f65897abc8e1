"""
Run a list of RL Zoo trainings through sb3-pg's harness, resumably, and summarise them across seeds.

Each line of a run list is ``NAME ZOO_TRAIN_ARGS...``, with NAME ending in ``_s<seed>``; run NAME trains with

    python -m sb3_pg train --eval-freq 20000 --eval-episodes 10 --num-threads 1 ZOO_TRAIN_ARGS -f LOGS/NAME

and, once finished, writes RESULTS/runs/NAME.csv (its evaluations: one row per evaluation, the return of each
of the deterministic episodes) and RESULTS/runs/NAME.json (command, wall time, summary). A re-run skips the
runs whose results exist, so the committed results are the resume point across machines; a killed run leaves
no result and starts over from a clean log folder. A run is claimed by a lock file holding the runner's PID,
so that runners started side by side on one list share it out. With ``--episodes``, RESULTS/runs/NAME_episodes.csv keeps
the training episodes too (return, length and the env step at which each ended).

    python benchmarks/zoo_runs.py run benchmarks/mujoco.txt --results benchmarks/results/mujoco --jobs 2
    python benchmarks/zoo_runs.py summarize benchmarks/mujoco.txt --results benchmarks/results/mujoco
"""

import argparse
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

EVAL_ARGS = ["--eval-freq", "20000", "--eval-episodes", "10", "--num-threads", "1"]
METHODS = ["reinforce", "reinforce_baseline", "onestep_ac", "a2c", "ppo"]


def read_run_list(path: Path) -> list[tuple[str, list[str]]]:
    runs = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, *args = shlex.split(line)
            if not re.search(r"_s\d+$", name):
                raise ValueError(f"{path}: run name {name!r} must end in _s<seed>")
            runs.append((name, args))
    return runs


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def training_episodes(save_path: Path) -> list[tuple[int, float, int]]:
    """(env step at which it ended, return, length) of every finished training episode, in env-step order.

    DummyVecEnv steps its envs in lockstep, so an episode that ends at step k of its own env ends at global
    step n_envs * k (as ``num_timesteps`` counts).
    """
    monitors = sorted(save_path.glob("*.monitor.csv"))
    episodes = []
    for monitor in monitors:
        with open(monitor) as file:
            next(file)  # the JSON header line
            own_steps = 0
            for row in csv.DictReader(file):
                own_steps += int(row["l"])
                episodes.append((len(monitors) * own_steps, float(row["r"]), int(row["l"])))
    return sorted(episodes)


def write_rows(path: Path, header: list[str], rows: list) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    tmp.rename(path)


def claim(lock: Path) -> bool:
    """Take the run unless a live runner holds it (a lock whose runner died is taken over)."""
    try:
        descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return False
        except (ProcessLookupError, ValueError):
            lock.unlink(missing_ok=True)
            return claim(lock)
    os.write(descriptor, str(os.getpid()).encode())
    os.close(descriptor)
    return True


def train(name: str, args: list[str], logs: Path, runs: Path, episodes: bool) -> None:
    lock = logs / f"{name}.lock"
    if not claim(lock):
        return
    try:
        if not (runs / f"{name}.csv").exists():  # checked once claimed: another runner may just have finished it
            _train(name, args, logs, runs, episodes)
    finally:
        lock.unlink(missing_ok=True)


def _train(name: str, args: list[str], logs: Path, runs: Path, episodes: bool) -> None:
    log_folder = logs / name
    shutil.rmtree(log_folder, ignore_errors=True)  # what a killed run left
    # The run's own arguments come last, so that they override the evaluation defaults
    command = [sys.executable, "-m", "sb3_pg", "train", *EVAL_ARGS, *args, "-f", str(log_folder)]
    print(f"start {name}: {shlex.join(command)}", flush=True)
    start = time.time()
    with open(logs / f"{name}.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall_time = time.time() - start
    (save_path,) = log_folder.glob("*/*_1")
    evaluations = np.load(save_path / "evaluations.npz")
    returns = evaluations["results"]  # (n_evaluations, n_episodes)
    if episodes:
        write_rows(runs / f"{name}_episodes.csv", ["timesteps", "return", "length"], training_episodes(save_path))
    header = ["timesteps", *(f"return_{i}" for i in range(returns.shape[1]))]
    write_rows(runs / f"{name}.csv", header, [[t, *r] for t, r in zip(evaluations["timesteps"], returns, strict=True)])
    summary = {
        "name": name,
        "command": f"python -m sb3_pg train {shlex.join([*EVAL_ARGS, *args])}",
        "commit": git_commit(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_time, 1),
        "final_return": float(returns[-1].mean()),
    }
    (runs / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"done {name} in {wall_time / 60:.1f} min: final return {summary['final_return']:.1f}", flush=True)


def run(run_list: Path, logs: Path, results: Path, jobs: int, episodes: bool) -> None:
    runs = results / "runs"
    logs.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    todo = [(name, args) for name, args in read_run_list(run_list) if not (runs / f"{name}.csv").exists()]
    print(f"{len(todo)} runs to do", flush=True)
    with ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(train, name, args, logs, runs, episodes) for name, args in todo]:
            future.result()


def load_evaluations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return data[:, 0], data[:, 1:].mean(axis=1)


def first_reaching(path: Path, threshold: float, window: int) -> tuple[int, int] | None:
    """(episodes, env steps) until the mean return of the last ``window`` training episodes reaches threshold."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    returns = data[:, 1]
    for end in range(window, len(returns) + 1):
        if returns[end - window : end].mean() >= threshold:
            return end, int(data[end - 1, 0])
    return None


def running_mean_curve(path: Path, grid: np.ndarray, window: int) -> np.ndarray:
    """Mean return of the last ``window`` training episodes finished by each env step of the grid (NaN before)."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    steps, returns = data[:, 0], data[:, 1]
    cumulative = np.concatenate([[0.0], np.cumsum(returns)])
    counts = np.searchsorted(steps, grid, side="right")
    first = np.maximum(counts - window, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (cumulative[counts] - cumulative[first]) / (counts - first), np.nan)


def plot(curves: dict, title: str, ylabel: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, (grid, values) in curves.items():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any seed's first episode
            mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        axis.plot(grid, mean, label=f"{label} ({len(values)} seed{'s' if len(values) > 1 else ''})")
        axis.fill_between(grid, mean - std, mean + std, alpha=0.2)
    axis.set(title=title, xlabel="env steps", ylabel=ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def summarize(run_list: Path, results: Path, threshold: float | None, window: int) -> None:
    """Tables (markdown + JSON) and one learning-curve plot per env, over the seeds finished so far."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    settings: dict[tuple[str, str], list[str]] = {}
    for name, args in read_run_list(run_list):
        key = option(args, "--env"), option(args, "--algo")
        seed = args.index("--seed")
        unseeded = args[:seed] + args[seed + 2 :]
        if settings.setdefault(key, unseeded) != unseeded:
            raise ValueError(f"{run_list}: {name} differs from {groups[key][0]} in more than the seed")
        groups[key].append(name)
    runs = results / "runs"
    table = ["| env | method | seeds | final return | area under curve | per-seed final | minutes/run |"]
    table.append("|---|---|---|---|---|---|---|")
    reaching = [f"| env | method | seeds reaching {threshold} | episodes | env steps | per seed (episodes / steps) |"]
    reaching.append("|---|---|---|---|---|---|")
    summary, curves = {}, defaultdict(dict)
    for (env, algo), names in sorted(groups.items(), key=lambda item: (item[0][0], METHODS.index(item[0][1]))):
        done = [name for name in names if (runs / f"{name}.csv").exists()]
        if not done:
            continue
        evaluations = [load_evaluations(runs / f"{name}.csv") for name in done]
        # One grid for every seed: the evaluation times of the shortest run (vec envs shift them by < n_envs)
        length = min(len(returns) for _, returns in evaluations)
        grid = evaluations[0][0][:length]
        curve = np.array([returns[:length] for _, returns in evaluations])
        final, auc = curve[:, -1], curve.mean(axis=1)
        minutes = [json.loads((runs / f"{name}.json").read_text())["wall_time_s"] / 60 for name in done]
        per_seed = " / ".join(f"{value:.0f}" for value in final)
        table.append(
            f"| {env} | {algo} | {len(done)} | {final.mean():.1f} ± {final.std():.1f} | {auc.mean():.1f} ± "
            f"{auc.std():.1f} | {per_seed} | {np.mean(minutes):.1f} |"
        )
        entry = {"runs": done, "timesteps": grid.tolist(), "final": final.tolist(), "auc": auc.tolist()}
        curves["eval", env][algo] = (grid, curve)
        if threshold is not None:
            episode_files = [runs / f"{name}_episodes.csv" for name in done]
            reached = [first_reaching(path, threshold, window) for path in episode_files]
            hits = np.array([r for r in reached if r is not None]).reshape(-1, 2)
            cells = " · ".join("not reached" if r is None else f"{r[0]} / {r[1]}" for r in reached)
            mean_std = [f"{hits[:, i].mean():.0f} ± {hits[:, i].std():.0f}" if len(hits) else "-" for i in (0, 1)]
            reaching.append(f"| {env} | {algo} | {len(hits)}/{len(done)} | {mean_std[0]} | {mean_std[1]} | {cells} |")
            entry["reached"] = reached
            train_grid = np.linspace(0, grid[-1], 101)[1:]
            curves["train", env][algo] = (
                train_grid,
                np.array([running_mean_curve(path, train_grid, window) for path in episode_files]),
            )
        summary[f"{env}/{algo}"] = entry
    notes = [
        "Final return: mean ± std over seeds of each seed's last evaluation (10 deterministic episodes on a",
        "separate env). Area under curve: mean over evaluations of the return, averaged the same way.",
    ]
    markdown = "\n".join([*notes, "", *table])
    if threshold is not None:
        notes = [f"Episodes and env steps until the mean return of the last {window} training episodes first"]
        notes.append(f"reaches {threshold}, over the seeds that reach it.")
        markdown += "\n\n" + "\n".join([*notes, "", *reaching])
    (results / "summary.md").write_text(markdown + "\n")
    (results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for (kind, env), by_algo in curves.items():
        if kind == "eval":
            plot(by_algo, f"{env}: deterministic evaluation", "return (10 episodes)", results / f"{env}.png")
        else:
            ylabel = f"mean return of the last {window} training episodes"
            plot(by_algo, f"{env}: training episodes", ylabel, results / f"{env}_training.png")
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the runs of the list that have no results yet")
    run_parser.add_argument("run_list", type=Path)
    run_parser.add_argument("--results", type=Path, required=True)
    run_parser.add_argument("--logs", type=Path, default=Path("benchmarks/logs"))
    run_parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one core each)")
    run_parser.add_argument("--episodes", action="store_true", help="keep the training episodes too")
    summary_parser = commands.add_parser("summarize", help="tables and plots of the finished runs")
    summary_parser.add_argument("run_list", type=Path)
    summary_parser.add_argument("--results", type=Path, required=True)
    summary_parser.add_argument("--threshold", type=float, help="report episodes/steps until this return")
    summary_parser.add_argument("--window", type=int, default=100, help="training episodes averaged")
    args = parser.parse_args()
    if args.command == "run":
        if args.jobs < 1:
            parser.error("--jobs must be >= 1")
        run(args.run_list, args.logs, args.results, args.jobs, args.episodes)
    else:
        summarize(args.run_list, args.results, args.threshold, args.window)


if __name__ == "__main__":
    main()
