"""
Run a list of RL Zoo trainings through sb3-pg's harness on Ray, resumably, and summarise them across seeds.

Each line of a run list is ``NAME ZOO_TRAIN_ARGS...``, with NAME ending in ``_s<seed>``; run NAME trains with

    sb3-pg train --eval-freq 20000 --eval-episodes 10 --num-threads 1 ZOO_TRAIN_ARGS

as one Ray task (one CPU, its own worker process, a temporary log folder), on a local Ray runtime started by
the command or on an existing cluster (``--address``). The task returns its results and the driver writes
RESULTS/runs/NAME.csv (its evaluations: one row per evaluation, the return of each deterministic episode) and
RESULTS/runs/NAME.json (command, commit, wall time, final return) as each run finishes: no shared file system
is needed, and the committed results are the resume point, since a re-run skips the runs whose results exist.
Ray retries a run once if its worker dies or it fails; a run that fails twice is reported and the others go
on. With ``--episodes``, RESULTS/runs/NAME_episodes.csv keeps the training episodes too (return, length and the
env step at which each ended).

    python benchmarks/zoo_runs.py run benchmarks/mujoco.txt --results benchmarks/results/mujoco --jobs 2
    python benchmarks/zoo_runs.py summarize benchmarks/mujoco.txt --results benchmarks/results/mujoco
"""

import argparse
import contextlib
import csv
import io
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

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


def train_run(name: str, args: list[str], episodes: bool, repository: str | None) -> dict:
    """
    One run of a list, as a Ray task: trains through the zoo harness (``sb3-pg train``) in this worker
    process, in a fresh temporary folder, and returns what the driver writes to disk, so that no file system
    is shared. ``repository`` is the checkout to run from (the driver's, on one machine; ``None`` on a
    cluster, where Ray ships it as the task's working directory).
    """
    from sb3_pg.zoo import main as zoo

    if repository is not None:
        os.chdir(repository)  # run-list arguments name files relative to the repository
    with tempfile.TemporaryDirectory() as folder:
        log = io.StringIO()
        start = time.time()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                zoo(["train", *EVAL_ARGS, *args, "-f", folder])
        except SystemExit as error:  # the zoo's own exit on bad input: an error of the run, not of the worker
            raise RuntimeError(f"{name}: sb3-pg train exited: {error}\n{log.getvalue()[-2000:]}") from None
        wall_time = time.time() - start
        (save_path,) = Path(folder).glob("*/*_1")
        evaluations = np.load(save_path / "evaluations.npz")
        return {
            "name": name,
            "timesteps": evaluations["timesteps"].tolist(),
            "returns": evaluations["results"].tolist(),  # (n_evaluations, n_episodes)
            "episodes": training_episodes(save_path) if episodes else None,
            "wall_time_s": round(wall_time, 1),
            "log": log.getvalue(),
        }


