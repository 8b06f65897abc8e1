"""
Where one env step's time goes: cProfile of ``learn()`` (after a warm-up) for one method on one env, one torch
thread, with the cumulative time per step of the parts that matter.

    python benchmarks/profile_step.py --method onestep_ac --env HalfCheetah-v5 --steps 3000
"""

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

import torch as th
from stable_baselines3.common.env_util import make_vec_env

if __package__ in (None, ""):  # run as a script: the repository root, so that benchmarks.throughput imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput import METHODS

PARTS = {  # (file fragment, function): what it is
    ("on_policy_algorithm.py", "collect_rollouts"): "SB3 collect_rollouts (whole)",
    ("episodic.py", "collect_rollouts"): "episode-batch collect_rollouts (whole)",
    ("dummy_vec_env.py", "step_wait"): "  VecEnv step (env, Monitor, info copies)",
    ("policies.py", "forward"): "  policy forward (actor + critic, sampling)",
    ("base.py", "_sample_actions"): "  actor forward and sampling",
    ("policies.py", "predict_values"): "  critic of the next observation",
    ("buffers.py", "add"): "  buffer add (with the finite check)",
    ("buffers.py", "compute_returns_and_advantage"): "  returns and advantages",
    ("module.py", "train"): "  set_training_mode (both switches)",
    ("onestep_ac.py", "train"): "OneStepAC train (whole)",
    ("reinforce.py", "train"): "REINFORCE train (whole)",
    ("policies.py", "evaluate_actions"): "  evaluate_actions (actor + critic, with grad)",
    ("buffers.py", "get"): "  buffer get (flatten, to torch)",
    ("_tensor.py", "backward"): "  backward",
    ("optimizer.py", "wrapper"): "  optimizer step (fused Adam)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=sorted(METHODS), default="onestep_ac")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = METHODS[args.method](make_vec_env(args.env, n_envs=1, seed=0))
    model.learn(2000)
    profile = cProfile.Profile()
    profile.runcall(model.learn, args.steps, reset_num_timesteps=False)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    steps = model.num_timesteps - model._num_timesteps_at_start
    total = sum(entry[2] for entry in stats.values())
    print(f"{args.method} on {args.env}: {steps} steps profiled, {total / steps * 1e6:.0f} µs a step (profiled)")
    for (fragment, function), label in PARTS.items():
        # the outermost of same-named functions (mixins calling their parents) holds the others
        matches = [entry[3] for (file, _, name), entry in stats.items() if name == function and fragment in file]
        cumulative = max(matches, default=0)
        if cumulative:
            print(f"{label:48s} {cumulative / steps * 1e6:7.0f} µs")


if __name__ == "__main__":
    main()
