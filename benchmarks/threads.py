"""
Env steps per second on CartPole-v1 with torch's default intra-op threads and with one, each method in a fresh
process (the thread count is set before anything runs), one process at a time. Writes
``benchmarks/results/threads.json``.

    python benchmarks/threads.py
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent
# method: env steps (the slow ones fewer: a minute or two each at the default threads on a busy 2-core machine)
STEPS = {"onestep_ac": 5_000, "reinforce": 30_000, "reinforce_baseline": 30_000, "a2c_n_steps_1": 5_000, "ppo": 10_000}


def measure(method: str, threads: int, steps: int) -> dict[str, float | int | str]:
    """In this process: ``threads`` 0 keeps torch's default."""
    import torch as th

    if threads > 0:
        th.set_num_threads(threads)
    from stable_baselines3 import A2C, PPO

    from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

    make = {
        "onestep_ac": lambda: OneStepAC("MlpPolicy", "CartPole-v1", seed=0),
        "reinforce": lambda: REINFORCE("MlpPolicy", "CartPole-v1", seed=0),
        "reinforce_baseline": lambda: REINFORCEBaseline("MlpPolicy", "CartPole-v1", seed=0),
        "a2c_n_steps_1": lambda: A2C("MlpPolicy", "CartPole-v1", n_steps=1, seed=0),
        "ppo": lambda: PPO("MlpPolicy", "CartPole-v1", seed=0),
    }[method]
    model = make()
    wall, cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "method": method,
        "threads": th.get_num_threads(),
        "steps": steps,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "steps_per_s": round(steps / wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(STEPS), choices=list(STEPS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "threads.json")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        method, threads = args.one[0], int(args.one[1])
        print(json.dumps(measure(method, threads, STEPS[method])))
        return
    rows = []
    for method in args.methods:
        for threads in (0, 1):
            command = [sys.executable, __file__, "--one", method, str(threads)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(output.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    args.output.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
