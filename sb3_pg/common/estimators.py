"""The policy-gradient weights Φ_t, in one place.

Every algorithm in sb3-pg estimates ∇J(θ) = E[Σ_t Φ_t ∇ log π(a_t|s_t)] and differs only in Φ_t:

===================================  ==============================  =============================
Φ_t                                  function                        used by
===================================  ==============================  =============================
G_0, the whole-episode return        :func:`episode_return`          REINFORCE(reward_to_go=False)
G_t, the reward-to-go                :func:`reward_to_go`            REINFORCE
G_t − b*, the variance-minimising   :func:`optimal_baseline`        REINFORCE(baseline="optimal")
constant baseline
G_t − V(s_t), a state-only baseline  ``reward_to_go(...) - values``  REINFORCEBaseline
δ_t = r_t + γV(s_{t+1}) − V(s_t)     :func:`td_error`                OneStepAC
Σ_l (γλ)^l δ_{t+l}, GAE(λ)           :func:`gae`                     REINFORCEBaseline(gae_lambda<1),
                                                                     SB3's A2C and PPO
===================================  ==============================  =============================

optionally multiplied by γ^t (:func:`discount_weights`), the factor the discounted policy-gradient theorem
has and common practice drops (Thomas, 2014).

Arrays are laid out ``(n_steps, n_envs)`` as in SB3's ``RolloutBuffer``; ``dones[t]`` says that the
episode of that env ended with step ``t`` (terminated or truncated), so the next row starts a new one.
Returns never cross an episode boundary. A column's steps after its last ``done`` belong to an
unfinished episode: their returns are cut at the end of the array and must be masked out by the caller.
"""

import numpy as np
import torch as th


def reward_to_go(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """
    Discounted return from each step to the end of its episode, G_t = Σ_{k≥t} γ^{k-t} r_k. A time-limit
    truncation's γ·V(s_T), where an algorithm bootstraps, is already in the episode's last reward.

    :param rewards: rewards, shape ``(n_steps, n_envs)``
    :param dones: whether the episode ended with this step, same shape
    :param gamma: discount factor
    :return: G_t, same shape, float32
    """
    returns = np.zeros(rewards.shape, dtype=np.float32)
    next_return = np.zeros(rewards.shape[1:], dtype=np.float64)
    for t in reversed(range(len(rewards))):
        next_return = rewards[t] + gamma * np.where(dones[t], 0.0, next_return)
        returns[t] = next_return
    return returns


def episode_starts(dones: np.ndarray) -> np.ndarray:
    """Whether each step is the first of its episode (the first row always is)."""
    starts = np.ones(dones.shape, dtype=bool)
    starts[1:] = dones[:-1]
    return starts


def episode_return(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """
    The whole episode's discounted return G_0, repeated at every step of the episode: the naive
    REINFORCE weight, which also credits an action with rewards that came before it.

    Same parameters as :func:`reward_to_go`.
    """
    returns = reward_to_go(rewards, dones, gamma)
    starts = episode_starts(dones)
    for t in range(1, len(returns)):
        returns[t] = np.where(starts[t], returns[t], returns[t - 1])
    return returns


def discount_weights(dones: np.ndarray, gamma: float) -> np.ndarray:
    """
    γ^k for the k-th step (from 0) of each episode: the state weighting of the discounted
    policy-gradient theorem. Without it the estimator follows the undiscounted state distribution,
    which is not the gradient of the discounted objective (Thomas, 2014).
    """
    weights = np.ones(dones.shape, dtype=np.float32)
    starts = episode_starts(dones)
    for t in range(1, len(weights)):
        weights[t] = np.where(starts[t], 1.0, gamma * weights[t - 1])
    return weights


def td_error(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    gamma: float,
) -> np.ndarray:
    """
    One-step TD error δ_t = r_t + γ(1 − terminated_t)·V(s_{t+1}) − V(s_t).

    On a time-limit truncation ``next_values`` must be V of the true final observation and
    ``terminated`` False: the episode was cut, the state still has a future. A termination has none.
    Works on numpy arrays and torch tensors alike.
    """
    return rewards + gamma * (1.0 - terminated) * next_values - values


def gae(deltas: np.ndarray, dones: np.ndarray, gamma: float, gae_lambda: float) -> np.ndarray:
    """
    Generalised advantage estimate Σ_l (γλ)^l δ_{t+l} within each episode (Schulman et al., 2016): the
    reward-to-go of the TD errors at discount γλ. λ = 0 gives δ_t, λ = 1 gives G_t − V(s_t).
    """
    return reward_to_go(deltas, dones, gamma * gae_lambda)


def optimal_baseline(score_sq_norms: np.ndarray, returns: np.ndarray, episode_ids: np.ndarray) -> np.ndarray:
    """
    The constant baseline that minimises the variance (the trace of the covariance) of the estimate
    Σ_i (G_i − b) ∇log π(a_i|s_i) over samples i, b* = Σ_i ‖∇log π(a_i|s_i)‖² G_i / Σ_i ‖∇log π(a_i|s_i)‖²
    (Weaver & Tao, 2001; Greensmith et al., 2004), estimated for each sample *without its own episode*:
    a baseline computed from the action it weights, or from the later steps that action led to, would bias
    the estimate; one from the other episodes of the batch, which are independent of it, does not. Steps are
    treated as independent samples, as in the one-step (bandit) case where b* is exact.

    :param score_sq_norms: ‖∇_θ log π(a_i|s_i)‖² of each sample
    :param returns: the weight each sample's score is multiplied by (G_t, or G_0)
    :param episode_ids: which episode each sample belongs to
    :return: b* of each sample, 0 where no other episode has a nonzero score
    """
    weights, returns = np.asarray(score_sq_norms, dtype=np.float64), np.asarray(returns, dtype=np.float64)
    episode = np.unique(episode_ids, return_inverse=True)[1].reshape(-1)
    numerator = (weights * returns).sum() - np.bincount(episode, weights=weights * returns)[episode]
    denominator = weights.sum() - np.bincount(episode, weights=weights)[episode]
    positive = denominator > 1e-12 * max(weights.sum(), 1e-30)
    return np.where(positive, numerator / np.where(positive, denominator, 1.0), 0.0)


def normalize(x: np.ndarray | th.Tensor, eps: float = 1e-8) -> np.ndarray | th.Tensor:
    """Per-batch standardisation (x − mean) / (std + eps); population std, so a single sample gives 0."""
    std = x.std(correction=0) if isinstance(x, th.Tensor) else x.std()
    return (x - x.mean()) / (std + eps)
