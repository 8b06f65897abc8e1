"""Train an sb3-pg algorithm and print its evaluation: ``python -m sb3_pg --algo reinforce --env CartPole-v1``."""

import argparse

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_pg import REINFORCE, REINFORCEBaseline

ALGOS = {"reinforce": REINFORCE, "reinforce_baseline": REINFORCEBaseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--algo", choices=sorted(ALGOS), default="reinforce_baseline")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--n-timesteps", type=int, default=100_000)
    parser.add_argument("--n-envs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=20)
    args = parser.parse_args()
    if args.n_timesteps < 1:
        parser.error("--n-timesteps must be >= 1")

    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    model = ALGOS[args.algo]("MlpPolicy", env, seed=args.seed).learn(args.n_timesteps)
    eval_env = make_vec_env(args.env, seed=args.seed + 10_000)
    mean, std = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"{args.algo} on {args.env}, {model.num_timesteps} steps, seed {args.seed}: ", end="")
    print(f"mean return {mean:.1f} +/- {std:.1f} over {args.eval_episodes} deterministic episodes")


if __name__ == "__main__":
    main()
