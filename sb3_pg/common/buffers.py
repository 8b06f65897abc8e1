"""
SB3's rollout buffers, extended as the algorithms need (as sb3-contrib's ``MaskableRolloutBuffer`` does):
batches of complete, variable-length episodes for REINFORCE, and the I = γ^t factor for one-step
actor-critic. Samples are SB3's ``RolloutBufferSamples`` fields plus ``discounts`` (γ^t, or I).
"""

from collections.abc import Callable, Generator
from typing import NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.vec_env import VecNormalize

from sb3_pg.common import estimators
from sb3_pg.common.policies import non_finite_part


class DiscountedRolloutBufferSamples(NamedTuple):
    """SB3's ``RolloutBufferSamples`` / ``DictRolloutBufferSamples`` with the state weighting of each step."""

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    discounts: th.Tensor  # γ^t, t counted from the episode's start


def check_env_observation(observation: np.ndarray | dict[str, np.ndarray]) -> None:
    """Refuse a NaN or inf observation from the env, naming it."""
    if non_finite_part(observation) is not None:
        raise ValueError("the environment returned a non-finite observation (NaN or inf): refusing to train on it")


def check_finite(observation: np.ndarray | dict[str, np.ndarray], reward: np.ndarray) -> None:
    """A NaN or inf from the env would silently poison every later update: stop instead, naming it."""
    check_env_observation(observation)
    if not np.isfinite(reward).all():
        raise ValueError("the environment returned a non-finite reward (NaN or inf): refusing to train on it")


class DiscountedSamplesMixin:
    """
    SB3's samples plus ``discounts``, the weight of each step (mixed into SB3's rollout buffers); ``add`` refuses
    a non-finite observation or reward, the one place where the env's data are checked.
    """

    discounts: np.ndarray

    def add(self, obs, action, reward, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        check_finite(obs, np.asarray(reward))
        super().add(obs, action, reward, *args, **kwargs)  # type: ignore[misc]

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> DiscountedRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)  # type: ignore[misc]
        discounts = self.to_torch(self.discounts[batch_inds].flatten())  # type: ignore[attr-defined]
        return DiscountedRolloutBufferSamples(*samples, discounts=discounts)


