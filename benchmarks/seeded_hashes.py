"""
Whether a change alters seeded results: trains seeded models on each code path of the three algorithms (a 20k-step
CartPole-v1 run per class; the optimal baseline, G_0 with γ^t weighting and minibatches, GAE(λ) with truncation
bootstraps, G_0 − V without them, and OneStepAC with I = 1, entropy and clipping) and writes a SHA-256 of each final
policy's parameters. Run it at two commits on one machine and compare the files: equal hashes mean bit-identical
training.

    python benchmarks/seeded_hashes.py before.json   # at the old commit
    python benchmarks/seeded_hashes.py after.json    # at the new one
"""

import hashlib
import json
import sys

import torch as th

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

RUNS = {
    "REINFORCE": (REINFORCE, "CartPole-v1", {}, 20_000),
    "REINFORCEBaseline": (REINFORCEBaseline, "CartPole-v1", {}, 20_000),
    "OneStepAC": (OneStepAC, "CartPole-v1", {}, 20_000),
    "reinforce_optimal_cartpole": (
        REINFORCE,
        "CartPole-v1",
        {"baseline": "optimal", "normalize_advantage": False},
        10_000,
    ),
    "reinforce_g0_pendulum": (
        REINFORCE,
        "Pendulum-v1",
        {"reward_to_go": False, "discount_state_weighting": True, "batch_size": 64},
        6_000,
    ),
    "baseline_gae_pendulum": (REINFORCEBaseline, "Pendulum-v1", {"gae_lambda": 0.9, "batch_size": 100}, 6_000),
    "baseline_g0_cartpole": (
        REINFORCEBaseline,
        "CartPole-v1",
        {"reward_to_go": False, "bootstrap_truncated": False},
        6_000,
    ),
    "onestep_i1_pendulum": (
        OneStepAC,
        "Pendulum-v1",
        {"discount_state_weighting": False, "ent_coef": 0.01, "max_grad_norm": 0.5},
        3_000,
    ),
}


def main() -> None:
    th.set_num_threads(1)
    hashes = {}
    for name, (algo, env_id, kwargs, steps) in RUNS.items():
        model = algo("MlpPolicy", env_id, seed=0, device="cpu", **kwargs).learn(steps)
        state = model.policy.state_dict()
        digest = hashlib.sha256()
        for key in sorted(state):
            digest.update(key.encode())
            digest.update(state[key].cpu().numpy().tobytes())
        hashes[name] = digest.hexdigest()
        print(name, model.num_timesteps, hashes[name], flush=True)
    with open(sys.argv[1], "w") as file:
        json.dump(hashes, file, indent=1)


if __name__ == "__main__":
    main()
