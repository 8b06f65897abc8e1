"""
The policy-gradient estimate on a 3-armed softmax bandit, measured through ``train()``: with SGD at
learning rate α, one update moves the logits by exactly α·ĝ, so ĝ can be read off the parameters.
"""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_pg import REINFORCE, REINFORCEBaseline
from sb3_pg.common import estimators
from tests.envs import BanditEnv

REWARDS = np.array([1.0, 2.0, 6.0])
PI = np.full(3, 1 / 3)  # uniform policy: all logits zero
ALPHA = 0.01
EPISODES = 16  # per batch
BATCHES = 300


def analytic_gradient(baseline: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """∇J = Σ_a π(a) r(a) ∇log π(a) at θ = 0, and the covariance of one sample (r(a) − b)·∇log π(a)."""
    scores = np.eye(3) - PI  # ∇_z log π(a) = e_a − π for a softmax over logits z
    mean = sum(PI[a] * REWARDS[a] * scores[a] for a in range(3))
    second = sum(PI[a] * (REWARDS[a] - baseline) ** 2 * np.outer(scores[a], scores[a]) for a in range(3))
    return mean, second - np.outer(mean, mean)


def gradient_estimates(model: REINFORCE) -> np.ndarray:
    """BATCHES independent estimates ĝ of the logits' gradient, each from a fresh batch at θ = 0."""
    logits = model.policy.action_net.bias
    estimates = []
    for _ in range(BATCHES):
        with th.no_grad():
            model.policy.action_net.weight.zero_()
            logits.zero_()
        model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)
        model.train()
        estimates.append(logits.detach().numpy() / ALPHA)
    return np.array(estimates)


def bandit_model(cls, **kwargs) -> REINFORCE:
    model = cls(
        "MlpPolicy",
        DummyVecEnv([BanditEnv] * 4),
        learning_rate=ALPHA,
        n_episodes=EPISODES,
        max_grad_norm=None,
        policy_kwargs=dict(net_arch=dict(pi=[], vf=[]), optimizer_class=th.optim.SGD, optimizer_kwargs={}),
        seed=0,
        **kwargs,
    )
    model._setup_learn(10**9)
    return model