def write_run(result: dict, args: list[str], runs: Path, logs: Path, commit: str) -> None:
    """The driver's side of a finished run: RESULTS/runs/NAME.{csv,json} (and _episodes.csv), LOGS/NAME.log."""
    name, returns = result["name"], np.array(result["returns"])
    (logs / f"{name}.log").write_text(result["log"])
    if result["episodes"] is not None:
        write_rows(runs / f"{name}_episodes.csv", ["timesteps", "return", "length"], result["episodes"])
    summary = {
        "name": name,
        "command": f"python -m sb3_pg train {shlex.join([*EVAL_ARGS, *args])}",
        "commit": commit,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": result["wall_time_s"],
        "final_return": float(returns[-1].mean()),
    }
    (runs / f"{name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    # The evaluations last: a run counts as finished once its CSV exists
    header = ["timesteps", *(f"return_{i}" for i in range(returns.shape[1]))]
    write_rows(runs / f"{name}.csv", header, [[t, *r] for t, r in zip(result["timesteps"], returns, strict=True)])


def start_ray(address: str | None, jobs: int) -> str | None:
    """A local Ray runtime (``address=None``) or an existing cluster; returns the repository for the tasks."""
    import ray

    repository = Path(__file__).resolve().parents[1]
    # Ray runs its workers at nice 15, as background work; here they are the work, and at that niceness any other
    # busy process on the machine starves them (a 1000-step training took minutes beside two others)
    os.environ.setdefault("RAY_worker_niceness", "0")
    if address is None:
        # "local": a new runtime, never a cluster that `ray start` left on this machine
        ray.init(
            address="local",
            num_cpus=jobs,
            include_dashboard=False,
            log_to_driver=False,
            object_store_memory=256 * 1024**2,
        )
        return str(repository)
    # On a cluster the nodes need the same Python environment; the checkout travels with the tasks
    excludes = [".git", ".venv", "benchmarks/logs", "benchmarks/results", "logs"]
    ray.init(address=address, runtime_env={"working_dir": str(repository), "excludes": excludes}, log_to_driver=False)
    return None


def run(run_list: Path, logs: Path, results: Path, jobs: int, episodes: bool, address: str | None) -> bool:
    """
    Train the runs of the list that have no results yet as Ray tasks, at most ``jobs`` at a time, writing
    each one's results as it finishes. A task whose worker dies, or that fails, is retried once by Ray; a run
    that fails twice is reported and the others go on. Returns whether every run finished.
    """
    runs = results / "runs"
    logs.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    arguments = dict(read_run_list(run_list))
    pending = [name for name in arguments if not (runs / f"{name}.csv").exists()]
    print(f"{len(pending)} runs to do", flush=True)
    if not pending:
        return True
    import ray

    repository = start_ray(address, jobs)
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=1, retry_exceptions=True)(train_run)
    commit, started = git_commit(), time.time()
    running: dict = {}
    done: list[float] = []
    failed: list[str] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                running[task.remote(name, arguments[name], episodes, repository)] = name
                print(f"start {name}: {shlex.join(arguments[name])}", flush=True)
            (ready,), _ = ray.wait(list(running), num_returns=1)
            name = running.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as error:  # failed, or its worker died, twice
                failed.append(name)
                print(f"FAILED {name} (twice): {str(error).strip().splitlines()[-1]}", flush=True)
                continue
            write_run(result, arguments[name], runs, logs, commit)
            done.append(result["wall_time_s"])
            left = len(pending) + len(running)
            eta = np.mean(done) * left / min(jobs, max(left, 1)) / 60
            print(
                f"done {name} in {result['wall_time_s'] / 60:.1f} min: final return "
                f"{np.mean(result['returns'][-1]):.1f} | {len(done)} done, {len(running)} running, "
                f"{len(failed)} failed, {len(pending)} waiting | {(time.time() - started) / 60:.1f} min so far, "
                f"about {eta:.0f} min to go",
                flush=True,
            )
    finally:
        ray.shutdown()
    if failed:
        print(f"{len(failed)} runs failed: {', '.join(failed)} (logs under {logs}); re-run to retry them", flush=True)
    return not failed


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


def register_a2c_space() -> None:
    """
    The comparison table's tuned A2C: the zoo's A2C sampler plus the initial policy (log std, orthogonal init) that
    sb3-pg's samplers draw, so that every tuned row searches the same policy dimensions. Only the benchmarks use
    it: ``sb3-pg train --algo a2c -optimize`` keeps the zoo's space.
    """
    from rl_zoo3 import hyperparams_opt

    from sb3_pg.zoo import sample_policy_init, with_policy_init

    def sample_a2c_params(trial, n_actions: int, n_envs: int, additional_args: dict) -> dict:  # type: ignore[no-untyped-def]
        params = hyperparams_opt.sample_a2c_params(trial, n_actions, n_envs, additional_args)
        params["policy_kwargs"].update(sample_policy_init(trial))
        return params

    hyperparams_opt.HYPERPARAMS_SAMPLER["a2c"] = sample_a2c_params
    hyperparams_opt.HYPERPARAMS_CONVERTER["a2c"] = with_policy_init(hyperparams_opt.convert_onpolicy_params)


def tune_worker(train_args: list[str], repository: str | None) -> None:
    """One tuning worker, as a Ray task: the zoo's optuna optimisation (``sb3-pg train -optimize``), shared study."""
    from sb3_pg.zoo import main as zoo

    register_a2c_space()
    if repository is not None:
        os.chdir(repository)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        try:
            zoo(["train", *train_args, "-f", folder])
        except SystemExit as error:
            raise RuntimeError(f"sb3-pg train -optimize exited: {error}") from None


def open_study(storage: str, study_name: str):  # type: ignore[no-untyped-def]
    import optuna

    if storage.endswith(".log"):  # the zoo's convention: a journal file
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    return optuna.load_study(storage=storage, study_name=study_name)


