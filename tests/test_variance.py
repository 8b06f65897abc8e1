"""The gradient-variance measurement: Φ_t of each form by hand, variances against a bandit's analytic ones."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_pg import REINFORCE, REINFORCEBaseline
from sb3_pg.diagnostics import (
    PHI_FORMS,
    GradientVarianceCallback,
    collect_episodes,
    gradient_variance,
    phi_weights,
)
from sb3_pg.reinforce.reinforce import score_sq_norms
from tests.envs import BanditEnv, ScriptedEnv

LINEAR = {"net_arch": []}  # no hidden layers: logits and V are affine in the observation


def constant_critic(model, value: float) -> None:
    with th.no_grad():
        model.policy.value_net.weight.zero_()
        model.policy.value_net.bias.fill_(value)


def test_collect_episodes_plays_whole_episodes_in_order():
    env = DummyVecEnv([lambda: ScriptedEnv([(3, False), (2, True)])])
    model = REINFORCE("MlpPolicy", env, seed=0)
    steps = collect_episodes(model, env, n_episodes=2)
    assert steps.rewards[:, 0].tolist() == [1, 2, 3, 1, 2]
    assert steps.dones[:, 0].tolist() == [False, False, True, False, True]
    assert steps.terminated[:, 0].tolist() == [False, False, True, False, False]  # the second was truncated
    # s_{t+1}, with each episode's true final observation (the VecEnv has already reset)
    assert steps.next_observations.tolist() == [[0, 1], [0, 2], [0, 3], [1, 1], [1, 2]]
    assert steps.observations.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]


def test_phi_weights_by_hand():
    env = DummyVecEnv([lambda: ScriptedEnv([(3, False), (2, True)])])
    gamma, lam, c = 0.5, 0.5, 4.0
    model = REINFORCEBaseline("MlpPolicy", env, gamma=gamma, seed=0)
    constant_critic(model, c)  # V ≡ 4
    weights = {k: v.tolist() for k, v in phi_weights(model, collect_episodes(model, env, 2), lam).items()}
    returns = [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 1 + 0.5 * 2, 2]  # rewards 1,2,3 | 1,2
    assert weights["full_return"] == pytest.approx([returns[0]] * 3 + [returns[3]] * 2)
    assert weights["reward_to_go"] == pytest.approx(returns)
    assert weights["reward_to_go_baseline"] == pytest.approx([g - c for g in returns])
    # δ = r + γV(s') − V(s), V(s') = 0 after the termination, V(final obs) = 4 after the truncation
    deltas = [1 + 0.5 * c - c, 2 + 0.5 * c - c, 3 - c, 1 + 0.5 * c - c, 2 + 0.5 * c - c]
    assert weights["td0"] == pytest.approx(deltas)
    k = gamma * lam
    gae = [deltas[0] + k * deltas[1] + k**2 * deltas[2], deltas[1] + k * deltas[2], deltas[2]]
    gae += [deltas[3] + k * deltas[4], deltas[4]]
    assert weights["gae"] == pytest.approx(gae)
    # G_t − b*, b* of each step from the other episode's steps (score norms of the policy's actor)
    steps = collect_episodes(model, env, 2)
    norms = score_sq_norms(model.policy, th.as_tensor(steps.observations), th.as_tensor(steps.actions)).numpy()
    returns = phi_weights(model, steps, lam)["reward_to_go"].numpy()
    first = np.arange(len(returns)) < np.flatnonzero(steps.dones[:, 0])[0] + 1  # the steps of the first episode
    b_first = (norms[~first] * returns[~first]).sum() / norms[~first].sum()
    b_second = (norms[first] * returns[first]).sum() / norms[first].sum()
    expected = returns - np.where(first, b_first, b_second)
    np.testing.assert_allclose(phi_weights(model, steps, lam)["reward_to_go_optimal"].numpy(), expected, rtol=1e-5)


def bandit_model(rewards=(1.0, 2.0, 6.0)):
    env = DummyVecEnv([lambda: BanditEnv(rewards)])
    model = REINFORCEBaseline("MlpPolicy", env, policy_kwargs=LINEAR, seed=0)
    with th.no_grad():
        model.policy.action_net.bias.copy_(th.tensor([0.5, 0.0, -0.5]))
    return model, env


def test_bandit_variances_match_the_analytic_ones():
    """
    One-step bandit, constant observation 0: only the logits' bias b gets a gradient, and one sample's
    estimate is (r_a − baseline)(e_a − p). Its mean is p ⊙ (r − r̄) and the trace of its covariance is
    E[(r_a − b)² ‖e_a − p‖²] − ‖p ⊙ (r − r̄)‖²; a batch of T samples divides the trace by T.
    """
    model, env = bandit_model()
    r = np.array([1.0, 2.0, 6.0])
    p = th.softmax(th.tensor([0.5, 0.0, -0.5]), dim=0).numpy().astype(np.float64)
    baseline = 2.5
    constant_critic(model, baseline)
    mean = p * (r - p @ r)

    def trace(b: float) -> float:
        square = sum(p[a] * (r[a] - b) ** 2 * np.sum((np.eye(3)[a] - p) ** 2) for a in range(3))
        return square - mean @ mean

    th.manual_seed(0)
    batch = 16
    results = gradient_variance(model, env, n_batches=400, batch_episodes=batch, reference_episodes=4000)
    # Episodes of one step: the whole return is the reward-to-go, and δ_t = r − V(s) is G_t − V(s_t) for any λ
    assert results["full_return"] == results["reward_to_go"]
    assert results["td0"] == results["reward_to_go_baseline"] == results["gae"]
    assert results["reward_to_go"]["trace_cov"] == pytest.approx(trace(0.0) / batch, rel=0.2)
    assert results["reward_to_go_baseline"]["trace_cov"] == pytest.approx(trace(baseline) / batch, rel=0.2)
    assert trace(baseline) < 0.3 * trace(0.0)  # so the check above tells the two apart
    # b* = Σ_a p(a) ‖e_a − p‖² r(a) / Σ_a p(a) ‖e_a − p‖², estimated from the batch's other episodes: close to it
    norms = ((np.eye(3) - p) ** 2).sum(axis=1)
    optimal = (p * norms * r).sum() / (p * norms).sum()
    assert results["reward_to_go_optimal"]["trace_cov"] == pytest.approx(trace(optimal) / batch, rel=0.25)
    assert trace(optimal) < trace(baseline) < trace(0.0)
    # Both unbiased: the mean of 400 batches points where the reference does
    assert results["reward_to_go"]["mean_cosine"] > 0.99
    assert results["reward_to_go_baseline"]["cosine"] > results["reward_to_go"]["cosine"]


def test_bad_arguments_name_the_parameter():
    model, env = bandit_model()
    with pytest.raises(ValueError, match="n_batches"):
        gradient_variance(model, env, n_batches=1)
    with pytest.raises(ValueError, match="batch_episodes"):
        gradient_variance(model, env, batch_episodes=0)
    with pytest.raises(ValueError, match="gae_lambda"):
        gradient_variance(model, env, gae_lambda=1.5)
    with pytest.raises(ValueError, match="num_envs"):
        gradient_variance(model, make_vec_env(lambda: BanditEnv(), n_envs=2))
    with pytest.raises(ValueError, match="eval_freq"):
        GradientVarianceCallback(env, eval_freq=0)


def test_callback_logs_during_training_and_syncs_normalisation(tmp_path):
    train_env = VecNormalize(make_vec_env("CartPole-v1", n_envs=2, seed=0))
    env = VecNormalize(make_vec_env("CartPole-v1", n_envs=1, seed=1), training=False)
    model = REINFORCEBaseline("MlpPolicy", train_env, n_episodes=2, seed=0)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    callback = GradientVarianceCallback(env, eval_freq=150, n_batches=3, batch_episodes=2, reference_episodes=4)
    model.learn(600, callback=callback, log_interval=1)  # a log row per batch, where the measurements show
    assert [t for t, _ in callback.measurements] == [300 * k for k in range(1, len(callback.measurements) + 1)]
    assert len(callback.measurements) >= 2
    assert set(callback.measurements[-1][1]) == set(PHI_FORMS)
    assert all(np.isfinite(list(stats.values())).all() for _, r in callback.measurements for stats in r.values())
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {f"grad_variance/{form}/trace_cov" for form in PHI_FORMS} <= set(header)
    model.policy.set_training_mode(True)
    assert not np.allclose(env.obs_rms.mean, train_env.obs_rms.mean)  # training went on after the last one
    callback.measure()
    np.testing.assert_allclose(env.obs_rms.mean, train_env.obs_rms.mean)  # measured with the training statistics
    assert model.policy.training  # and the mode restored
