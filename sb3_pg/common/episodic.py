"""
The base of the Monte Carlo policy-gradient algorithms (REINFORCE, REINFORCE with a learned baseline):
batches of complete episodes collected by an SB3-style rollout loop, Monte Carlo returns, an optional critic
with its own learning rate, GAE(λ) within episodes and the variance-minimising constant baseline.
"""

import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_pg.common import estimators
from sb3_pg.common.base import PolicyGradientAlgorithm
from sb3_pg.common.buffers import (
    DictEpisodeRolloutBuffer,
    DiscountedRolloutBufferSamples,
    EpisodeBufferMixin,
    EpisodeRolloutBuffer,
)
from sb3_pg.common.policies import score_sq_norms
from sb3_pg.common.validation import HyperparameterValueError, check_bool, check_int

# The bound on an episode's length where neither max_episode_steps nor the env's spec sets one
DEFAULT_MAX_EPISODE_STEPS = 100_000
# The bound on the env steps (summed over envs) that one batch may hold, discarded steps included
DEFAULT_MAX_BATCH_STEPS = 1_000_000


def episode_step_limit(env: VecEnv) -> int:
    """The longest episode the env's spec allows (its ``TimeLimit``), else :data:`DEFAULT_MAX_EPISODE_STEPS`."""
    limits = [spec.max_episode_steps for spec in env.get_attr("spec") if spec is not None]
    limits = [limit for limit in limits if limit is not None]
    return max(limits) if limits else DEFAULT_MAX_EPISODE_STEPS


class EpisodeBatch:
    """
    Which episodes of a VecEnv make up one batch. An episode joins the batch if it *starts* before the batch is
    full (``n_episodes`` episodes started and ``min_batch_steps`` steps collected, the criteria that are set),
    a rule that never looks at the episode it admits; every episode of the batch then runs to its end. The
    first episode of every env belongs to the batch.

    Per VecEnv step, :meth:`step` does a few integer operations; the bookkeeping changes only when an episode
    ends.

    :param n_envs: number of envs
    :param n_episodes: episodes per batch (``None``: no minimum)
    :param min_batch_steps: env steps per batch, summed over envs (``None``: no minimum)
    :param max_episode_steps: the longest an episode of the batch may run
    :param max_batch_steps: the most env steps, summed over envs and counting discarded ones, a batch may take
    """

    def __init__(
        self,
        n_envs: int,
        n_episodes: int | None,
        min_batch_steps: int | None,
        max_episode_steps: int,
        max_batch_steps: int,
    ):
        self.n_envs, self.n_episodes, self.min_batch_steps = n_envs, n_episodes, min_batch_steps
        self.max_episode_steps, self.max_batch_steps = max_episode_steps, max_batch_steps
        self.in_batch = np.ones(n_envs, dtype=bool)  # whether the episode each env is running belongs to the batch
        self._started = np.zeros(n_envs, dtype=np.int64)  # the VecEnv step after which each env's episode began
        self._oldest = 0  # the step the oldest running episode of the batch began after
        self._n_in_batch = n_envs
        self.n_started = n_envs  # episodes of the batch started so far
        self.n_steps = 0  # VecEnv steps taken
        self.n_batch_steps = 0  # env steps that belong to the batch

    @property
    def full(self) -> bool:
        """No new episode joins the batch."""
        return (self.n_episodes is None or self.n_started >= self.n_episodes) and (
            self.min_batch_steps is None or self.n_batch_steps >= self.min_batch_steps
        )

    @property
    def complete(self) -> bool:
        """Every episode of the batch has ended."""
        return self._n_in_batch == 0

    def step(self, dones: np.ndarray) -> None:
        """
        Count one VecEnv step (taken with :attr:`in_batch` as it was before the call) and update which
        envs run an episode of the batch.

        :raises RuntimeError: if an episode of the batch has run ``max_episode_steps`` steps without ending, or
            the batch has taken ``max_batch_steps`` env steps
        """
        self.n_steps += 1
        self.n_batch_steps += self._n_in_batch
        if dones.any():
            self._started[dones] = self.n_steps
            ended = dones & self.in_batch
            if self.full:
                self.in_batch &= ~ended
            else:  # the envs whose episode ended start another episode of the batch
                self.n_started += int(ended.sum())
            self._n_in_batch = int(self.in_batch.sum())
            self._oldest = int(self._started[self.in_batch].min()) if self._n_in_batch else self.n_steps
        if self.n_steps - self._oldest >= self.max_episode_steps:
            raise RuntimeError(
                f"an episode of the batch has run {self.n_steps - self._oldest} steps without ending, the most "
                f"max_episode_steps={self.max_episode_steps} allows: the algorithm trains on complete episodes, so "
                "they must end. Wrap the env in gymnasium.wrappers.TimeLimit, or raise max_episode_steps if its "
                "episodes are this long."
            )
        if self.n_steps * self.n_envs >= self.max_batch_steps and not self.complete:
            raise RuntimeError(
                f"the batch has taken {self.n_steps * self.n_envs} env steps and its episodes have not all ended, "
                f"the most max_batch_steps={self.max_batch_steps} allows (n_episodes={self.n_episodes}, "
                f"min_batch_steps={self.min_batch_steps}): lower the batch size, or raise max_batch_steps if the "
                "memory allows"
            )


