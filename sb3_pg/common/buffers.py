from typing import NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.utils import obs_as_tensor

from sb3_pg.common import estimators


def check_finite_rewards(rewards: np.ndarray) -> None:
    """A NaN or inf reward would silently poison every later update: stop instead."""
    if not np.isfinite(rewards).all():
        raise ValueError("the environment returned a non-finite reward (NaN or inf): refusing to train on it")


class EpisodeBatch(NamedTuple):
    """The steps of the complete episodes of one batch, flattened (time-major, then env)."""

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    returns: th.Tensor  # reward-to-go G_t, bootstrapped on time-limit truncation where asked
    episode_returns: th.Tensor  # the episode's G_0 at each of its steps
    discounts: th.Tensor  # γ^t, t counted from the episode's start


class EpisodeRolloutBuffer:
    """
    Rollout buffer for Monte Carlo policy gradients: holds the steps of a VecEnv as
    ``(n_steps, n_envs)`` arrays together with a mask of the steps that belong to the batch, and
    turns them into returns that stay within their own episode.

    Unlike SB3's ``RolloutBuffer`` its length is not fixed: the algorithm keeps stepping until every
    episode of the batch has ended.

    :param observation_space: observation space
    :param action_space: action space
    :param device: PyTorch device for the batch
    :param gamma: discount factor
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gamma: float = 0.99,
    ):
        self.observation_space = observation_space
        self.action_space = action_space
        self.device = device
        self.gamma = gamma
        self.reset()

    def reset(self) -> None:
        self._observations: list = []
        self._actions: list[np.ndarray] = []
        self._rewards: list[np.ndarray] = []
        self._dones: list[np.ndarray] = []
        self._bootstrap_values: list[np.ndarray] = []
        self._in_batch: list[np.ndarray] = []

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        actions: np.ndarray,
        rewards: np.ndarray,
        dones: np.ndarray,
        bootstrap_values: np.ndarray,
        in_batch: np.ndarray,
    ) -> None:
        """
        Add one VecEnv step.

        :param obs: observations the actions were taken in
        :param actions: actions taken
        :param rewards: rewards received
        :param dones: whether each env's episode ended with this step
        :param bootstrap_values: V(final observation) where the episode was truncated, else 0
        :param in_batch: whether each env's step belongs to an episode of the batch
        """
        # Copy: some wrappers (VecFrameStack) hand out the same array every step
        if isinstance(obs, dict):
            self._observations.append({key: np.array(value) for key, value in obs.items()})
        else:
            self._observations.append(np.array(obs))
        self._actions.append(np.array(actions))
        self._rewards.append(np.asarray(rewards, dtype=np.float64))
        self._dones.append(np.asarray(dones, dtype=bool))
        self._bootstrap_values.append(np.asarray(bootstrap_values, dtype=np.float64))
        self._in_batch.append(np.array(in_batch, dtype=bool))

    @property
    def mask(self) -> np.ndarray:
        return np.stack(self._in_batch)

    @property
    def n_steps(self) -> int:
        """Steps that belong to the batch."""
        return int(self.mask.sum())

    @property
    def n_episodes(self) -> int:
        """Complete episodes in the batch."""
        return int((np.stack(self._dones) & self.mask).sum())

    def get(self) -> EpisodeBatch:
        """All steps of the batch's episodes, with their returns."""
        mask = self.mask
        rewards, dones = np.stack(self._rewards), np.stack(self._dones)
        bootstrap_values = np.stack(self._bootstrap_values)
        # Every episode of the batch ends inside the buffer, so no return is cut short
        assert not (mask[-1] & ~dones[-1]).any(), "an episode of the batch has not ended"
        check_finite_rewards(rewards[mask])

        def to_tensor(array: np.ndarray) -> th.Tensor:
            return th.as_tensor(array[mask], device=self.device)

        if isinstance(self._observations[0], dict):
            observations = {
                key: np.stack([obs[key] for obs in self._observations])[mask] for key in self._observations[0]
            }
        else:
            observations = np.stack(self._observations)[mask]
        return EpisodeBatch(
            observations=obs_as_tensor(observations, self.device),
            actions=to_tensor(np.stack(self._actions)),
            returns=to_tensor(estimators.reward_to_go(rewards, dones, self.gamma, bootstrap_values)),
            episode_returns=to_tensor(estimators.episode_return(rewards, dones, self.gamma, bootstrap_values)),
            discounts=to_tensor(estimators.discount_weights(dones, self.gamma)),
        )


class Transition(NamedTuple):
    """One VecEnv step: a transition per env."""

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    rewards: th.Tensor
    next_observations: th.Tensor | TensorDict  # the true final observation where an episode ended
    terminated: th.Tensor  # 1.0 where the episode terminated (not where it was truncated)
    discounts: th.Tensor  # γ^t, t counted from the episode's start


class TransitionBuffer:
    """
    The last step of a VecEnv, for algorithms that update after every step.

    :param device: PyTorch device for the tensors
    """

    def __init__(self, device: th.device | str = "auto"):
        self.device = device
        self.transition: Transition | None = None

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        actions: np.ndarray,
        rewards: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        dones: np.ndarray,
        infos: list[dict],
        discounts: np.ndarray,
    ) -> None:
        """
        Store one step; where ``dones``, the next observation is the episode's final one from ``infos``
        (the VecEnv has already reset that env).
        """
        next_obs = (
            {key: np.array(value) for key, value in new_obs.items()} if isinstance(new_obs, dict) else np.array(new_obs)
        )
        terminated = np.zeros(len(dones), dtype=np.float32)
        for idx in np.flatnonzero(dones):
            final_obs = infos[idx]["terminal_observation"]
            if isinstance(next_obs, dict):
                for key in next_obs:
                    next_obs[key][idx] = final_obs[key]
            else:
                next_obs[idx] = final_obs
            terminated[idx] = not infos[idx].get("TimeLimit.truncated", False)

        def to_tensor(array: np.ndarray, dtype: th.dtype | None = None) -> th.Tensor:
            return th.as_tensor(array, device=self.device, dtype=dtype)

        rewards = np.asarray(rewards, dtype=np.float32)
        check_finite_rewards(rewards)
        self.transition = Transition(
            observations=obs_as_tensor(obs, self.device),
            actions=to_tensor(actions),
            rewards=to_tensor(rewards),
            next_observations=obs_as_tensor(next_obs, self.device),
            terminated=to_tensor(terminated),
            discounts=to_tensor(discounts, th.float32),
        )

    def get(self) -> Transition:
        assert self.transition is not None, "no transition collected"
        return self.transition
