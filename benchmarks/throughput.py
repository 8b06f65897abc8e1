"""
Env steps per second of each method, measured side by side: every repeat runs all methods in a fresh
random order, so that load on the machine falls on all of them alike; the table reports medians and
ratios to SB3's A2C, with the rate of the VecEnv alone (random actions) as the limit.

    python benchmarks/throughput.py --envs CartPole-v1 HalfCheetah-v5 --n-envs 1 8 --repeats 5
"""

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_util import make_vec_env

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

METHODS = {
    "reinforce": lambda env: REINFORCE("MlpPolicy", env),
    "reinforce_baseline": lambda env: REINFORCEBaseline("MlpPolicy", env),
    "onestep_ac": lambda env: OneStepAC("MlpPolicy", env),
    "a2c": lambda env: A2C("MlpPolicy", env),
    "a2c_n_steps_1": lambda env: A2C("MlpPolicy", env, n_steps=1),
    "ppo": lambda env: PPO("MlpPolicy", env),
}
RAW = "env_only"  # the VecEnv stepped with random actions: the limit


def steps_per_second(method: str, env_id: str, n_envs: int, steps: int, seed: int, clock=time.perf_counter) -> float:
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if method == RAW:
        env.reset()
        actions = np.stack([env.action_space.sample() for _ in range(n_envs)])
        start = clock()
        for _ in range(steps // n_envs):
            env.step(actions)
        return steps / (clock() - start)
    model = METHODS[method](env)
    model.learn(min(steps // 10, 2000))  # warm-up: first allocations, first batch
    start = clock()
    model.learn(steps, reset_num_timesteps=False)
    return (model.num_timesteps - model._num_timesteps_at_start) / (clock() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--n-envs", nargs="+", type=int, default=[1])
    parser.add_argument("--methods", nargs="+", default=[*METHODS, RAW], choices=[*METHODS, RAW])
    parser.add_argument("--steps", type=int, default=10_000, help="timed env steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/throughput")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="steps per second of this process's CPU time, not of wall time: far less sensitive to other load",
    )
    args = parser.parse_args()
    if args.repeats < 1 or args.steps < 1:
        parser.error("--repeats and --steps must be >= 1")
    th.set_num_threads(1)  # one core per run, as in the zoo runs; the rest of the machine is noise

    rates: dict[str, list[float]] = {}
    for env_id in args.envs:
        for n_envs in args.n_envs:
            for repeat in range(args.repeats):
                for method in random.Random(repeat).sample(args.methods, len(args.methods)):
                    clock = time.process_time if args.cpu_time else time.perf_counter
                    rate = steps_per_second(method, env_id, n_envs, args.steps, repeat, clock)
                    rates.setdefault(f"{env_id}|{n_envs}|{method}", []).append(rate)
                    print(f"{env_id} n_envs={n_envs} repeat={repeat} {method}: {rate:.0f} steps/s", flush=True)

    rows = ["| env | n_envs | method | steps/s (median) | ratio to a2c | runs |", "|---|---|---|---|---|---|"]
    summary = {}
    for key, values in rates.items():
        env_id, n_envs, method = key.split("|")
        reference = rates.get(f"{env_id}|{n_envs}|a2c")
        median = statistics.median(values)
        ratio = f"{median / statistics.median(reference):.2f}" if reference else "n/a"
        summary[key] = {"median": median, "runs": values}
        rows.append(f"| {env_id} | {n_envs} | {method} | {median:.0f} | {ratio} | {len(values)} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"args": vars(args), "rates": summary}, indent=2))
    out.with_suffix(".md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
