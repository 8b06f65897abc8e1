"""
The README's first example, run as written once per seed (the seed added to each algorithm's constructor), with
the model evaluated after each ``learn()``: 10 deterministic episodes on a separate env. An example passes when
every seed reaches its task's solved threshold (the gymnasium spec's ``reward_threshold``). Writes
``benchmarks/results/readme_examples.json`` and exits 1 if an example fails.

    python benchmarks/readme_examples.py --seeds 0 1 2
"""

import argparse
import ast
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

ROOT = Path(__file__).parent.parent
ALGOS = ("REINFORCE", "REINFORCEBaseline", "OneStepAC")
EVAL_EPISODES = 10


def first_python_block(readme: Path) -> str:
    match = re.search(r"```python\n(.*?)```", readme.read_text(), re.DOTALL)
    if match is None:
        raise ValueError(f"{readme} has no ```python block")
    return match.group(1)


def seeded(statement: ast.stmt, seed: int) -> ast.Module:
    """The statement with ``seed=seed`` given to every constructor of our algorithms in it."""
    for node in ast.walk(statement):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ALGOS:
            node.keywords.append(ast.keyword(arg="seed", value=ast.Constant(seed)))
    return ast.fix_missing_locations(ast.Module(body=[statement], type_ignores=[]))


def learns(statement: ast.stmt) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "learn" for node in ast.walk(statement))


def run_example(code: str, seed: int) -> list[dict[str, Any]]:
    """Run the block's statements in order; after each that calls ``learn()``, evaluate ``model``."""
    namespace: dict[str, Any] = {}
    results = []
    start = time.process_time()
    for statement in ast.parse(code).body:
        exec(compile(seeded(statement, seed), "README.md", "exec"), namespace)
        if not learns(statement):
            continue
        model = namespace["model"]
        env_id = model.get_env().get_attr("spec")[0].id
        env = make_vec_env(env_id, n_envs=1, seed=10_000 + seed)
        mean, std = evaluate_policy(model, env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        threshold = gym.spec(env_id).reward_threshold
        results.append(
            {
                "algorithm": type(model).__name__,
                "env": env_id,
                "timesteps": model.num_timesteps,
                "seed": seed,
                "mean_return": float(mean),
                "std_return": float(std),
                "threshold": threshold,
                "solved": bool(threshold is not None and mean >= threshold),
                "cpu_s": round(time.process_time() - start, 1),
            }
        )
        print(json.dumps(results[-1]), flush=True)
        start = time.process_time()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "readme_examples.json")
    args = parser.parse_args()
    code = first_python_block(args.readme)
    results = []
    with tempfile.TemporaryDirectory() as folder:  # the example saves a model in the working directory
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            for seed in args.seeds:
                results += run_example(code, seed)
        finally:
            os.chdir(cwd)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"code": code, "eval_episodes": EVAL_EPISODES, "runs": results}, indent=1))
    failed = [
        f"{r['algorithm']} on {r['env']}, seed {r['seed']}: {r['mean_return']:.1f}" for r in results if not r["solved"]
    ]
    for line in failed:
        print(f"below the task's threshold: {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
