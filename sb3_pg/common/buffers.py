"""
SB3's rollout buffers for batches of complete, variable-length episodes (as sb3-contrib's ``MaskableRolloutBuffer``
extends SB3's), and the samples of every sb3-pg buffer: SB3's ``RolloutBufferSamples`` fields plus ``discounts``,
γ^t with t counted from the episode's start.
"""

from collections.abc import Callable, Generator
from typing import NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.vec_env import VecNormalize

from sb3_pg.common import estimators
from sb3_pg.common.validation import check_finite_step


class DiscountedRolloutBufferSamples(NamedTuple):
    """SB3's ``RolloutBufferSamples`` / ``DictRolloutBufferSamples`` with the state weighting of each step."""

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    discounts: th.Tensor  # γ^t, t counted from the episode's start


class EpisodeSequenceSamples(NamedTuple):
    """
    The buffer's steps as one sequence per env (env-major: all of env 0's steps, then env 1's, ...), for a recurrent
    policy, whose state is reset at each episode start; ``mask`` marks the batch's steps.
    """

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor
    discounts: th.Tensor
    episode_starts: th.Tensor
    mask: th.Tensor
    n_seq: int


class EpisodeRolloutBuffer(RolloutBuffer):
    """
    SB3's ``RolloutBuffer`` for Monte Carlo policy gradients: it holds the steps of a VecEnv until every
    episode of the batch has ended (its length grows as needed, ``buffer_size`` is only the initial
    length), marks the steps that belong to the batch (``in_batch``), computes returns that stay within
    their own episode, and yields only the batch's steps. ``add`` refuses a non-finite observation or reward.

    :param buffer_size: Initial length (VecEnv steps); doubled whenever it is full
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Factor for trade-off of bias versus variance for Generalized Advantage Estimator
        (used by subclasses with a critic)
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    """

    observations: np.ndarray | dict[str, np.ndarray]  # type: ignore[assignment]
    # Arrays of shape (buffer_size, n_envs), and those that get() flattens
    _ARRAYS = ("actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages", "in_batch")
    _SAMPLED = ("actions", "values", "log_probs", "advantages", "returns", "discounts")

    def reset(self) -> None:
        super().reset()
        self.in_batch = np.zeros((self.buffer_size, self.n_envs), dtype=bool)

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: th.Tensor,
        log_prob: th.Tensor,
        in_batch: np.ndarray | None = None,
    ) -> None:
        """
        SB3's ``add``, plus whether each env's step belongs to an episode of the batch (``None``: all do). The
        buffer doubles its length when it is full.
        """
        check_finite_step(obs, np.asarray(reward))
        if self.pos == self.buffer_size:
            self._grow()
        self.in_batch[self.pos] = True if in_batch is None else in_batch
        super().add(obs, action, reward, episode_start, value, log_prob)  # type: ignore[arg-type]

    def _grow(self) -> None:
        def doubled(array: np.ndarray) -> np.ndarray:
            return np.concatenate([array, np.zeros_like(array)])

        for name in self._ARRAYS:
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
    def n_episodes(self) -> int:
        """Complete episodes in the batch (every episode of the batch starts and ends in the buffer)."""
        return int((self.episode_starts[: self.pos].astype(bool) & self.in_batch[: self.pos]).sum())

    def batch_observations(self) -> np.ndarray | dict[str, np.ndarray]:
        """The batch's observations, in the order of ``array[in_batch]`` for the buffer's other arrays."""
        in_batch = self.in_batch[: self.pos]
        return self._map_observations(lambda obs: obs[: self.pos][in_batch])

    def to_sequences(self, array: np.ndarray) -> th.Tensor:
        """``array`` of shape ``(pos, n_envs, ...)`` as one sequence per env: ``(n_envs * pos, ...)``, env-major."""
        return self.to_torch(self.swap_and_flatten(array[: self.pos]))

    def sequence_observations(self) -> tuple[th.Tensor | TensorDict, th.Tensor]:
        """The observations and the episode starts as one sequence per env (what a recurrent policy reads)."""
        return self._map_observations(self.to_sequences), self.to_sequences(self.episode_starts).flatten()

    def sequences(self) -> EpisodeSequenceSamples:
        """Every env's steps in one sequence, once the returns are computed (and before :meth:`get`)."""
        assert self.full and not self.generator_ready, "compute_returns_and_advantage() first, and no get()"
        observations, episode_starts = self.sequence_observations()
        scalars = (self.advantages, self.returns, self.discounts, self.in_batch.astype(np.float32))
        advantages, returns, discounts, mask = (self.to_sequences(array).flatten() for array in scalars)
        actions = self.to_sequences(self.actions)
        return EpisodeSequenceSamples(
            observations, actions, advantages, returns, discounts, episode_starts, mask, self.n_envs
        )

    def normalize_advantages(self) -> None:
        """Standardise the batch's advantages with the whole batch's mean and std (not a minibatch's)."""
        batch = self._batch_indices if self.generator_ready else self.in_batch
        self.advantages[batch] = estimators.normalize(self.advantages[batch])

    def compute_returns_and_advantage(
        self, last_values: th.Tensor | None, dones: np.ndarray, reward_to_go: bool = True
    ) -> None:
        """
        Monte Carlo returns of the complete episodes, once the rollout is over: G_t (``returns``), Φ_t = G_t or,
        without ``reward_to_go``, the episode's G_0 (``advantages``), and γ^t (``discounts``).

        :param last_values: unused: every episode of the batch has ended
        :param dones: whether each env's episode ended with the last step
        :param reward_to_go: weight each step by the reward-to-go G_t (True) or by the whole episode's return G_0
        """
        for name in self._ARRAYS:  # drop the unused rows of the last doubling
            setattr(self, name, getattr(self, name)[: self.pos])
        self.observations = self._map_observations(lambda obs: obs[: self.pos])
        self.buffer_size, self.full = self.pos, True

        self.ends = np.concatenate([self.episode_starts[1:], np.asarray(dones, dtype=np.float32)[None]]).astype(bool)
        # Every episode of the batch ends inside the buffer, so no return is cut short
        assert not (self.in_batch[-1] & ~self.ends[-1]).any(), "an episode of the batch has not ended"
        self.returns = estimators.reward_to_go(self.rewards, self.ends, self.gamma)
        self.discounts = estimators.discount_weights(self.ends, self.gamma)
        weights = self.returns if reward_to_go else estimators.episode_return(self.rewards, self.ends, self.gamma)
        self.advantages = weights.copy()

    def get(self, batch_size: int | None = None) -> Generator[DiscountedRolloutBufferSamples, None, None]:  # type: ignore[override]
        """The batch's steps in random order, in minibatches of ``batch_size`` (``None``: all at once)."""
        assert self.full, "compute_returns_and_advantage() must come first"
        if not self.generator_ready:
            for name in self._SAMPLED:
                setattr(self, name, self.swap_and_flatten(getattr(self, name)))
            self.observations = self._map_observations(self.swap_and_flatten)
            self._batch_indices = np.flatnonzero(self.swap_and_flatten(self.in_batch))
            self.generator_ready = True
        indices = np.random.permutation(self._batch_indices)
        batch_size = batch_size or len(indices)
        for start in range(0, len(indices), batch_size):
            yield self._get_samples(indices[start : start + batch_size])

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> DiscountedRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        return DiscountedRolloutBufferSamples(*samples, discounts=self.to_torch(self.discounts[batch_inds].flatten()))


class DictEpisodeRolloutBuffer(EpisodeRolloutBuffer, DictRolloutBuffer):
    """:class:`EpisodeRolloutBuffer` for ``Dict`` observations (SB3's ``DictRolloutBuffer``); same parameters."""