def finished_trials(study) -> list:  # type: ignore[no-untyped-def]
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def masked(url: str) -> str:
    """A storage URL without its password, to be written next to the results."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def tune(args: argparse.Namespace) -> bool:
    """
    ``workers`` tuning workers of one optuna study as Ray tasks, sharing ``n_trials`` between them (each its own
    sampler seed, so that no two draw the same trials); the study's definition, the budget every method gets,
    is written to RESULTS/<study>.json first. Trials lost with a dead worker are run again by a further round.
    """
    import ray

    definition = {
        "algo": args.algo,
        "env": args.env,
        "study_name": args.study_name,
        "storage": masked(args.storage),
        "n_trials": args.n_trials,
        "n_timesteps": args.n_timesteps,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "n_startup_trials": args.n_startup_trials,
        "n_evaluations": args.n_evaluations,
        "eval_episodes": args.eval_episodes,
        "workers": args.workers,
        "seeds": [args.seed + worker for worker in range(args.workers)],
        "commit": git_commit(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{args.study_name}.json").write_text(json.dumps(definition, indent=1) + "\n")
    common = [
        "--algo", args.algo, "--env", args.env, "-optimize", "--n-jobs", "1", "--num-threads", "1",
        "--storage", args.storage, "--study-name", args.study_name, "-n", str(args.n_timesteps),
        "--sampler", args.sampler, "--pruner", args.pruner, "--n-startup-trials", str(args.n_startup_trials),
        "--n-evaluations", str(args.n_evaluations), "--eval-episodes", str(args.eval_episodes), "--no-optim-plots",
    ]  # fmt: skip
    repository = start_ray(args.address, args.workers)
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=0)(tune_worker)
    try:
        for round_ in range(3):
            try:
                done = len(finished_trials(open_study(args.storage, args.study_name)))
            except KeyError:  # no study yet: the workers create it
                done = 0
            left = args.n_trials - done
            if left <= 0:
                break
            shares = [left // args.workers + (worker < left % args.workers) for worker in range(args.workers)]
            seed = args.seed + round_ * args.workers
            tasks = [
                task.remote([*common, "--n-trials", str(share), "--seed", str(seed + worker)], repository)
                for worker, share in enumerate(shares)
                if share
            ]
            print(f"round {round_}: {len(tasks)} workers for the {left} trials left", flush=True)
            for result in tasks:
                try:
                    ray.get(result)
                except ray.exceptions.RayError as error:
                    print(f"a worker failed: {str(error).strip().splitlines()[-1]}", flush=True)
    finally:
        ray.shutdown()
    study = open_study(args.storage, args.study_name)
    trials = finished_trials(study)
    best = study.best_trial
    print(f"{len(trials)} of {args.n_trials} trials finished; best value {best.value:.1f} (trial {best.number})")
    return len(trials) >= args.n_trials


def export(args: argparse.Namespace) -> str:
    """The study's best trial as an entry of a zoo hyperparameter file, citing the study."""
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER

    import sb3_pg.zoo

    register_a2c_space()
    study = open_study(args.storage, args.study_name)
    best = study.best_trial
    converted = HYPERPARAMS_CONVERTER[args.algo](best.params)
    with open(args.conf_file or sb3_pg.zoo.HYPERPARAMS_DIR / f"{args.algo}.yml") as file:
        # The entry it was tuned from (n_envs, normalize, ..., and its budget n_timesteps, not the trials')
        entry = dict(yaml.safe_load(file).get(args.env, {}))
    policy_kwargs = converted.pop("policy_kwargs", {})
    if policy_kwargs:  # the zoo replaced the entry's policy_kwargs with the sampled ones in every trial
        entry.pop("policy_kwargs", None)
    entry.update({key: float(value) if isinstance(value, float) else value for key, value in converted.items()})
    lines = [
        f"# Tuned: optuna study {args.study_name} ({masked(args.storage)}), the best of {len(finished_trials(study))}",
        f"# trials (trial {best.number}, value {best.value:.1f}); its definition: {args.definition}",
        f"{args.env}:",
        *(f"  {key}: {json.dumps(value)}" for key, value in sorted(entry.items())),
    ]
    if policy_kwargs:

        def literal(value):  # type: ignore[no-untyped-def]
            return f"nn.{value.__name__}" if isinstance(value, type) else repr(value)

        lines.append(f'  policy_kwargs: "dict({", ".join(f"{k}={literal(v)}" for k, v in policy_kwargs.items())})"')
    return "\n".join(lines) + "\n"


