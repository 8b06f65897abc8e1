"""
The cost of the suite benchmark's cells before they run, in CPU seconds, measured one process at a time:

- each algorithm trains 20k steps on each task through ``sb3-pg train`` at its entry (one torch thread, no
  evaluation);
- the fixed cost of a run (interpreter, imports, the zoo's set-up, one tiny PPO update: ``--algo startup``), per task;
- an evaluation step as the harness takes it (a deterministic action of a 256 x 256 policy and one env step), per task.

A run of budget N then costs about ``startup + (cpu_20k - startup) * N / 20k`` for training, plus at most
``evaluations x 10 episodes x the task's longest episode`` evaluation steps. ``--report`` writes that estimate per
cell and in all to ``benchmarks/results/suite/cost.md``. Rows land in ``benchmarks/results/suite/timing_20k.json``
as they are measured, so that a re-run resumes.

    python benchmarks/suite_timing.py && python benchmarks/suite_timing.py --report
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root, so that benchmarks.harness imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.runner import EVAL_ARGS, option, read_run_list

ROOT = Path(__file__).parent.parent
SUITE = ROOT / "benchmarks" / "suite.txt"
STEPS = 20_000
EVAL_STEPS = 3_000
STARTUP, EVAL = "startup", "eval_step"  # the two per-task rows beside the algorithms'
STARTUP_PARAMS = ["--algo", "ppo", "-n", "1", "-params", "n_steps:8", "batch_size:8"]


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_cpu_seconds(env: str, algo: str) -> dict[str, object]:
    """One ``sb3-pg train`` process: 20k steps of ``algo``, or the fixed cost of a run (``STARTUP``)."""
    command = [sys.executable, "-m", "sb3_pg", "train", "--env", env, "--eval-freq", "-1", "--log-interval", "-2"]
    command += ["-f", "/tmp/sb3_pg_suite_timing", "--seed", "0"]
    command += STARTUP_PARAMS if algo == STARTUP else ["--algo", algo, "-n", str(STEPS)]
    start = cpu_seconds_of_children()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    row = {"algo": algo, "env": env, "steps": 1 if algo == STARTUP else STEPS}
    row |= {"cpu_s": round(cpu_seconds_of_children() - start, 1), "rc": done.returncode}
    if done.returncode:
        row["error"] = done.stderr.strip().splitlines()[-1][:300]
    return row


def eval_step_cpu_seconds(env: str) -> dict[str, object]:
    """In this process: CPU seconds per evaluation step (deterministic action, one env step)."""
    import rl_zoo3.import_envs  # noqa: F401  (the zoo's registrations)
    import torch as th
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    th.set_num_threads(1)
    vec_env = make_vec_env(env, n_envs=1, seed=0)
    model = PPO("MlpPolicy", vec_env, policy_kwargs={"net_arch": [256, 256]}, seed=0)
    obs = vec_env.reset()
    start = time.process_time()
    for _ in range(EVAL_STEPS):
        actions, _ = model.predict(obs, deterministic=True)
        obs, *_ = vec_env.step(actions)
    return {"algo": EVAL, "env": env, "steps": EVAL_STEPS, "cpu_s": round(time.process_time() - start, 2), "rc": 0}


def report(rows: list[dict], suite: Path, output: Path) -> dict[tuple[str, str], list[float]]:
    """
    The estimated CPU cost of every cell of the run list ``suite`` (its seeds, its budget, its evaluations).

    :return: (task, algo): each seed's estimated CPU seconds, as written to ``output``
    """
    import gymnasium as gym
    import rl_zoo3.import_envs  # noqa: F401

    cpu = {(row["env"], row["algo"]): row["cpu_s"] / row["steps"] for row in rows if row["rc"] == 0}  # per step
    episodes = int(option(EVAL_ARGS, "--eval-episodes"))  # per evaluation, as the runner's harness plays them
    runs: dict[tuple[str, str], list[float]] = defaultdict(list)  # (task, algo): each seed's CPU seconds
    eval_bound: dict[str, float] = {}  # task: CPU seconds of a run's evaluations at their bound
    for _, args in read_run_list(suite):
        env, algo, budget = option(args, "--env"), option(args, "--algo"), int(float(option(args, "-n")))
        evaluations = budget // int(option(args, "--eval-freq"))
        eval_bound[env] = evaluations * episodes * gym.spec(env).max_episode_steps * cpu[env, EVAL]
        startup = cpu[env, STARTUP]  # its one step is the whole process
        train = startup + (cpu[env, algo] * STEPS - startup) * budget / STEPS
        runs[env, algo].append(train + eval_bound[env])
    algos = list(dict.fromkeys(algo for _, algo in runs))
    lines = [
        "# The suite benchmark's cost, estimated before its runs (`python benchmarks/suite_timing.py --report`)",
        "",
        "CPU minutes of one run: training, `startup + (cpu_20k - startup) x budget / 20k`, plus its evaluations at",
        f"their bound (every evaluation's {episodes} episodes at the task's longest). The last column is the task's",
        "runs together (every method and seed), in core-hours. Rows of `timing_20k.json`, measured one process at a",
        "time on the 2-core machine beside two benchmark runs.",
        "",
        "| task | " + " | ".join(algos) + " | of which evaluation | task's runs (core-h) |",
        "|---|" + "---|" * (len(algos) + 2),
    ]
    for env in eval_bound:
        minutes = " | ".join(f"{runs[env, algo][0] / 60:.0f}" for algo in algos)
        hours = sum(sum(runs[env, algo]) for algo in algos) / 3600
        lines.append(f"| {env} | {minutes} | {eval_bound[env] / 60:.0f} | {hours:.1f} |")
    total = sum(map(sum, runs.values())) / 3600
    lines += ["", f"All cells: {total:.1f} core-hours ({sum(map(len, runs.values()))} runs)."]
    output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["reinforce", "reinforce_baseline", "onestep_ac", "a2c", "ppo"])
    parser.add_argument("--envs", nargs="+", help="default: every task of benchmarks/suite.txt")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "suite" / "timing_20k.json")
    parser.add_argument("--report", action="store_true", help="write the estimated cost per cell (cost.md)")
    args = parser.parse_args()
    rows = json.loads(args.output.read_text()) if args.output.exists() else []
    if args.report:
        report(rows, SUITE, args.output.parent / "cost.md")
        return
    envs = args.envs or list(dict.fromkeys(option(run, "--env") for _, run in read_run_list(SUITE)))
    done = {(row["algo"], row["env"]) for row in rows}
    for env in envs:
        for algo in [*args.algos, STARTUP, EVAL]:
            if (algo, env) in done:
                continue
            rows.append(eval_step_cpu_seconds(env) if algo == EVAL else train_cpu_seconds(env, algo))
            print(json.dumps(rows[-1]), flush=True)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(rows, indent=1) + "\n")  # each row as it lands: a re-run resumes


if __name__ == "__main__":
    main()