class EpisodicPolicyGradient(PolicyGradientAlgorithm):
    """
    Policy gradient on batches of complete episodes, the base of :class:`~sb3_pg.REINFORCE` and
    :class:`~sb3_pg.REINFORCEBaseline` (see their docstrings for the parameters). Batches are made as
    :class:`EpisodeBatch` says; the rollout loop is SB3's, with the batch's bookkeeping, and fills an
    :class:`~sb3_pg.common.buffers.EpisodeRolloutBuffer`, which computes the Monte Carlo returns.

    With a critic (``has_critic``, ``critic_learning_rate``) V: its values of the batch's states, from before the
    update, are the baseline (``gae_lambda=1``) or give the TD errors of GAE(λ) (``gae_lambda < 1``), and
    with ``bootstrap_truncated`` a time-limit truncation adds γ·V(final observation) to the return.
    """

    rollout_buffer: EpisodeRolloutBuffer  # type: ignore[assignment]
    # Attributes that files saved by sb3-pg 0.1 hold and these classes no longer have: dropped on load
    _ATTRIBUTES_OF_0_1: ClassVar[tuple[str, ...]] = ("_updates_at_start", "_warned_over_budget")

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
        n_episodes: int | None,
        min_batch_steps: int | None,
        max_batch_steps: int,
        batch_size: int | None,
        max_episode_steps: int | None,
        gamma: float,
        reward_to_go: bool,
        discount_state_weighting: bool,
        ent_coef: float,
        max_grad_norm: float | None,
        use_sde: bool,
        sde_sample_freq: int,
        rollout_buffer_class: type[EpisodeRolloutBuffer] | None,
        rollout_buffer_kwargs: dict[str, Any] | None,
        stats_window_size: int,
        tensorboard_log: str | None,
        policy_kwargs: dict[str, Any] | None,
        verbose: int,
        seed: int | None,
        device: th.device | str,
        _init_setup_model: bool,
        critic_learning_rate: float | Schedule | None = None,
        gae_lambda: float = 1.0,
        bootstrap_truncated: bool = False,
    ):
        self.max_batch_steps = check_int("max_batch_steps", max_batch_steps)
        self.n_episodes = check_int("n_episodes", n_episodes, maximum=self.max_batch_steps, allow_none=True)
        self.min_batch_steps = check_int("min_batch_steps", min_batch_steps, maximum=max_batch_steps, allow_none=True)
        if n_episodes is None and min_batch_steps is None:
            raise HyperparameterValueError("n_episodes and min_batch_steps cannot both be None: set the batch size")
        self.batch_size = check_int("batch_size", batch_size, allow_none=True)
        self.max_episode_steps = check_int("max_episode_steps", max_episode_steps, allow_none=True)
        self.reward_to_go = check_bool("reward_to_go", reward_to_go)
        self.discount_state_weighting = check_bool("discount_state_weighting", discount_state_weighting)
        self.bootstrap_truncated = check_bool("bootstrap_truncated", bootstrap_truncated)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            critic_learning_rate=critic_learning_rate,
            n_steps=256,  # the buffer's initial length: it grows until the batch's episodes have ended
            gamma=gamma,
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            use_sde=check_bool("use_sde", use_sde),
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _setup_model(self) -> None:
        for name in self._ATTRIBUTES_OF_0_1:
            self.__dict__.pop(name, None)
        self._choose_rollout_buffer(
            EpisodeRolloutBuffer, DictEpisodeRolloutBuffer, EpisodeBufferMixin, reward_to_go=self.reward_to_go
        )
        super()._setup_model()
        # The envs hold the discarded tails of the last batch; the first batch starts from learn()'s reset
        self._reset_before_rollout = False

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: EpisodeRolloutBuffer,  # type: ignore[override]
        n_rollout_steps: int = 0,
    ) -> bool:
        """
        Collect a batch of complete episodes with the current policy (see :class:`EpisodeBatch`) and fill the
        ``EpisodeRolloutBuffer``, as SB3's ``collect_rollouts`` fills a ``RolloutBuffer``. The envs are reset
        at the start of each batch but the first of ``learn()``.

        :param env: The training environment
        :param callback: Callback that will be called at each step
            (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts
        :param n_rollout_steps: Unused: the batch size is set by ``n_episodes`` and ``min_batch_steps``
        :return: True if the batch was completed, False if a callback stopped training
        """
        assert self._last_obs is not None, "No previous observation was provided"
        # Switch to eval mode (this affects batch norm / dropout)
        self.policy.set_training_mode(False)
        if self._reset_before_rollout:
            self._last_obs = env.reset()  # type: ignore[assignment]
            self._last_episode_starts = np.ones(env.num_envs, dtype=bool)
        self._reset_before_rollout = True
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        batch = EpisodeBatch(
            env.num_envs,
            self.n_episodes,
            self.min_batch_steps,
            self.max_episode_steps or episode_step_limit(env),
            self.max_batch_steps,
        )
        no_values = th.zeros(env.num_envs)  # neither values nor log-probabilities are needed before train()
        timesteps_at_start = self.num_timesteps
        while not batch.complete:
            if self.use_sde and self.sde_sample_freq > 0 and batch.n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            actions, clipped_actions = self._sample_actions(self._last_obs)  # type: ignore[arg-type]
            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
            if self.bootstrap_truncated:
                self._bootstrap_truncations(rewards, dones, infos)
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                no_values,
                no_values,
                in_batch=batch.in_batch,
            )
            batch.step(dones)
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

        if self.has_critic:
            self._set_batch_values(rollout_buffer)
        rollout_buffer.compute_returns_and_advantage(last_values=None, dones=dones)
        self.logger.record("rollout/batch_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/batch_steps", batch.n_batch_steps)
        self.logger.record("rollout/discarded_steps", batch.n_steps * env.num_envs - batch.n_batch_steps)
        if timesteps_at_start == self._num_timesteps_at_start and self.num_timesteps > self._total_timesteps:
            # As SB3 does (PPO's 2048-step rollouts for learn(100)), a whole batch runs whatever the budget
            warnings.warn(
                f"the first batch took {self.num_timesteps - timesteps_at_start} env steps, more than the "
                f"total_timesteps={self._total_timesteps - timesteps_at_start} of learn() (n_episodes="
                f"{self.n_episodes}, min_batch_steps={self.min_batch_steps}): a batch is always completed",
                stacklevel=2,
            )

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _bootstrap_truncations(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Add γ·V(final observation) to the reward of time-limit truncated steps, as SB3's loop does (SB3 #633)."""
        for idx, done in enumerate(dones):
            if (
                done
                and infos[idx].get("terminal_observation") is not None
                and infos[idx].get("TimeLimit.truncated", False)
            ):
                terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                with th.no_grad():
                    terminal_value = self.policy.predict_values(terminal_obs)[0]  # type: ignore[arg-type]
                rewards[idx] += self.gamma * terminal_value.item()

    def _set_batch_values(self, rollout_buffer: EpisodeRolloutBuffer) -> None:
        """V(s_t) of the batch's steps, from the critic as it is before the update, in one pass."""
        observations = obs_as_tensor(rollout_buffer.batch_observations(), self.device)
        with th.no_grad():
            values = self.policy.predict_values(observations)  # type: ignore[arg-type]
        rollout_buffer.set_batch_values(values.cpu().numpy().flatten())

    def _subtract_optimal_baseline(self) -> None:
        """Φ_t − b* for each step of the batch, b* from the batch's other episodes (REINFORCE's ``baseline``)."""
        buffer = self.rollout_buffer
        observations = buffer.batch_observations()
        actions = self._buffer_actions(th.as_tensor(buffer.actions[buffer.in_batch], device=self.device).float())
        norms = score_sq_norms(self.policy, obs_as_tensor(observations, self.device), actions, self.batch_size)
        phi = buffer.advantages[buffer.in_batch]
        baseline = estimators.optimal_baseline(norms.cpu().numpy(), phi, buffer.episode_ids()[buffer.in_batch])
        buffer.advantages[buffer.in_batch] = phi - baseline
        self.logger.record("train/optimal_baseline", float(baseline.mean()))

    def _minibatches(self) -> list[DiscountedRolloutBufferSamples]:
        """The batch's samples in minibatches of ``batch_size`` (``None``: one), shared by the steps of an update."""
        return list(self.rollout_buffer.get(self.batch_size))

    def _batch_mean(
        self,
        loss: Callable[[DiscountedRolloutBufferSamples], th.Tensor],
        minibatches: list[DiscountedRolloutBufferSamples],
    ) -> Iterable[th.Tensor]:
        """
        ``loss(minibatch)`` for each minibatch, weighted by its share of the batch: their gradients add up to
        the gradient of the whole batch's mean loss.
        """
        n_steps = sum(len(minibatch.advantages) for minibatch in minibatches)
        for minibatch in minibatches:
            yield loss(minibatch) * (len(minibatch.advantages) / n_steps)

    def _policy_loss(self, rollout_data: DiscountedRolloutBufferSamples) -> th.Tensor:
        """Policy-gradient loss on the (normalised) advantages Φ_t, plus the entropy bonus; logs both."""
        weights = rollout_data.advantages
        if self.discount_state_weighting:
            weights = weights * rollout_data.discounts
        distribution = self.policy.get_distribution(rollout_data.observations)  # the actor alone
        log_prob = distribution.log_prob(self._buffer_actions(rollout_data.actions))
        policy_loss = -(weights * log_prob).mean()

        entropy = distribution.entropy()
        # Approximate entropy when no analytical form
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)

        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        return policy_loss + self.ent_coef * entropy_loss

    def _value_loss(self, rollout_data: DiscountedRolloutBufferSamples) -> th.Tensor:
        """The critic's regression of V(s_t) on the return G_t; logs it."""
        value_loss = F.mse_loss(self.policy.predict_values(rollout_data.observations).flatten(), rollout_data.returns)
        self.logger.record("train/value_loss", value_loss.item())
        return value_loss
