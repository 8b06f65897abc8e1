"""
Why OneStepAC stalls near 300 on Hopper-v5: its MuJoCo entry and one change at a time, 300k steps.

Every 25k steps it prints a deterministic evaluation (3 episodes on a separate env: return and length), the
training episodes' mean return and length (last 100), the policy's std, the critic's value of the current
observations (normalised scale) and VecNormalize's return variance (the reward scale is its square root).
A2C with ``n_steps=1`` (SB3's closest relative) and SB3's A2C at its defaults are the controls.

    python benchmarks/onestep_hopper.py NAME [SEED] > benchmarks/results/onestep_hopper/NAME.txt
"""

import sys
import time

import numpy as np
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

from sb3_pg import OneStepAC

# The entry (hyperparams/onestep_ac.yml, Hopper-v5) and the variants, each one change from it
VARIANTS: dict[str, dict] = {
    "base": {},
    "lr3e-5": {"learning_rate": 3e-5},
    "clr3e-4": {"critic_learning_rate": 3e-4},
    "dsw": {"discount_state_weighting": True},
    "nonormr": {"norm_reward": False},
    "vf256": {"policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [256, 256]}}},
    "std1": {"policy_kwargs": {"log_std_init": 0, "ortho_init": True}},
    "g999": {"gamma": 0.999},
    "a2c_n1": {"algo": "a2c", "n_steps": 1},
    "a2c_n5": {"algo": "a2c"},
}
STEPS, EVERY = 300_000, 25_000


class Diagnostics(BaseCallback):
    def __init__(self, eval_env: VecNormalize) -> None:
        super().__init__()
        self.eval_env, self.next, self.start = eval_env, 0, time.time()

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next:
            return True
        self.next += EVERY
        sync_envs_normalization(self.training_env, self.eval_env)
        returns, lengths = evaluate_policy(self.model, self.eval_env, n_eval_episodes=3, return_episode_rewards=True)
        episodes = self.model.ep_info_buffer
        train_return = np.mean([e["r"] for e in episodes]) if episodes else 0.0
        train_length = np.mean([e["l"] for e in episodes]) if episodes else 0.0
        env = self.training_env
        observations = th.as_tensor(env.normalize_obs(env.get_original_obs()), dtype=th.float32)
        value = self.model.policy.predict_values(observations).mean().item()
        std = th.exp(self.model.policy.log_std).mean().item()
        print(
            f"{self.num_timesteps:7d} eval {np.mean(returns):7.1f} len {np.mean(lengths):6.0f}"
            f" train_r {train_return:7.1f} train_len {train_length:5.0f} std {std:.3f} V {value:7.2f}"
            f" retvar {env.ret_rms.var.item():8.2f} t {time.time() - self.start:5.0f}",
            flush=True,
        )
        return True


def main(name: str, seed: int) -> None:
    th.set_num_threads(1)
    config = dict(VARIANTS[name])
    algo = config.pop("algo", "onestep_ac")
    gamma = config.get("gamma", 0.99)
    env = VecNormalize(
        make_vec_env("Hopper-v5", n_envs=8, seed=seed), gamma=gamma, norm_reward=config.pop("norm_reward", True)
    )
    eval_env = VecNormalize(make_vec_env("Hopper-v5", n_envs=1, seed=seed + 1000), training=False, norm_reward=False)
    if algo == "a2c":
        model = A2C("MlpPolicy", env, seed=seed, **config)  # SB3's defaults otherwise (the zoo's MuJoCo entry)
    else:
        policy_kwargs = {"log_std_init": -1, "ortho_init": False, "net_arch": {"pi": [64, 64], "vf": [64, 64]}}
        policy_kwargs.update(config.pop("policy_kwargs", {}))
        kwargs = {"learning_rate": 1e-4, "critic_learning_rate": 1e-3, "discount_state_weighting": False, **config}
        model = OneStepAC("MlpPolicy", env, policy_kwargs=policy_kwargs, seed=seed, **kwargs)
    model.learn(STEPS, callback=Diagnostics(eval_env))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
