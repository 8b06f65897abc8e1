"""
Why policy gradients: what each method learned on the aliased tasks of ``sb3_pg.envs``, read against the exact optima.

The runs are ``benchmarks/aliasing.txt`` through the zoo harness, with their final models kept::

    python benchmarks/zoo_runs.py run benchmarks/aliasing.txt --results benchmarks/results/aliasing \
        --jobs 2 --keep-models
    python benchmarks/aliasing.py --results benchmarks/results/aliasing

For each run this loads the final model and takes its policy's action probabilities for every observation, then
computes the exact expected return of that memoryless policy (``sb3_pg.envs.aliased``, episodes cut at the task's
time limit, as trained) and the fraction of the optimum it reaches, v*/v (both negative: 1 is optimal, 0 never
reaches the goal). The policy-gradient methods and PPO are read as the stochastic policies they learned; DQN as the
greedy policy its Q-function gives and as that policy ε-greedy at its final exploration rate (how it explored last).
Writes RESULTS/summary.{json,md} and RESULTS/aliasing.png.
"""

import argparse
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import DQN, PPO

import sb3_pg
from sb3_pg.envs import GRIDWORLD_MAX_STEPS, SHORT_CORRIDOR_MAX_STEPS
from sb3_pg.envs.aliased import (
    SHORT_CORRIDOR_P_STAR,
    gridworld_best_deterministic,
    gridworld_best_stochastic,
    gridworld_observations,
    gridworld_value,
    short_corridor_finite_value,
)

ALGOS = {"reinforce": sb3_pg.REINFORCE, "reinforce_baseline": sb3_pg.REINFORCEBaseline, "onestep_ac": sb3_pg.OneStepAC}
ALGOS.update(dqn=DQN, ppo=PPO)
ENVS = {"sc": "sb3_pg/ShortCorridor-v0", "gw": "sb3_pg/AliasedGridworld-v0"}
LABELS = {
    "reinforce": "REINFORCE: G_t, standardised",
    "reinforce_baseline": "REINFORCE + learned baseline: G_t − V(s_t)",
    "onestep_ac": "One-step actor-critic: I·δ_t",
    "ppo": "PPO (clipped GAE(0.95) advantages)",
    "dqn": "DQN, greedy",
    "dqn_eps": "DQN, ε-greedy at its final ε",
}


def observations(env_id: str) -> list[tuple[int, ...]]:
    return [(0,)] if "Corridor" in env_id else gridworld_observations()


def probabilities(model, env_id: str) -> dict[str, dict[tuple[int, ...], np.ndarray]]:
    """The model's action probabilities for each observation: its policy, or DQN's greedy and ε-greedy ones."""
    obs = observations(env_id)
    batch = np.array([o[0] for o in obs]) if "Corridor" in env_id else np.array(obs, dtype=np.int8)
    with th.no_grad():
        tensor = model.policy.obs_to_tensor(batch)[0]
        if isinstance(model, DQN):
            greedy = np.eye(model.action_space.n)[model.q_net(tensor).argmax(dim=1).numpy()]
            uniform = np.full_like(greedy, 1 / model.action_space.n)
            epsilon = model.exploration_rate
            return {
                "dqn": dict(zip(obs, greedy, strict=True)),
                "dqn_eps": dict(zip(obs, (1 - epsilon) * greedy + epsilon * uniform, strict=True)),
            }
        probs = model.policy.get_distribution(tensor).distribution.probs.numpy()
    return {"policy": dict(zip(obs, probs, strict=True))}


def value(policy: dict[tuple[int, ...], np.ndarray], env_id: str) -> float:
    if "Corridor" in env_id:
        return short_corridor_finite_value(float(policy[(0,)][1]), SHORT_CORRIDOR_MAX_STEPS)
    return gridworld_value(policy, GRIDWORLD_MAX_STEPS)


def optima() -> dict[str, dict[str, float]]:
    deterministic, _ = gridworld_best_deterministic(GRIDWORLD_MAX_STEPS)
    stochastic, _ = gridworld_best_stochastic(GRIDWORLD_MAX_STEPS)
    return {
        ENVS["sc"]: {
            "v_star": short_corridor_finite_value(SHORT_CORRIDOR_P_STAR, SHORT_CORRIDOR_MAX_STEPS),
            "p_star": SHORT_CORRIDOR_P_STAR,
            "best_deterministic": float(SHORT_CORRIDOR_MAX_STEPS * -1),
        },
        ENVS["gw"]: {"v_star": stochastic, "best_deterministic": deterministic},
    }


