"""The Φ_t estimators against returns worked out by hand."""

import numpy as np
import pytest
import torch as th

from sb3_pg.common import estimators

GAMMA = 0.5
# Two envs, five steps. env 0: an episode of 2 steps (terminated), then one of 3 (truncated).
# env 1: an episode of 4 steps (truncated), then the first step of an unfinished one.
REWARDS = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]])
DONES = np.array([[0, 0], [1, 0], [0, 0], [0, 1], [1, 0]], dtype=bool)


def test_reward_to_go_stays_in_its_episode():
    expected = np.array(
        [
            [1 + 0.5 * 2, 10 + 0.5 * 20 + 0.25 * 30 + 0.125 * 40],
            [2, 20 + 0.5 * 30 + 0.25 * 40],
            [3 + 0.5 * 4 + 0.25 * 5, 30 + 0.5 * 40],
            [4 + 0.5 * 5, 40],
            [5, 50],  # env 1: unfinished episode, cut at the end of the array
        ]
    )
    np.testing.assert_allclose(estimators.reward_to_go(REWARDS, DONES, GAMMA), expected)


def test_episode_return_repeats_g0():
    g0_env0 = [2.0, 2.0, 6.25, 6.25, 6.25]
    g0_env1 = [10 + 0.5 * 20 + 0.25 * 30 + 0.125 * 40] * 4 + [50.0]
    np.testing.assert_allclose(estimators.episode_return(REWARDS, DONES, GAMMA), np.array([g0_env0, g0_env1]).T)


def test_discount_weights_restart_at_each_episode():
    expected = np.array([[1, 1], [0.5, 0.5], [1, 0.25], [0.5, 0.125], [0.25, 1]])
    np.testing.assert_allclose(estimators.discount_weights(DONES, GAMMA), expected)


def test_td_error_bootstraps_unless_terminated():
    rewards = np.array([1.0, 1.0, 1.0])
    values = np.array([2.0, 2.0, 2.0])
    next_values = np.array([4.0, 4.0, 4.0])
    terminated = np.array([0.0, 1.0, 0.0])
    delta = estimators.td_error(rewards, values, next_values, terminated, 0.9)
    np.testing.assert_allclose(delta, [1 + 3.6 - 2, 1 - 2, 1 + 3.6 - 2])


def test_normalize():
    x = th.tensor([1.0, 2.0, 3.0, 6.0])
    y = estimators.normalize(x)
    assert y.mean().abs() < 1e-6
    assert y.std(correction=0) == pytest.approx(1.0, abs=1e-6)
    assert estimators.normalize(th.tensor([5.0])).item() == 0.0
    # numpy arrays too (the buffers'), with the same population std
    np.testing.assert_allclose(estimators.normalize(x.numpy()), y.numpy(), rtol=1e-6)


def test_optimal_baseline_leaves_each_episode_out():
    # Three episodes: steps 0-1, step 2, steps 3-5
    weights = np.array([1.0, 3.0, 2.0, 0.5, 0.5, 1.0])
    returns = np.array([4.0, 2.0, 10.0, 1.0, 3.0, 5.0])
    episodes = np.array([7, 7, 2, 5, 5, 5])
    baseline = estimators.optimal_baseline(weights, returns, episodes)

    def b(others: list[int]) -> float:
        return float((weights[others] * returns[others]).sum() / weights[others].sum())

    expected = [b([2, 3, 4, 5])] * 2 + [b([0, 1, 3, 4, 5])] + [b([0, 1, 2])] * 3
    np.testing.assert_allclose(baseline, expected)
    # With a single episode there is nothing else to learn b from: no baseline
    np.testing.assert_array_equal(estimators.optimal_baseline(weights[:2], returns[:2], episodes[:2]), [0.0, 0.0])
