"""
How noisy each policy-gradient weight Φ_t is, at fixed checkpoints of one training run per env.

REINFORCEBaseline is built by the zoo harness from hyperparams/reinforce_baseline.yml and trained to
each checkpoint in turn; at each one, a copy of its critic is fitted to the checkpoint policy's returns (so
that the forms using V get V ≈ V^π, at the first checkpoint too), then
``sb3_pg.diagnostics.gradient_variance`` estimates the gradient from independent batches with the five
forms (whole return, reward-to-go, reward-to-go − V, TD(0), GAE(0.95)) and compares them with a reference
gradient (G_t − V(s_t) on a large batch). Training then goes on from the untouched model. Each env's results
are saved as soon as it is done; a re-run skips finished envs.

    python benchmarks/variance.py --envs CartPole-v1 Hopper-v5 --out benchmarks/results/variance
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

from sb3_pg import REINFORCEBaseline
from sb3_pg.common import estimators
from sb3_pg.diagnostics import PHI_FORMS, collect_episodes, gradient_variance
from sb3_pg.zoo import ExperimentManager, register

CONFIG = Path(__file__).parents[1] / "hyperparams" / "reinforce_baseline.yml"
# Per env: checkpoints (env steps; the last is the shipped training budget), episodes per batch (CartPole: the
# shipped n_episodes; MuJoCo: ten, where an update sees min_batch_steps 5000) and for the reference gradient
SETTINGS = {
    "CartPole-v1": {"checkpoints": [0, 50_000, 100_000], "batch_episodes": 4, "reference_episodes": 200},
    "Hopper-v5": {"checkpoints": [0, 500_000, 1_000_000], "batch_episodes": 10, "reference_episodes": 300},
    "HalfCheetah-v5": {"checkpoints": [0, 500_000, 1_000_000], "batch_episodes": 5, "reference_episodes": 100},
}


def fit_critic(model: REINFORCEBaseline, env, n_episodes: int, n_updates: int = 300) -> float:
    """Regress V on the reward-to-go of fresh episodes (full batch, Adam); returns the final mean squared error."""
    episodes = collect_episodes(model, env, n_episodes)
    returns = estimators.reward_to_go(episodes.rewards.astype(np.float64), episodes.dones, model.gamma)
    target = th.as_tensor(returns, dtype=th.float32)
    observations = th.as_tensor(episodes.observations)
    _, critic = (group["params"] for group in model.policy.optimizer.param_groups)  # the actor's, the critic's
    optimizer = th.optim.Adam(critic, lr=1e-3)
    for _ in range(n_updates):
        loss = th.nn.functional.mse_loss(model.policy.predict_values(observations), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def measure_env(env_id: str, n_batches: int, seed: int, scale: float, logs: Path) -> dict:
    settings = SETTINGS[env_id]
    checkpoints = [int(step * scale) for step in settings["checkpoints"]]
    register()
    experiment = ExperimentManager(
        argparse.Namespace(), "reinforce_baseline", env_id, str(logs), config=str(CONFIG), seed=seed, verbose=0
    )
    model, _ = experiment.setup_experiment()
    # One env of its own; with VecNormalize, the learner's statistics and its normalised rewards, frozen
    env = make_vec_env(env_id, n_envs=1, seed=seed + 1000)
    if model.get_vec_normalize_env() is not None:
        env = VecNormalize(env, training=False)
    results = {}
    for checkpoint in checkpoints:
        if checkpoint > model.num_timesteps:
            model.learn(checkpoint - model.num_timesteps, reset_num_timesteps=False)
        if isinstance(env, VecNormalize):
            sync_envs_normalization(model.get_env(), env)
        state = {name: value.clone() for name, value in model.policy.state_dict().items()}
        critic_error = fit_critic(model, env, settings["reference_episodes"])
        th.manual_seed(seed)
        stats = gradient_variance(model, env, n_batches, settings["batch_episodes"], settings["reference_episodes"])
        model.policy.load_state_dict(state)  # training goes on from the model as it was
        results[str(model.num_timesteps)] = {"critic_mse": critic_error, **stats}
        print(env_id, model.num_timesteps, json.dumps(stats), flush=True)
    return results


def plot(env_id: str, results: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, (variance_axis, cosine_axis) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(results)
    x = np.arange(len(PHI_FORMS))
    for i, (step, stats) in enumerate(results.items()):
        label = f"after {int(step):,} steps"
        variance_axis.bar(x + i * width, [stats[form]["trace_cov"] for form in PHI_FORMS], width, label=label)
        cosines = [stats[form]["cosine"] for form in PHI_FORMS]
        spread = [stats[form]["cosine_std"] for form in PHI_FORMS]
        cosine_axis.bar(x + i * width, cosines, width, yerr=spread, label=label)
    variance_axis.set(yscale="log", title=f"{env_id}: trace of the gradient covariance", xticks=x + 0.4 - width / 2)
    cosine_axis.set(title="cosine to the large-batch gradient (mean ± std)", xticks=x + 0.4 - width / 2)
    for axis in (variance_axis, cosine_axis):
        axis.set_xticklabels(PHI_FORMS, rotation=20)
        axis.grid(alpha=0.3, axis="y")
    cosine_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_table(all_results: dict, out: Path, n_batches: int) -> None:
    rows = [
        f"Trace of the covariance of the gradient estimate over {n_batches} independent batches; signal-to-noise",
        "ratio ‖g‖² / trace with g the reference gradient (G_t − V(s_t) on a large batch); the estimates' cosine",
        "similarity to g (mean ± std over the batches) and that of their average, which falls short of 1 by",
        "noise and by bias. The reference's own SNR (that of G_t − V over its many more episodes) says how far",
        "the cosines can be trusted: near a converged policy the gradient is small and even the reference is noise.",
        "",
        "| env | checkpoint (steps) | reference SNR | Φ_t | trace of covariance | vs reward-to-go | SNR | cosine "
        "| cosine of mean |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id, results in all_results.items():
        settings = SETTINGS[env_id]
        for step, stats in results.items():
            episodes = settings["reference_episodes"] / settings["batch_episodes"]
            reference_snr = stats["reward_to_go_baseline"]["snr"] * episodes
            for form in PHI_FORMS:
                s = stats[form]
                ratio = s["trace_cov"] / stats["reward_to_go"]["trace_cov"]
                rows.append(
                    f"| {env_id} | {int(step):,} | {reference_snr:.3g} | {form} | {s['trace_cov']:.3g} | "
                    f"{ratio:.3g}× | {s['snr']:.3g} | "
                    f"{s['cosine']:.3f} ± {s['cosine_std']:.3f} | {s['mean_cosine']:.3f} |"
                )
    (out / "summary.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Hopper-v5"], choices=list(SETTINGS))
    parser.add_argument("--n-batches", type=int, default=30, help="independent batches per estimate")
    parser.add_argument("--scale", type=float, default=1.0, help="scale the checkpoints (a smoke test: 0.01)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/variance"))
    parser.add_argument("--logs", type=Path, default=Path("benchmarks/logs/variance"), help="the zoo's log folder")
    args = parser.parse_args()
    if args.n_batches < 2 or args.scale <= 0:
        parser.error("--n-batches must be >= 2 and --scale > 0")
    th.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.json"
    all_results = json.loads(path.read_text()) if path.exists() else {}
    for env_id in args.envs:
        if env_id not in all_results:
            all_results[env_id] = measure_env(env_id, args.n_batches, args.seed, args.scale, args.logs)
            path.write_text(json.dumps(all_results, indent=1) + "\n")
        plot(env_id, all_results[env_id], args.out / f"{env_id}.png")
    write_table(all_results, args.out, args.n_batches)


if __name__ == "__main__":
    main()