# The textbook order of seed 000: each method should beat the one before it
ORDER = ["reinforce", "reinforce_baseline", "a2c", "ppo"]
CONFIDENCE = "95% stratified-bootstrap confidence interval"


def group_runs(run_list: Path) -> dict[tuple[str, str], list[str]]:
    """
    (env, label) -> run names, where runs of one group differ only in their seed. The label is the algorithm,
    or, where one env has several settings of an algorithm, the run name without its env prefix and seed
    (``hc_ppo_zoo_s3`` -> ``ppo_zoo``).
    """
    entries = []
    for name, args in read_run_list(run_list):
        if "--seed" not in args:
            raise ValueError(f"{run_list}: run {name} has no --seed")
        seed = args.index("--seed")
        entries.append((name, option(args, "--env"), option(args, "--algo"), args[:seed] + args[seed + 2 :]))
    settings: dict[tuple[str, str], set] = defaultdict(set)
    for _, env, algo, unseeded in entries:
        settings[env, algo].add(tuple(unseeded))
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    configuration: dict[tuple[str, str], tuple] = {}
    for name, env, algo, unseeded in entries:
        stem = re.sub(r"_s\d+$", "", name)
        label = algo if len(settings[env, algo]) == 1 else stem.split("_", 1)[-1]
        if configuration.setdefault((env, label), tuple(unseeded)) != tuple(unseeded):
            raise ValueError(f"{run_list}: {name} differs from {groups[env, label][0]} in more than the seed")
        groups[env, label].append(name)
    return groups


def algo_of(label: str) -> str:
    return max((algo for algo in METHODS if label.startswith(algo)), key=len)


def interval(scores: dict[str, np.ndarray], reps: int) -> tuple[dict, dict]:
    """IQM and mean of each method's scores ``(runs, tasks)``, with their confidence intervals (rliable)."""
    from rliable import metrics

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    return estimates(scores, aggregate, reps)


def improvement(pairs: dict[str, tuple[np.ndarray, np.ndarray]], reps: int) -> tuple[dict, dict]:
    """P(X > Y) for each pair ``(x, y)`` of ``(runs, tasks)`` scores, with confidence intervals (rliable)."""
    from rliable import metrics

    return estimates(pairs, metrics.probability_of_improvement, reps)


def estimates(scores: dict, function: Callable, reps: int) -> tuple[dict, dict]:
    """
    rliable's point estimates and stratified-bootstrap intervals, reproducible and each key from its own
    stream, so that adding a row to a table leaves the others' intervals as they were. rliable's bootstraps
    draw their indices from NumPy's global RNG (``np.random.choice`` in ``update_indices``) and ignore
    ``random_state``, so that RNG is seeded for each key and restored afterwards.
    """
    from rliable import library as rly

    points, bounds = {}, {}
    state = np.random.get_state()
    try:
        for key, value in scores.items():
            np.random.seed(0)
            point, bound = rly.get_interval_estimates({key: value}, function, reps=reps)
            points[key], bounds[key] = point[key], bound[key]
    finally:
        np.random.set_state(state)
    return points, bounds


def random_policy_return(env_id: str, episodes: int = 10, seed: int = 0) -> float:
    """Mean return of uniformly random actions: the 0 of the normalised scores."""
    import gymnasium as gym

    import sb3_pg.zoo  # noqa: F401  (the zoo's extra environments)

    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def cell(point: np.ndarray, bounds: np.ndarray, index: int, digits: int = 0) -> str:
    return f"{point[index]:.{digits}f} [{bounds[0, index]:.{digits}f}, {bounds[1, index]:.{digits}f}]"


def short_table(rows: dict[str, dict[str, tuple[int, str, str]]], envs: list[str], names: dict[str, str]) -> str:
    """One row per method, the envs side by side: seeds, final IQM [CI] and mean ± sample std."""
    header = "| method | seeds | " + " | ".join(f"{env}: IQM [95% CI] | mean ± sample std" for env in envs) + " |"
    lines = [header, "|---|---|" + "---|---|" * len(envs)]
    for label, cells in rows.items():
        counts = [cells[env][0] if env in cells else 0 for env in envs]
        seeds = str(counts[0]) if len(set(counts)) == 1 else " / ".join(map(str, counts))
        values = [part for env in envs for part in (cells[env][1:] if env in cells else ("-", "-"))]
        lines.append(f"| {names.get(label, label)} | {seeds} | {' | '.join(values)} |")
    return "\n".join(lines)


