"""A short learning check; learning-quality claims live in benchmarks/."""

import pytest
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_pg import REINFORCE, REINFORCEBaseline

RANDOM_POLICY_RETURN = 22  # CartPole-v1, uniform random actions


@pytest.mark.parametrize("seed", [0, 1])
def test_reinforce_baseline_learns_cartpole(seed):
    env = make_vec_env("CartPole-v1", seed=seed)
    model = REINFORCEBaseline("MlpPolicy", env, learning_rate=3e-3, critic_learning_rate=1e-2, n_episodes=4, seed=seed)
    model.learn(20_000)
    mean_return, _ = evaluate_policy(model, make_vec_env("CartPole-v1", seed=100 + seed), n_eval_episodes=10)
    assert mean_return > 10 * RANDOM_POLICY_RETURN


@pytest.mark.parametrize("seed", [0, 1])
def test_reinforce_learns_cartpole(seed):
    """Plain REINFORCE (reward-to-go, standardised): evaluated at 500 and 493 for seeds 0 and 1 when written."""
    env = make_vec_env("CartPole-v1", seed=seed)
    model = REINFORCE("MlpPolicy", env, learning_rate=3e-3, n_episodes=4, seed=seed)
    model.learn(20_000)
    mean_return, _ = evaluate_policy(model, make_vec_env("CartPole-v1", seed=100 + seed), n_eval_episodes=10)
    assert mean_return > 10 * RANDOM_POLICY_RETURN
