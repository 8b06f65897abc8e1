"""Train the runs of a run list through the zoo harness as Ray tasks, resumably (``zoo_runs.py run``)."""

import contextlib
import csv
import io
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

import benchmarks

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


# What the results are written into, and may change while runs go on: not a change of the code that runs
RESULT_PATHS = ("benchmarks/results/", "benchmarks/logs/")


def uncommitted_changes() -> list[str]:
    """Paths with changes that HEAD does not hold (untracked files included), outside the results."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], capture_output=True, text=True, check=True
    ).stdout
    paths = [line[3:].strip('"') for line in status.splitlines()]
    return [path for path in paths if not path.startswith(RESULT_PATHS)]


# The packages whose versions a run records, and whose exact versions benchmarks/constraints.txt pins: a new
# MuJoCo release changes a task's dynamics (HalfCheetah-v5 under 4.0.0 and 3.17.0), the others the algorithms
PINNED = ("mujoco", "gymnasium", "stable-baselines3", "sb3-contrib", "rl-zoo3", "torch", "numpy")
CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"


def installed_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    return {"python": platform.python_version(), **{name: version(name) for name in PINNED}}


def machine() -> dict[str, str | int | None]:
    """
    The worker's CPU, core count, torch's kernel set and thread count: seeded runs repeat bit for bit on one machine
    but not across machines (the same versions can round floats differently), so a run file says where it ran.
    """
    import platform

    import torch

    try:
        cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE).group(1)
    except (OSError, AttributeError):  # no /proc (macOS, Windows)
        cpu = platform.processor() or platform.machine()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),  # the run's, which --num-threads set
    }


def pinned_versions() -> dict[str, str]:
    """The exact versions of :data:`PINNED` in ``benchmarks/constraints.txt``."""
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return {name: pins[name] for name in PINNED}


def version_mismatches(versions: dict[str, str]) -> list[str]:
    pinned = pinned_versions()
    return [
        f"{name} {versions[name]} (pinned: {pinned[name]})"
        for name in PINNED
        if versions[name].split("+")[0] != pinned[name]  # torch's local build tag (+cpu) is not a version
    ]


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


def train_run(name: str, args: list[str], episodes: bool, repository: str | None, keep_model: bool = False) -> dict:
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
        with open(next(save_path.glob("*/config.yml"))) as file:  # the zoo's resolved hyperparameters
            config = yaml.unsafe_load(file)
        return {
            "name": name,
            "timesteps": evaluations["timesteps"].tolist(),
            "returns": evaluations["results"].tolist(),  # (n_evaluations, n_episodes)
            "episodes": training_episodes(save_path) if episodes else None,
            "wall_time_s": round(wall_time, 1),
            "log": log.getvalue(),
            "versions": installed_versions(),  # the worker's, which on a cluster may not be the driver's
            "machine": machine(),
            "hyperparameters": {str(key): str(value) for key, value in dict(config).items()},
            # the final model (the zoo saves it as ENV.zip beside best_model.zip), for studies that read the policy
            "model": next(p for p in save_path.glob("*.zip") if p.name != "best_model.zip").read_bytes()
            if keep_model
            else None,
        }


def write_run(result: dict, args: list[str], runs: Path, logs: Path, commit: str, dirty: bool) -> None:
    """The driver's side of a finished run: RESULTS/runs/NAME.{csv,json} (and _episodes.csv), LOGS/NAME.log."""
    name, returns = result["name"], np.array(result["returns"])
    (logs / f"{name}.log").write_text(result["log"])
    if result["episodes"] is not None:
        write_rows(runs / f"{name}_episodes.csv", ["timesteps", "return", "length"], result["episodes"])
    if result.get("model") is not None:
        (runs / f"{name}.zip").write_bytes(result["model"])
    summary = {
        "name": name,
        "command": f"python -m sb3_pg train {shlex.join([*EVAL_ARGS, *args])}",
        "commit": commit,
        "dirty": dirty,  # whether the checkout had changes HEAD does not hold (a forced run)
        "versions": result["versions"],
        "machine": result["machine"],
        "hyperparameters": result["hyperparameters"],
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

    repository = Path(__file__).resolve().parents[2]
    # The tasks' functions travel with them, so that a worker needs only sb3-pg installed, not this checkout
    ray.cloudpickle.register_pickle_by_value(benchmarks)
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


def run(
    run_list: Path,
    logs: Path,
    results: Path,
    jobs: int,
    episodes: bool,
    address: str | None,
    force: bool = False,
    keep_models: bool = False,
) -> bool:
    """
    Train the runs of the list that have no results yet as Ray tasks, at most ``jobs`` at a time, writing
    each one's results as it finishes. A task whose worker dies, or that fails, is retried once by Ray; a run
    that fails twice is reported and the others go on. Returns whether every run finished.

    A run records the commit it ran, so a checkout with uncommitted changes, or an environment whose versions
    differ from ``benchmarks/constraints.txt``, is refused unless ``force`` (and the run file then says so).
    """
    runs = results / "runs"
    logs.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    arguments = dict(read_run_list(run_list))
    pending = [name for name in arguments if not (runs / f"{name}.csv").exists()]
    print(f"{len(pending)} runs to do", flush=True)
    if not pending:
        return True
    changes, mismatches = uncommitted_changes(), version_mismatches(installed_versions())
    if (changes or mismatches) and not force:
        if changes:
            print(f"refusing to run: uncommitted changes in {', '.join(changes[:5])}: commit them first", flush=True)
        if mismatches:
            print(f"refusing to run: {', '.join(mismatches)}: pip install -c {CONSTRAINTS}", flush=True)
        print("(--force runs anyway, and the run files record it)", flush=True)
        return False
    import ray

    repository = start_ray(address, jobs)
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=1, retry_exceptions=True)(train_run)
    commit, dirty, started = git_commit(), bool(changes), time.time()
    running: dict = {}
    done: list[float] = []
    failed: list[str] = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                running[task.remote(name, arguments[name], episodes, repository, keep_models)] = name
                print(f"start {name}: {shlex.join(arguments[name])}", flush=True)
            (ready,), _ = ray.wait(list(running), num_returns=1)
            name = running.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as error:  # failed, or its worker died, twice
                failed.append(name)
                print(f"FAILED {name} (twice): {str(error).strip().splitlines()[-1]}", flush=True)
                continue
            write_run(result, arguments[name], runs, logs, commit, dirty)
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