def around_block(path: Path, marker: str) -> tuple[str, str]:
    """The text of ``path`` up to the line ``<!-- marker -->`` and from the line ``<!-- /marker -->`` on."""
    content = path.read_text()
    start, end = f"<!-- {marker} -->\n", f"<!-- /{marker} -->"
    if content.count(start) != 1 or content.count(end) != 1 or content.index(start) > content.index(end):
        raise ValueError(f"--readme {path}: needs one '<!-- {marker} -->' line and, after it, one '{end}' line")
    before, rest = content.split(start)
    return before + start, end + rest.split(end, 1)[1]


def iqm_band(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    IQM over seeds (rows) at each evaluation (columns) and its 95% percentile-bootstrap band, the seeds
    resampled with replacement: rliable's estimate, vectorised over the evaluations (its own loop would take
    minutes for a curve).
    """
    from scipy.stats import trim_mean

    samples = values[np.random.default_rng(seed).integers(0, len(values), size=(reps, len(values)))]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any seed's first episode
        boot = trim_mean(samples, 0.25, axis=1)
        return trim_mean(values, 0.25, axis=0), *np.nanpercentile(boot, [2.5, 97.5], axis=0)


def plot_curves(curves: dict, title: str, ylabel: str, path: Path) -> None:
    """IQM over seeds at each evaluation, with its confidence band."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for label, (grid, values) in curves.items():
        iqm, low, high = iqm_band(values)
        axis.plot(grid, iqm, label=f"{label} ({len(values)} seed{'s' if len(values) > 1 else ''})")
        axis.fill_between(grid, low, high, alpha=0.2)
    axis.set(title=f"{title}: IQM over seeds, 95% CI", xlabel="env steps", ylabel=ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_aggregate(points: dict, bounds: dict, profiles: tuple, path: Path) -> None:
    """Interval estimates of the normalised IQM and mean, and performance profiles (rliable's plots)."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.lines import Line2D
    from rliable import plot_utils

    labels = list(points)
    colors = dict(zip(labels, sns.color_palette("colorblind", len(labels)), strict=True))
    figure, _ = plot_utils.plot_interval_estimates(points, bounds, ["IQM", "Mean"], algorithms=labels, colors=colors)
    figure.savefig(path.with_name(path.stem + "_intervals.png"), dpi=120, bbox_inches="tight")
    plt.close(figure)
    (taus, profile, profile_bounds) = profiles
    figure, axis = plt.subplots(figsize=(7, 4.5))
    plot_utils.plot_performance_profiles(profile, taus, performance_profile_cis=profile_bounds, ax=axis, colors=colors)
    axis.legend(handles=[Line2D([0], [0], color=colors[label], lw=2, label=label) for label in labels])
    figure.tight_layout()
    figure.savefig(path.with_name(path.stem + "_profiles.png"), dpi=120)
    plt.close(figure)


def summarize(
    run_list: Path,
    results: Path,
    threshold: float | None,
    window: int,
    pairs: list[tuple[str, str]] = (),
    reps: int = 50_000,
    references: dict[str, float] | None = None,
    readmes: list[Path] = (),
    names: dict[str, str] | None = None,
) -> None:
    """
    Tables (markdown + JSON) and plots over the seeds finished so far, with rliable's statistics (Agarwal et al.,
    2021): per env and method the IQM and mean of the final return and of the area under the curve, each with
    its confidence interval, and the sample std; the probability of improvement for each adjacent pair of the
    textbook order and each pair asked for; the IQM and mean over envs of scores normalised from a random
    policy (0) to a reference (1: given, or the best method's mean final return on that env). Each of
    ``readmes`` gets the short table (final return, methods named by ``names``) between the lines
    ``<!-- R -->`` and ``<!-- /R -->``, R the name of the results folder.
    """
    names = names or {}
    groups = group_runs(run_list)
    unknown = set(names) - {label for _, label in groups}
    if unknown:
        raise ValueError(f"--name: {run_list} has no method labelled {', '.join(sorted(unknown))}")
    for readme in readmes:  # before the bootstrap's minutes, not after
        around_block(readme, results.name)
    runs = results / "runs"
    per_env: dict[str, dict[str, dict]] = defaultdict(dict)
    for (env, label), run_names in sorted(
        groups.items(), key=lambda item: (item[0][0], METHODS.index(algo_of(item[0][1])), item[0][1])
    ):
        done = [name for name in run_names if (runs / f"{name}.csv").exists()]
        if not done:
            continue
        evaluations = [load_evaluations(runs / f"{name}.csv") for name in done]
        # One grid for every seed: the evaluation times of the shortest run (vec envs shift them by < n_envs)
        length = min(len(returns) for _, returns in evaluations)
        curve = np.array([returns[:length] for _, returns in evaluations])
        minutes = [json.loads((runs / f"{name}.json").read_text())["wall_time_s"] / 60 for name in done]
        per_env[env][label] = {"runs": done, "grid": evaluations[0][0][:length], "curve": curve, "minutes": minutes}

    table = [
        "| env | method | seeds | final: IQM [CI] | final: mean [CI] | final: mean ± sample std | area: IQM [CI] "
        "| area: mean [CI] | per-seed final | minutes/run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict = {}
    short: dict[str, dict[str, tuple[int, str, str]]] = defaultdict(dict)
    improvements = ["| env | P(X > Y) | probability [CI] |", "|---|---|---|"]
    for env, methods in per_env.items():
        finals = {label: data["curve"][:, -1:] for label, data in methods.items()}
        areas = {label: data["curve"].mean(axis=1, keepdims=True) for label, data in methods.items()}
        final_points, final_bounds = interval(finals, reps)
        area_points, area_bounds = interval(areas, reps)
        for label, data in methods.items():
            final = finals[label][:, 0]
            spread = final.std(ddof=1) if len(final) > 1 else float("nan")
            iqm, mean_std = cell(final_points[label], final_bounds[label], 0), f"{final.mean():.0f} ± {spread:.0f}"
            short[label][env] = (len(final), iqm, mean_std)  # the short table's cells are the full one's
            table.append(
                f"| {env} | {label} | {len(final)} | {iqm} | "
                f"{cell(final_points[label], final_bounds[label], 1)} | {mean_std} | "
                f"{cell(area_points[label], area_bounds[label], 0)} | "
                f"{cell(area_points[label], area_bounds[label], 1)} | "
                f"{' / '.join(f'{value:.0f}' for value in final)} | {np.mean(data['minutes']):.1f} |"
            )
            summary[f"{env}/{label}"] = {
                "runs": data["runs"],
                "timesteps": data["grid"].tolist(),
                "final": final.tolist(),
                "auc": areas[label][:, 0].tolist(),
                "final_iqm": [final_points[label][0], *final_bounds[label][:, 0]],
                "final_mean": [final_points[label][1], *final_bounds[label][:, 1]],
                "auc_iqm": [area_points[label][0], *area_bounds[label][:, 0]],
                "auc_mean": [area_points[label][1], *area_bounds[label][:, 1]],
                "final_sample_std": spread,
            }
        # Adjacent pairs of the textbook order (every setting of each algorithm), then those asked for
        wanted = [
            (later, earlier)
            for first, second in itertools.pairwise(ORDER)
            for earlier in methods
            if algo_of(earlier) == first
            for later in methods
            if algo_of(later) == second
        ]
        wanted += [(x, y) for x, y in pairs if x in methods and y in methods and (x, y) not in wanted]
        if wanted:
            points, bounds = improvement({f"{x} > {y}": (finals[x], finals[y]) for x, y in wanted}, reps)
            for key in points:
                estimate = [float(np.squeeze(points[key])), *np.squeeze(bounds[key]).tolist()]
                improvements.append(f"| {env} | {key} | {estimate[0]:.2f} [{estimate[1]:.2f}, {estimate[2]:.2f}] |")
                summary.setdefault("probability_of_improvement", {})[f"{env}: {key}"] = estimate
        curves = {label: (data["grid"], data["curve"]) for label, data in methods.items()}
        plot_curves(curves, f"{env}: deterministic evaluation", "return (10 episodes)", results / f"{env}.png")

    notes = [
        "Final return: each seed's last evaluation (10 deterministic episodes on a separate env); area under the",
        "curve: its mean over the evaluations. IQM (interquartile mean) and mean over seeds, each with its",
        f"{CONFIDENCE} (rliable, Agarwal et al. 2021); the sample std over seeds.",
    ]
    markdown = "\n".join([*notes, "", *table])
    if len(improvements) > 2:
        markdown += (
            "\n\nProbability of improvement P(X > Y) of the final return (the chance that a run of X beats a run of Y),"
        )
        markdown += f"\nwith its {CONFIDENCE}:\n\n" + "\n".join(improvements)

    # Over envs: scores normalised between a random policy and a reference, for the methods run on every env
    common = set.intersection(*(set(methods) for methods in per_env.values())) if per_env else set()
    if len(per_env) > 1 and common:
        references = dict(references or {})
        scale = {}
        for env, methods in per_env.items():
            random_return = random_policy_return(env)
            reference = references.get(env, max(data["curve"][:, -1].mean() for data in methods.values()))
            scale[env] = (random_return, reference)
        n_runs = min(len(per_env[env][label]["runs"]) for env in per_env for label in common)
        labels = [label for label in next(iter(per_env.values())) if label in common]
        normalised = {
            label: np.stack(
                [
                    (per_env[env][label]["curve"][:n_runs, -1] - scale[env][0]) / (scale[env][1] - scale[env][0])
                    for env in per_env
                ],
                axis=1,
            )
            for label in labels
        }
        points, bounds = interval(normalised, reps)
        rows = ["| method | IQM [CI] | mean [CI] |", "|---|---|---|"]
        rows += [
            f"| {label} | {cell(points[label], bounds[label], 0, 2)} | {cell(points[label], bounds[label], 1, 2)} |"
            for label in labels
        ]
        envs = ", ".join(f"{env} ({low:.0f} → {high:.0f})" for env, (low, high) in scale.items())
        markdown += (
            f"\n\nOver envs ({n_runs} seeds each): final returns normalised from a random policy's (0) to a reference"
            f" (1; given, or the best method's mean final return): {envs}.\n\n" + "\n".join(rows)
        )
        summary["normalised"] = {"scale": scale, "iqm": {k: [points[k][0], *bounds[k][:, 0]] for k in labels}}
        from rliable import library as rly

        taus = np.linspace(-0.1, 1.3, 57)
        profile, profile_bounds = rly.create_performance_profile(normalised, taus, reps=2000)
        plot_aggregate(points, bounds, (taus, profile, profile_bounds), results / "aggregate.png")

    if threshold is not None:
        reaching = [
            f"| env | method | seeds reaching {threshold} | episodes | env steps | per seed (episodes / steps) |"
        ]
        reaching.append("|---|---|---|---|---|---|")
        for env, methods in per_env.items():
            curves = {}
            for label, data in methods.items():
                episode_files = [runs / f"{name}_episodes.csv" for name in data["runs"]]
                reached = [first_reaching(path, threshold, window) for path in episode_files]
                hits = np.array([r for r in reached if r is not None]).reshape(-1, 2)
                cells = " · ".join("not reached" if r is None else f"{r[0]} / {r[1]}" for r in reached)
                spread = [
                    f"{hits[:, i].mean():.0f} ± {hits[:, i].std(ddof=1) if len(hits) > 1 else 0:.0f}"
                    if len(hits)
                    else "-"
                    for i in (0, 1)
                ]
                reaching.append(
                    f"| {env} | {label} | {len(hits)}/{len(reached)} | {spread[0]} | {spread[1]} | {cells} |"
                )
                summary[f"{env}/{label}"]["reached"] = reached
                train_grid = np.linspace(0, data["grid"][-1], 101)[1:]
                curves[label] = (
                    train_grid,
                    np.array([running_mean_curve(path, train_grid, window) for path in episode_files]),
                )
            ylabel = f"mean return of the last {window} training episodes"
            plot_curves(curves, f"{env}: training episodes", ylabel, results / f"{env}_training.png")
        markdown += (
            f"\n\nEpisodes and env steps until the mean return of the last {window} training episodes first reaches "
            f"{threshold}, over the seeds that reach it (mean ± sample std).\n\n" + "\n".join(reaching)
        )
    for readme in readmes:
        before, after = around_block(readme, results.name)
        readme.write_text(before + short_table(short, list(per_env), names) + "\n" + after)
    (results / "summary.md").write_text(markdown + "\n")
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the runs of the list that have no results yet")
    run_parser.add_argument("run_list", type=Path)
    run_parser.add_argument("--results", type=Path, required=True)
    run_parser.add_argument("--logs", type=Path, default=Path("benchmarks/logs"))
    run_parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one core each)")
    run_parser.add_argument(
        "--address", help="an existing Ray cluster (auto, ray://host:10001); default: a local Ray runtime"
    )
    run_parser.add_argument("--episodes", action="store_true", help="keep the training episodes too")
    summary_parser = commands.add_parser("summarize", help="tables and plots of the finished runs")
    summary_parser.add_argument("run_list", type=Path)
    summary_parser.add_argument("--results", type=Path, required=True)
    summary_parser.add_argument("--threshold", type=float, help="report episodes/steps until this return")
    summary_parser.add_argument("--window", type=int, default=100, help="training episodes averaged")
    summary_parser.add_argument(
        "--pair", action="append", default=[], help="X,Y: also report P(X > Y) (labels as in the table)"
    )
    summary_parser.add_argument(
        "--reference", action="append", default=[], help="ENV=RETURN: the normalised score's 1 (default: best method)"
    )
    summary_parser.add_argument("--reps", type=int, default=50_000, help="bootstrap replications")
    summary_parser.add_argument(
        "--readme",
        action="append",
        default=[],
        type=Path,
        help="write the short table into this file's block <!-- R --> ... <!-- /R -->, R the results folder's name",
    )
    summary_parser.add_argument("--name", action="append", default=[], help="LABEL=TEXT: the method's name there")
    tune_parser = commands.add_parser("tune", help="tuning workers of one optuna study on Ray")
    tune_parser.add_argument("--algo", required=True)
    tune_parser.add_argument("--env", required=True)
    tune_parser.add_argument("--storage", required=True, help="a journal file (.log), sqlite:///..., postgresql://...")
    tune_parser.add_argument("--study-name", required=True)
    tune_parser.add_argument("--n-trials", type=int, required=True, help="trials in all, shared by the workers")
    tune_parser.add_argument("--n-timesteps", type=int, required=True, help="env steps per trial")
    tune_parser.add_argument("--workers", type=int, default=1)
    tune_parser.add_argument("--sampler", default="tpe", choices=["random", "tpe", "auto"])
    tune_parser.add_argument("--pruner", default="median", choices=["halving", "median", "none"])
    tune_parser.add_argument("--n-startup-trials", type=int, default=10)
    tune_parser.add_argument("--n-evaluations", type=int, default=10, help="evaluations per trial (for pruning)")
    tune_parser.add_argument("--eval-episodes", type=int, default=5)
    tune_parser.add_argument("--seed", type=int, default=100, help="first sampler seed (runs use 0-9: disjoint)")
    tune_parser.add_argument("--results", type=Path, default=Path("benchmarks/results/tuning"))
    tune_parser.add_argument("--address", help="an existing Ray cluster; default: a local Ray runtime")
    export_parser = commands.add_parser("export", help="the best trial of a study as a hyperparameter file entry")
    export_parser.add_argument("--algo", required=True)
    export_parser.add_argument("--env", required=True)
    export_parser.add_argument("--storage", required=True)
    export_parser.add_argument("--study-name", required=True)
    export_parser.add_argument("--definition", default="", help="where the study's definition is (cited)")
    export_parser.add_argument("--conf-file", help="the yml the study was tuned from (default: sb3-pg's)")
    args = parser.parse_args()
    if args.command == "tune":
        if min(args.workers, args.n_trials, args.n_timesteps) < 1:
            parser.error("--workers, --n-trials and --n-timesteps must be >= 1")
        sys.exit(0 if tune(args) else 1)
    if args.command == "export":
        print(export(args), end="")
        return
    if args.command == "run":
        if args.jobs < 1:
            parser.error("--jobs must be >= 1")
        if not run(args.run_list, args.logs, args.results, args.jobs, args.episodes, args.address):
            sys.exit(1)
    else:
        pairs = [tuple(pair.split(",")) for pair in args.pair]
        references = {env: float(value) for env, value in (item.split("=") for item in args.reference)}
        if any("=" not in item for item in args.name):
            parser.error("--name takes LABEL=TEXT")
        names = dict(item.split("=", 1) for item in args.name)
        summarize(
            args.run_list, args.results, args.threshold, args.window, pairs, args.reps, references, args.readme, names
        )


if __name__ == "__main__":
    main()
