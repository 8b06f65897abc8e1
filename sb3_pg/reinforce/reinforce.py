from typing import Any, Self, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import (
    ActorCriticPolicy,
)
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import VecEnv

from sb3_pg.common.base import PolicyGradientAlgorithm, check_positive_int
from sb3_pg.common.buffers import EpisodeBatch, EpisodeRolloutBuffer
from sb3_pg.common.estimators import normalize

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")


class REINFORCE(PolicyGradientAlgorithm):
    """
    REINFORCE: Monte Carlo policy gradient (Williams, 1992).

    Paper: https://doi.org/10.1007/BF00992696

    The policy is updated from complete episodes only, with one gradient step per batch on
    ``−mean_t[Φ_t · log π(a_t|s_t)] − ent_coef · mean_t[H(π(·|s_t))]``, where Φ_t is the reward-to-go
    G_t (or the whole return G_0), normalised over the batch and optionally weighted by γ^t.
    Losses are averaged over the batch's steps as in SB3's A2C/PPO: that rescales the textbook
    per-episode estimator by one over the mean episode length, leaves its direction unchanged and keeps
    ``ent_coef`` comparable with A2C/PPO.

    **Batches.** An episode joins the batch if it *starts* before the batch is full, that is before
    ``n_episodes`` episodes have started and ``min_batch_steps`` steps have been collected (the
    criteria that are set). Every episode of the batch then runs to its end, so no return is truncated;
    an env that finishes early goes on stepping, and the episodes it starts after that are discarded
    (they are counted in ``num_timesteps`` and logged as ``rollout/discarded_steps``). Whether an
    episode is in the batch is decided before it starts, so the batch holds no more short or long
    episodes than the policy produces: dropping the episodes still running when the batch fills up
    would favour short ones. The envs are reset at the start of each batch. Episodes must end (wrap
    endless tasks in a ``TimeLimit``). With ``n_envs`` > ``n_episodes`` each env still contributes its
    first episode.

    There is no critic: the ``ActorCriticPolicy``'s value head is never trained nor used, a time-limit
    truncation ends the return like a termination, and no value loss is logged.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function
        of the current progress remaining (from 1 to 0)
    :param n_episodes: Minimum number of episodes per update (``None``: no minimum)
    :param min_batch_steps: Minimum number of env steps, summed over envs, per update (``None``: no minimum).
        At least one of ``n_episodes`` and ``min_batch_steps`` must be set.
    :param gamma: Discount factor
    :param reward_to_go: Weight each action by the return that follows it, G_t (True), or by the
        whole episode's return G_0 (False: the naive estimator, same mean, more variance)
    :param normalize_returns: Standardise the weights over the batch (mean 0, std 1). Subtracting the
        batch mean acts as a constant baseline.
    :param discount_state_weighting: Multiply the weight of step t of an episode by γ^t, as the
        discounted policy-gradient theorem does. Off by default, as in common practice, which then
        follows the undiscounted state distribution: a biased estimate of the discounted objective's
        gradient (Thomas, 2014, "Bias in natural actor-critic algorithms").
    :param ent_coef: Entropy coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping (``None``: no clipping)
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation (Adam by default)
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    rollout_buffer: EpisodeRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_episodes: int | None = 8,
        min_batch_steps: int | None = None,
        gamma: float = 0.99,
        reward_to_go: bool = True,
        normalize_returns: bool = True,
        discount_state_weighting: bool = False,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        check_positive_int("n_episodes", n_episodes, allow_none=True)
        check_positive_int("min_batch_steps", min_batch_steps, allow_none=True)
        if n_episodes is None and min_batch_steps is None:
            raise ValueError("n_episodes and min_batch_steps cannot both be None: set the batch size")
        self.n_episodes = n_episodes
        self.min_batch_steps = min_batch_steps
        self.reward_to_go = reward_to_go
        self.normalize_returns = normalize_returns
        self.discount_state_weighting = discount_state_weighting
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            gamma=gamma,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            n_steps=1,  # unused: batches are made of episodes
            gae_lambda=1.0,  # unused
            vf_coef=0.0,  # unused
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _setup_model(self) -> None:
        super()._setup_model()
        self.rollout_buffer = EpisodeRolloutBuffer(
            self.observation_space, self.action_space, device=self.device, gamma=self.gamma
        )
        # The envs hold the discarded tails of the last batch; the first batch starts from learn()'s reset
        self._reset_before_rollout = False

    def _batch_full(self, n_started: int, n_steps: int) -> bool:
        return (self.n_episodes is None or n_started >= self.n_episodes) and (
            self.min_batch_steps is None or n_steps >= self.min_batch_steps
        )

    def _truncation_values(self, infos: list[dict[str, Any]], dones: np.ndarray) -> np.ndarray:
        """Values to bootstrap time-limit truncated returns with: none without a critic."""
        return np.zeros(len(dones))

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: EpisodeRolloutBuffer,  # type: ignore[override]
        n_rollout_steps: int = 0,
    ) -> bool:
        """
        Collect complete episodes with the current policy (see the class docstring for which episodes
        make up a batch).

        :param env: The training environment
        :param callback: Callback that will be called at each step
            (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts
        :param n_rollout_steps: Unused: the batch size is set by ``n_episodes`` and ``min_batch_steps``
        :return: True if the batch was completed, False if a callback stopped training
        """
        assert self._last_obs is not None, "No previous observation was provided"
        self._set_training_mode(False)
        if self._reset_before_rollout:
            self._last_obs = env.reset()  # type: ignore[assignment]
            self._last_episode_starts = np.ones(env.num_envs, dtype=bool)
        self._reset_before_rollout = True
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        in_batch = np.ones(env.num_envs, dtype=bool)  # the episode each env is running belongs to the batch
        n_started, n_batch_steps, n_steps = env.num_envs, 0, 0
        while in_batch.any():
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            actions, clipped_actions = self._sample_actions(self._last_obs)  # type: ignore[arg-type]
            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs
            n_steps += 1

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                dones,
                self._truncation_values(infos, dones),
                in_batch,
            )
            n_batch_steps += int(in_batch.sum())
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

            # A new episode joins only while the batch is not full, a rule that cannot look at the episode itself
            ended = dones & in_batch
            if self._batch_full(n_started, n_batch_steps):
                in_batch &= ~ended
            else:
                n_started += int(ended.sum())

        self.logger.record("rollout/batch_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/batch_steps", n_batch_steps)
        self.logger.record("rollout/discarded_steps", n_steps * env.num_envs - n_batch_steps)

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _policy_loss(self, batch: EpisodeBatch, weights: th.Tensor) -> th.Tensor:
        """Policy-gradient loss plus entropy bonus; logs both."""
        if self.discount_state_weighting:
            weights = weights * batch.discounts
        distribution = self.policy.get_distribution(batch.observations)
        log_prob = distribution.log_prob(batch.actions)
        policy_loss = -(weights * log_prob).mean()

        entropy = distribution.entropy()
        # Approximate entropy when no analytical form
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)

        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        return policy_loss + self.ent_coef * entropy_loss

    def train(self) -> None:
        """
        Update the policy with one gradient step on the collected episodes.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self._set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        batch = self.rollout_buffer.get()
        returns = batch.returns if self.reward_to_go else batch.episode_returns
        self.logger.record("train/return_mean", returns.mean().item())
        self.logger.record("train/return_std", returns.std(correction=0).item())
        if self.normalize_returns:
            returns = normalize(returns)
        self._gradient_step(self._policy_loss(batch, returns))

        self._record_update()

    def learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
