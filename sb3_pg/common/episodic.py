"""
The base of the Monte Carlo policy-gradient algorithms (REINFORCE, REINFORCE with a learned baseline): batches of
complete episodes collected by SB3's rollout loop with the batch's bookkeeping, into an
:class:`~sb3_pg.common.buffers.EpisodeRolloutBuffer` that computes the Monte Carlo returns, and the policy loss on
them.
"""

import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from sb3_pg.common.base import PolicyGradientAlgorithm
from sb3_pg.common.buffers import (
    DictEpisodeRolloutBuffer,
    DiscountedRolloutBufferSamples,
    EpisodeRolloutBuffer,
    EpisodeSequenceSamples,
)
from sb3_pg.common.recurrent import is_recurrent, zero_states
from sb3_pg.common.validation import (
    HyperparameterValueError,
    NonFiniteActionError,
    check_bool,
    check_int,
    check_optional_int,
)

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
        self.n_vec_steps = 0  # VecEnv steps taken
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
        self.n_vec_steps += 1
        self.n_batch_steps += self._n_in_batch
        if dones.any():
            self._started[dones] = self.n_vec_steps
            ended = dones & self.in_batch
            if self.full:
                self.in_batch &= ~ended
            else:  # the envs whose episode ended start another episode of the batch
                self.n_started += int(ended.sum())
            self._n_in_batch = int(self.in_batch.sum())
            self._oldest = int(self._started[self.in_batch].min()) if self._n_in_batch else self.n_vec_steps
        if self.n_vec_steps - self._oldest >= self.max_episode_steps:
            raise RuntimeError(
                f"an episode of the batch has run {self.n_vec_steps - self._oldest} steps without ending, the most "
                f"max_episode_steps={self.max_episode_steps} allows: the algorithm trains on complete episodes, so "
                "they must end. Wrap the env in gymnasium.wrappers.TimeLimit, or raise max_episode_steps if its "
                "episodes are this long."
            )
        if self.n_vec_steps * self.n_envs >= self.max_batch_steps and not self.complete:
            raise RuntimeError(
                f"the batch has taken {self.n_vec_steps * self.n_envs} env steps and its episodes have not all ended, "
                f"the most max_batch_steps={self.max_batch_steps} allows (n_episodes={self.n_episodes}, "
                f"min_batch_steps={self.min_batch_steps}): lower the batch size, or raise max_batch_steps if the "
                "memory allows"
            )


# A batch's samples: steps (in minibatches), or one sequence per env for a recurrent policy
Samples = DiscountedRolloutBufferSamples | EpisodeSequenceSamples


def _n_steps(samples: Samples) -> int:
    """The batch's steps in ``samples`` (a sequence also holds steps outside the batch, masked out)."""
    return int(samples.mask.sum()) if isinstance(samples, EpisodeSequenceSamples) else len(samples.advantages)


def batch_mean(values: th.Tensor, samples: Samples) -> th.Tensor:
    """The mean of ``values`` over the batch's steps in ``samples``."""
    if isinstance(samples, EpisodeSequenceSamples):
        return (values * samples.mask).sum() / samples.mask.sum()
    return values.mean()


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of a warning from the caller's frame that points at the first frame outside SB3 and us."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        ("sb3_pg.", "stable_baselines3.")
    ):
        frame, level = frame.f_back, level + 1
    return level


def env_actions(policy: ActorCriticPolicy, action_space: spaces.Space, actions: np.ndarray) -> np.ndarray:
    """Sampled actions as sent to the env: clipped to, or (squashed policies) rescaled into, a Box's bounds."""
    if not isinstance(action_space, spaces.Box):
        return actions
    if policy.squash_output:
        return policy.unscale_action(actions)
    return np.clip(actions, action_space.low, action_space.high)