def assert_unbiased(estimates: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    standard_error = np.sqrt(np.diag(cov) / (EPISODES * BATCHES))
    np.testing.assert_array_less(np.abs(estimates.mean(axis=0) - mean), 5 * standard_error)


def test_reinforce_gradient_matches_analytic():
    mean, cov = analytic_gradient()
    # At the uniform policy the worst arm is pushed down and the best one up (seed 000's bandit)
    assert mean[0] < 0 < mean[2]
    estimates = gradient_estimates(bandit_model(REINFORCE, normalize_advantage=False))
    assert_unbiased(estimates, mean, cov)
    # The spread is that of the plain score-function estimator averaged over a batch
    measured = np.trace(np.cov(estimates.T))
    assert measured == pytest.approx(np.trace(cov) / EPISODES, rel=0.25)


def test_a_wrong_estimator_is_detected():
    """The test above can fail: whole-batch normalisation rescales the step, so the mean moves."""
    mean, cov = analytic_gradient()
    estimates = gradient_estimates(bandit_model(REINFORCE, normalize_advantage=True))
    with pytest.raises(AssertionError):
        assert_unbiased(estimates, mean, cov)


def test_state_only_baseline_keeps_the_mean_and_lowers_the_variance():
    baseline = REWARDS.mean()
    mean, _ = analytic_gradient()
    _, cov_with = analytic_gradient(baseline)

    model = bandit_model(REINFORCEBaseline, normalize_advantage=False, critic_learning_rate=0.0)
    with th.no_grad():  # a fixed critic V(s) = b: the baseline depends on the state only
        model.policy.value_net.weight.zero_()
        model.policy.value_net.bias.fill_(baseline)
    with_baseline = gradient_estimates(model)
    without_baseline = gradient_estimates(bandit_model(REINFORCE, normalize_advantage=False))

    assert model.policy.value_net.bias.item() == baseline  # critic_learning_rate=0 froze it
    assert_unbiased(with_baseline, mean, cov_with)
    var_with = np.trace(np.cov(with_baseline.T))
    var_without = np.trace(np.cov(without_baseline.T))
    assert var_with == pytest.approx(np.trace(cov_with) / EPISODES, rel=0.25)
    assert var_with < 0.5 * var_without  # analytically 1.56 vs 7.56 per sample


# A non-uniform policy, where the variance-minimising baseline b* differs from the mean reward
LOGITS = np.array([0.0, 1.0, 2.0])


def softmax_scores(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """π, and the score ∇_z log π(a) = e_a − π of each arm (rows)."""
    pi = np.exp(logits) / np.exp(logits).sum()
    return pi, np.eye(3) - pi


def optimal_model(n_episodes: int = EPISODES) -> REINFORCE:
    model = bandit_model(REINFORCE, baseline="optimal", normalize_advantage=False)
    model.n_episodes = n_episodes
    return model


def set_logits(model: REINFORCE) -> None:
    with th.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(th.as_tensor(LOGITS))


def test_optimal_baseline_matches_the_closed_form():
    """b* = Σ_a π(a) ‖∇log π(a)‖² r(a) / Σ_a π(a) ‖∇log π(a)‖², measured on a large batch."""
    pi, scores = softmax_scores(LOGITS)
    norms = (scores**2).sum(axis=1)
    analytic = (pi * norms * REWARDS).sum() / (pi * norms).sum()
    assert abs(analytic - (pi * REWARDS).sum()) > 1.5  # far from the mean reward

    model = optimal_model(n_episodes=4000)
    set_logits(model)
    model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)
    buffer = model.rollout_buffer
    returns = buffer.advantages[buffer.in_batch].copy()
    model._subtract_optimal_baseline()
    baseline = returns - buffer.advantages[buffer.in_batch]
    assert baseline.mean() == pytest.approx(analytic, rel=0.03)
    assert baseline.std() < 0.01 * analytic  # leaving one episode out of 4000 barely moves it


def test_optimal_baseline_is_unbiased_and_beats_the_mean_reward():
    """
    On the same batches: the update with b* (read off the parameters) is the hand computation with analytic
    scores; it is unbiased; and its variance is measured below the batch-mean baseline's and far below none.
    """
    pi, scores = softmax_scores(LOGITS)
    gradient = (pi * REWARDS) @ scores
    model = optimal_model()
    estimates: dict[str, list[np.ndarray]] = {"optimal": [], "batch_mean": [], "none": []}
    for _ in range(BATCHES):
        set_logits(model)
        model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)
        buffer = model.rollout_buffer
        arms = buffer.actions[buffer.in_batch][:, 0].astype(int)
        rewards = REWARDS[arms]
        n = len(arms)
        model.train()
        estimates["optimal"].append((model.policy.action_net.bias.detach().numpy() - LOGITS) / ALPHA)
        # By hand from the same samples: b* without each sample's own episode (one step each), the mean reward
        # without it, and no baseline
        norms = (scores[arms] ** 2).sum(axis=1)
        b = estimators.optimal_baseline(norms, rewards, np.arange(n))
        np.testing.assert_allclose(estimates["optimal"][-1], ((rewards - b) @ scores[arms]) / n, rtol=1e-4, atol=1e-5)
        leave_one_out_mean = (rewards.sum() - rewards) / (n - 1)
        estimates["batch_mean"].append(((rewards - leave_one_out_mean) @ scores[arms]) / n)
        estimates["none"].append((rewards @ scores[arms]) / n)
    optimal = np.array(estimates["optimal"])
    analytic_cov = (pi * (REWARDS - 2.73) ** 2 * (scores**2).sum(axis=1)).sum()  # ≈ the trace with b*, per sample
    standard_error = np.sqrt(analytic_cov / (EPISODES * BATCHES))
    np.testing.assert_array_less(np.abs(optimal.mean(axis=0) - gradient), 5 * standard_error)
    trace = {form: np.trace(np.cov(np.array(values).T)) for form, values in estimates.items()}
    assert trace["optimal"] < 0.6 * trace["batch_mean"]
    assert trace["optimal"] < 0.3 * trace["none"]


def test_optimal_baseline_needs_what_it_computes_with():
    with pytest.raises(ValueError, match="normalize_advantage=False"):
        REINFORCE("MlpPolicy", "CartPole-v1", baseline="optimal")
    with pytest.raises(ValueError, match=r"baseline must be one of \(None, 'optimal'\), got 'mean'"):
        REINFORCE("MlpPolicy", "CartPole-v1", baseline="mean")
    with pytest.raises(ValueError, match="Discrete/MultiDiscrete observations"):
        REINFORCE("MlpPolicy", "FrozenLake-v1", baseline="optimal", normalize_advantage=False)