def analyse(results: Path) -> dict[str, list[dict]]:
    """One record per (run, reading of its policy), from RESULTS/runs/NAME.{json,zip}."""
    records: dict[str, list[dict]] = {}
    best = optima()
    for model_file in sorted((results / "runs").glob("*.zip")):
        name = model_file.stem
        prefix, _, seed = name.rpartition("_s")
        env_key, _, algo = prefix.partition("_")
        env_id = ENVS[env_key]
        model = ALGOS[algo].load(model_file, device="cpu")
        for reading, policy in probabilities(model, env_id).items():
            method = algo if reading == "policy" else reading
            v = value(policy, env_id)
            record = {"name": name, "seed": int(seed), "value": v, "fraction": best[env_id]["v_star"] / v}
            if "Corridor" in env_id:
                record["p_right"] = float(policy[(0,)][1])
            else:
                aliased = gym.make(env_id).unwrapped.observation_key((0, 1))
                record["aliased_west_east"] = [float(policy[aliased][3]), float(policy[aliased][1])]
            records.setdefault(f"{env_id}|{method}", []).append(record)
    return records


def interval(values: np.ndarray) -> tuple[float, float, float]:
    """IQM with a 95% stratified-bootstrap CI (rliable), one task."""
    from rliable import library as rly
    from rliable import metrics

    scores = {"x": np.asarray(values, dtype=np.float64)[:, None]}
    point, ci = rly.get_interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=2000)
    return float(point["x"][0]), float(ci["x"][0][0]), float(ci["x"][1][0])


def report(records: dict[str, list[dict]], results: Path) -> str:
    best = optima()
    lines = []
    for env_id in ENVS.values():
        opt = best[env_id]
        lines += [
            f"**{env_id}**: v* = {opt['v_star']:.2f} (the best memoryless policy, exact), the best deterministic "
            f"policy {opt['best_deterministic']:.2f}; episodes cut at "
            f"{SHORT_CORRIDOR_MAX_STEPS if 'Corridor' in env_id else GRIDWORLD_MAX_STEPS} steps.",
            "",
        ]
        extra = (
            "learned p(right), mean ± std (p* = 0.586)"
            if "Corridor" in env_id
            else "p(west), p(east) in the aliased squares, mean"
        )
        lines += [f"| method | seeds | fraction of v*: IQM [95% CI] | value: mean | {extra} |", "|---|---|---|---|---|"]
        for method, label in LABELS.items():
            rows = records.get(f"{env_id}|{method}", [])
            if not rows:
                continue
            fractions = np.array([r["fraction"] for r in rows])
            iqm, low, high = interval(fractions)
            if "Corridor" in env_id:
                p = np.array([r["p_right"] for r in rows])
                detail = f"{p.mean():.3f} ± {p.std(ddof=1) if len(p) > 1 else 0:.3f}"
            else:
                west_east = np.array([r["aliased_west_east"] for r in rows]).mean(axis=0)
                detail = f"{west_east[0]:.2f}, {west_east[1]:.2f}"
            mean_value = np.mean([r["value"] for r in rows])
            lines.append(f"| {label} | {len(rows)} | {iqm:.2f} [{low:.2f}, {high:.2f}] | {mean_value:.1f} | {detail} |")
        lines.append("")
    return "\n".join(lines)


def plot(records: dict[str, list[dict]], results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.linspace(0.01, 0.99, 197)
    left.plot(grid, [short_corridor_finite_value(p, SHORT_CORRIDOR_MAX_STEPS) for p in grid], color="grey")
    left.axvline(SHORT_CORRIDOR_P_STAR, color="black", linestyle=":", label="p* = 2 − √2")
    for i, (method, label) in enumerate(LABELS.items()):
        rows = records.get(f"{ENVS['sc']}|{method}", [])
        left.scatter([r["p_right"] for r in rows], [r["value"] for r in rows], s=18, label=label, zorder=3 + i)
        rows = records.get(f"{ENVS['gw']}|{method}", [])
        right.scatter([i] * len(rows), [r["fraction"] for r in rows], s=18)
    left.set(xlabel="learned probability of right", ylabel="exact v(s₀)", ylim=(-120, 0), title="ShortCorridor-v0")
    left.legend(fontsize=7, loc="lower center")
    right.set_xticks(range(len(LABELS)), [label.split(":")[0] for label in LABELS], rotation=30, ha="right", fontsize=7)
    right.set(ylabel="fraction of v* (v*/v)", ylim=(0, 1.05), title="AliasedGridworld-v0")
    figure.tight_layout()
    figure.savefig(results / "aliasing.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/aliasing"))
    args = parser.parse_args()
    th.set_num_threads(1)
    records = analyse(args.results)
    table = report(records, args.results)
    (args.results / "summary.json").write_text(json.dumps({"optima": optima(), "runs": records}, indent=1) + "\n")
    (args.results / "summary.md").write_text(table + "\n")
    plot(records, args.results)
    print(table)


if __name__ == "__main__":
    main()