class EpisodeBufferMixin(DiscountedSamplesMixin):
    """
    The part of :class:`EpisodeRolloutBuffer` that does not depend on the observation type (mixed into
    SB3's ``RolloutBuffer`` and ``DictRolloutBuffer``).
    """

    buffer_size: int
    pos: int
    full: bool
    generator_ready: bool
    n_envs: int
    gamma: float
    observations: np.ndarray | dict[str, np.ndarray]
    rewards: np.ndarray
    episode_starts: np.ndarray
    values: np.ndarray
    returns: np.ndarray
    advantages: np.ndarray
    reward_to_go: bool
    _ARRAYS = ("actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages", "discounts")
    _SAMPLED = ("actions", "values", "log_probs", "advantages", "returns", "discounts")  # flattened by get()

    def __init__(self, *args, reward_to_go: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        self.reward_to_go = reward_to_go
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.in_batch = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.discounts = np.ones((self.buffer_size, self.n_envs), dtype=np.float32)

    def add(self, *args, in_batch: np.ndarray, **kwargs) -> None:  # type: ignore[no-untyped-def]
        """
        SB3's ``add`` (obs, action, reward, episode_start, value, log_prob), plus whether each env's step
        belongs to an episode of the batch. The buffer doubles its length when it is full.
        """
        if self.pos == self.buffer_size:
            self._grow()
        self.in_batch[self.pos] = in_batch
        super().add(*args, **kwargs)  # type: ignore[misc]

    def _grow(self) -> None:
        def doubled(array: np.ndarray) -> np.ndarray:
            return np.concatenate([array, np.zeros_like(array)])

        for name in (*self._ARRAYS, "in_batch"):
            setattr(self, name, doubled(getattr(self, name)))
        self.observations = self._map_observations(doubled)
        self.buffer_size *= 2
        self.full = False

    def _map_observations(self, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """``fn`` of the observations, or of each of a Dict's (where SB3's two buffers differ)."""
        if isinstance(self.observations, dict):
            return {key: fn(obs) for key, obs in self.observations.items()}
        return fn(self.observations)

    @property
    def n_steps(self) -> int:
        """Steps that belong to the batch."""
        return int(self.in_batch[: self.pos].sum())

    @property
    def n_episodes(self) -> int:
        """Complete episodes in the batch (every episode of the batch starts and ends in the buffer)."""
        return int((self.episode_starts[: self.pos].astype(bool) & self.in_batch[: self.pos]).sum())

    def batch_observations(self) -> np.ndarray | dict[str, np.ndarray]:
        """The batch's observations, in the order of ``array[in_batch]`` for the buffer's other arrays."""
        in_batch = self.in_batch[: self.pos]
        return self._map_observations(lambda obs: obs[: self.pos][in_batch])

    def set_batch_values(self, values: np.ndarray) -> None:
        """Set V(s_t) of the batch's steps (in the order of :meth:`batch_observations`), before the returns."""
        self.values[: self.pos][self.in_batch[: self.pos]] = values

    def episode_ids(self) -> np.ndarray:
        """A number for each step, ``(pos, n_envs)``, shared by the steps of one episode and by no other's."""
        starts = self.episode_starts[: self.pos].astype(np.int64).cumsum(axis=0)
        return starts + np.arange(self.n_envs) * (self.pos + 1)

    def normalize_advantages(self) -> None:
        """Standardise the batch's advantages with the whole batch's mean and std (not a minibatch's)."""
        batch = self._batch_indices if self.generator_ready else self.in_batch
        self.advantages[batch] = estimators.normalize(self.advantages[batch])

    def compute_returns_and_advantage(self, last_values: th.Tensor | None, dones: np.ndarray) -> None:
        """
        Monte Carlo returns of the complete episodes, once the rollout is over: G_t (``returns``), Φ_t − V(s_t)
        with Φ_t = G_t or, without ``reward_to_go``, the episode's G_0 (``advantages``; ``values`` are zero
        for an algorithm without a critic), and γ^t (``discounts``). With ``gae_lambda`` < 1 the advantages
        are GAE(λ) of the TD errors within each episode instead (λ = 0: δ_t). Time-limit bootstrapping is
        already in the rewards, as in SB3's ``collect_rollouts``.

        :param last_values: unused: every episode of the batch has ended
        :param dones: whether each env's episode ended with the last step
        """
        for name in (*self._ARRAYS, "in_batch"):  # drop the unused rows of the last doubling
            setattr(self, name, getattr(self, name)[: self.pos])
        self.observations = self._map_observations(lambda obs: obs[: self.pos])
        self.buffer_size, self.full = self.pos, True

        ends = np.concatenate([self.episode_starts[1:], np.asarray(dones, dtype=np.float32)[None]]).astype(bool)
        # Every episode of the batch ends inside the buffer, so no return is cut short
        assert not (self.in_batch[-1] & ~ends[-1]).any(), "an episode of the batch has not ended"
        self.returns = estimators.reward_to_go(self.rewards, ends, self.gamma)
        self.discounts = estimators.discount_weights(ends, self.gamma)
        if self.gae_lambda == 1:  # Monte Carlo: exactly Φ_t − V(s_t)
            weights = self.returns if self.reward_to_go else estimators.episode_return(self.rewards, ends, self.gamma)
            self.advantages = weights - self.values
            return
        # GAE(λ) within each episode. An episode's last step has no next value: a termination has no future,
        # and a truncation's γ·V(s_T) is already in its reward
        next_values = np.concatenate([self.values[1:], np.zeros_like(self.values[:1])])
        deltas = estimators.td_error(self.rewards, self.values, next_values, ends.astype(np.float32), self.gamma)
        self.advantages = estimators.gae(deltas, ends, self.gamma, self.gae_lambda)

    def get(self, batch_size: int | None = None) -> Generator[DiscountedRolloutBufferSamples, None, None]:
        """The batch's steps in random order, in minibatches of ``batch_size`` (``None``: all at once)."""
        assert self.full, "compute_returns_and_advantage() must come first"
        if not self.generator_ready:
            for name in self._SAMPLED:
                setattr(self, name, self.swap_and_flatten(getattr(self, name)))  # type: ignore[attr-defined]
            self.observations = self._map_observations(self.swap_and_flatten)  # type: ignore[attr-defined]
            self._batch_indices = np.flatnonzero(self.swap_and_flatten(self.in_batch))  # type: ignore[attr-defined]
            self.generator_ready = True
        indices = np.random.permutation(self._batch_indices)
        batch_size = batch_size or len(indices)
        for start in range(0, len(indices), batch_size):
            yield self._get_samples(indices[start : start + batch_size])


class EpisodeRolloutBuffer(EpisodeBufferMixin, RolloutBuffer):
    """
    SB3's ``RolloutBuffer`` for Monte Carlo policy gradients: it holds the steps of a VecEnv until every
    episode of the batch has ended (its length grows as needed, ``buffer_size`` is only the initial
    length), marks the steps that belong to the batch (``in_batch``), computes returns that stay within
    their own episode, and yields only the batch's steps.

    :param buffer_size: Initial length (VecEnv steps); doubled whenever it is full
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: λ of the advantages: 1 gives the Monte Carlo Φ_t − V(s_t), below 1 GAE(λ) within each
        episode (Schulman et al., 2016), from the ``values`` the algorithm sets before computing them
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param reward_to_go: Weight each step by the reward-to-go G_t (True) or by the whole episode's return G_0
    """


class DictEpisodeRolloutBuffer(EpisodeBufferMixin, DictRolloutBuffer):
    """:class:`EpisodeRolloutBuffer` for ``Dict`` observations (SB3's ``DictRolloutBuffer``); same parameters."""


class OneStepBufferMixin(DiscountedSamplesMixin):
    """I = γ^t of each env's current episode, kept across rollouts (mixed into SB3's rollout buffers)."""

    n_envs: int
    gamma: float
    episode_starts: np.ndarray
    pos: int

    def __init__(self, *args, discount_state_weighting: bool = True, **kwargs):  # type: ignore[no-untyped-def]
        self.discount_state_weighting = discount_state_weighting
        super().__init__(*args, **kwargs)

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.discounts = np.ones((self.buffer_size, self.n_envs), dtype=np.float32)  # type: ignore[attr-defined]
        if not hasattr(self, "_discount"):
            self._discount = np.ones(self.n_envs, dtype=np.float32)

    def add(self, obs, action, reward, episode_start, value, log_prob) -> None:  # type: ignore[no-untyped-def]
        # I restarts at 1 with each episode and is multiplied by γ after every step
        self._discount = np.where(episode_start, 1.0, self.gamma * self._discount).astype(np.float32)
        self.discounts[self.pos] = self._discount if self.discount_state_weighting else 1.0  # type: ignore[attr-defined]
        super().add(obs, action, reward, episode_start, value, log_prob)  # type: ignore[misc]

    def get(self, batch_size: int | None = None) -> Generator[DiscountedRolloutBufferSamples, None, None]:
        if not self.generator_ready:  # type: ignore[attr-defined]
            self.discounts = self.swap_and_flatten(self.discounts)  # type: ignore[attr-defined]
        yield from super().get(batch_size)  # type: ignore[misc]


class OneStepRolloutBuffer(OneStepBufferMixin, RolloutBuffer):
    """
    SB3's ``RolloutBuffer`` for one-step actor-critic: with ``gae_lambda=0`` SB3 computes the TD(0) error
    δ_t (``advantages``) and the target r_t + γV(s_{t+1}) (``returns``); this adds the factor I = γ^t of
    each step (``discounts``), which restarts with each episode of each env and runs on across rollouts.

    :param buffer_size: Max number of elements in the buffer
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Factor of the GAE(λ) advantage (0: the TD(0) error)
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param discount_state_weighting: Whether ``discounts`` is γ^t (True) or 1 (False)
    """


class DictOneStepRolloutBuffer(OneStepBufferMixin, DictRolloutBuffer):
    """:class:`OneStepRolloutBuffer` for ``Dict`` observations (SB3's ``DictRolloutBuffer``); same parameters."""