class EpisodicPolicyGradient(PolicyGradientAlgorithm):
    """
    Policy gradient on batches of complete episodes, the base of :class:`~sb3_pg.REINFORCE` and
    :class:`~sb3_pg.REINFORCEBaseline` (see their docstrings for the parameters). Batches are made as
    :class:`EpisodeBatch` says; the rollout loop is SB3's, with the batch's bookkeeping, and fills an
    :class:`~sb3_pg.common.buffers.EpisodeRolloutBuffer`, which computes the Monte Carlo returns.
    """

    rollout_buffer: EpisodeRolloutBuffer
    buffer_classes: ClassVar[tuple[type[RolloutBuffer], type[RolloutBuffer]]] = (
        EpisodeRolloutBuffer,
        DictEpisodeRolloutBuffer,
    )

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
        gae_lambda: float,
        reward_to_go: bool,
        normalize_advantage: bool,
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
    ):
        self.max_batch_steps = check_int("max_batch_steps", max_batch_steps)
        self.n_episodes = check_optional_int("n_episodes", n_episodes, maximum=self.max_batch_steps)
        self.min_batch_steps = check_optional_int("min_batch_steps", min_batch_steps, maximum=self.max_batch_steps)
        if n_episodes is None and min_batch_steps is None:
            raise HyperparameterValueError("n_episodes and min_batch_steps cannot both be None: set the batch size")
        self.batch_size = check_optional_int("batch_size", batch_size)
        self.max_episode_steps = check_optional_int("max_episode_steps", max_episode_steps)
        self.reward_to_go = check_bool("reward_to_go", reward_to_go)
        self.normalize_advantage = check_bool("normalize_advantage", normalize_advantage)
        self.discount_state_weighting = check_bool("discount_state_weighting", discount_state_weighting)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
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
        super()._setup_model()
        # The envs hold the discarded tails of the last batch; the first batch starts from learn()'s reset
        self._reset_before_rollout = False
        # A recurrent policy's state of each env's episode, while a batch is collected
        self._lstm_states: RNNStates | None = None
        if is_recurrent(self.policy) and self.batch_size is not None:
            raise HyperparameterValueError(
                "batch_size splits a batch into minibatches of steps, and a recurrent policy trains on whole "
                "episodes: leave batch_size None with an LSTM policy"
            )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_lstm_states"]

    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: EpisodeRolloutBuffer,
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
        if is_recurrent(self.policy):
            self._lstm_states = zero_states(self.policy, env.num_envs)

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
            if self.use_sde and self.sde_sample_freq > 0 and batch.n_vec_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)

            actions, clipped_actions = self._sample_actions(self._last_obs)  # type: ignore[arg-type]
            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

            self._update_info_buffer(infos, dones)
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

        self._compute_returns_and_advantage(rollout_buffer, dones)
        self.logger.record("rollout/batch_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/batch_steps", batch.n_batch_steps)
        self.logger.record("rollout/discarded_steps", batch.n_vec_steps * env.num_envs - batch.n_batch_steps)
        if timesteps_at_start == self._num_timesteps_at_start and self.num_timesteps > self._total_timesteps:
            # As SB3 does (PPO's 2048-step rollouts for learn(100)), a whole batch runs whatever the budget
            warnings.warn(
                f"the first batch took {self.num_timesteps - timesteps_at_start} env steps, more than the "
                f"total_timesteps={self._total_timesteps - timesteps_at_start} of learn() (n_episodes="
                f"{self.n_episodes}, min_batch_steps={self.min_batch_steps}): a batch is always completed",
                stacklevel=_caller_stacklevel(),
            )

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _sample_actions(self, obs: np.ndarray | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """
        Actions of the current stochastic policy for a VecEnv's observations, from the actor alone (SB3's
        distribution, as ``policy.forward`` draws them).

        :return: the actions as sampled (to score), and as sent to the env (clipped to, or rescaled
            into, the bounds of a Box action space)
        """
        with th.no_grad():
            obs_tensor = obs_as_tensor(obs, self.device)
            if self._lstm_states is None:
                actions = self.policy.get_distribution(obs_tensor).get_actions()
            else:  # the state carries on within each env's episode, and is reset where one starts
                starts = th.as_tensor(self._last_episode_starts, dtype=th.float32, device=self.device)
                actions = self._recurrent_actions(obs_tensor, starts)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if actions.dtype.kind == "f" and not np.isfinite(actions).all():
            raise self._diverged(f"after update {self._n_updates}: {NonFiniteActionError.MESSAGE}")
        return actions, env_actions(self.policy, self.action_space, actions)

    def _recurrent_actions(self, obs: th.Tensor | dict[str, th.Tensor], episode_starts: th.Tensor) -> th.Tensor:
        """
        A recurrent policy's actions, advancing the actor's LSTM state only: nothing before :meth:`train` needs
        the critic's (running it too would cost as much again).
        """
        assert self._lstm_states is not None
        policy = cast(RecurrentActorCriticPolicy, self.policy)
        # sb3-contrib annotates a Tensor and a pair; it takes a MultiInput policy's dict and RNNStates' tuple
        states = self._lstm_states.pi
        distribution, pi_states = policy.get_distribution(obs, states, episode_starts)  # type: ignore[arg-type]
        self._lstm_states = self._lstm_states._replace(pi=pi_states)
        return distribution.get_actions()

    def _bootstrap_truncations(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Without a critic, a time-limit truncation ends the return like a termination: nothing to add."""

    def _compute_returns_and_advantage(self, rollout_buffer: EpisodeRolloutBuffer, dones: np.ndarray) -> None:
        """The batch's returns and Φ_t, once its episodes have ended."""
        rollout_buffer.compute_returns_and_advantage(last_values=None, dones=dones, reward_to_go=self.reward_to_go)

    def _minibatches(self) -> list[Samples]:
        """
        The batch's samples in minibatches of ``batch_size`` (``None``: one), shared by the steps of an update; for a
        recurrent policy, one sequence per env (:meth:`~sb3_pg.common.buffers.EpisodeRolloutBuffer.sequences`).
        """
        if is_recurrent(self.policy):
            return [self.rollout_buffer.sequences()]
        return list(self.rollout_buffer.get(self.batch_size))

    def _batch_mean(self, loss: Callable[[Samples], th.Tensor], minibatches: list[Samples]) -> Iterable[th.Tensor]:
        """
        ``loss(minibatch)`` for each minibatch, weighted by its share of the batch: their gradients add up to
        the gradient of the whole batch's mean loss.
        """
        n_steps = sum(_n_steps(minibatch) for minibatch in minibatches)
        for minibatch in minibatches:
            yield loss(minibatch) * (_n_steps(minibatch) / n_steps)

    def _policy_loss(self, rollout_data: Samples) -> th.Tensor:
        """Policy-gradient loss on the (normalised) advantages Φ_t, plus the entropy bonus; logs both."""
        weights = rollout_data.advantages
        if self.discount_state_weighting:
            weights = weights * rollout_data.discounts
        if isinstance(rollout_data, EpisodeSequenceSamples):  # each episode from the LSTM's zero state
            states = zero_states(self.policy, rollout_data.n_seq).pi
            distribution, _ = self.policy.get_distribution(
                rollout_data.observations, states, rollout_data.episode_starts
            )
        else:
            distribution = self.policy.get_distribution(rollout_data.observations)  # the actor alone
        log_prob = distribution.log_prob(self._buffer_actions(rollout_data.actions))
        policy_loss = -batch_mean(weights * log_prob, rollout_data)

        entropy = distribution.entropy()
        # Approximate entropy when no analytical form
        entropy_loss = -batch_mean(-log_prob if entropy is None else entropy, rollout_data)

        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        return policy_loss + self.ent_coef * entropy_loss
