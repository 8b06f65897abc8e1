import warnings
from collections.abc import Iterable
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from sb3_pg.common import estimators
from sb3_pg.common.base import (
    HyperparameterValueError,
    PolicyGradientAlgorithm,
    check_bool,
    check_positive_int,
)
from sb3_pg.common.buffers import (
    DictEpisodeRolloutBuffer,
    DiscountedRolloutBufferSamples,
    EpisodeBufferMixin,
    EpisodeRolloutBuffer,
)
from sb3_pg.common.policies import score_sq_norms, supports_score_norms
from sb3_pg.reinforce.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")

# The bound on an episode's length where neither max_episode_steps nor the env's spec sets one
DEFAULT_MAX_EPISODE_STEPS = 100_000


def episode_step_limit(env: VecEnv) -> int:
    """The longest episode the env's spec allows (its ``TimeLimit``), else :data:`DEFAULT_MAX_EPISODE_STEPS`."""
    limits = [spec.max_episode_steps for spec in env.get_attr("spec") if spec is not None]
    limits = [limit for limit in limits if limit is not None]
    return max(limits) if limits else DEFAULT_MAX_EPISODE_STEPS


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
    :param batch_size: Minibatch size for the gradient computation (``None``: the whole batch at once). The
        update is still one gradient step on the whole batch's mean loss, accumulated minibatch by
        minibatch: the same step, in less memory.
    :param max_episode_steps: Longest episode allowed in a batch (``None``: the env spec's
        ``max_episode_steps``, else 100,000). An episode that runs longer stops training with an error
        naming the cause, rather than a batch that never completes.
    :param gamma: Discount factor
    :param reward_to_go: Weight each action by the return that follows it, G_t (True), or by the
        whole episode's return G_0 (False: the naive estimator, same mean, more variance)
    :param normalize_returns: Standardise the weights over the batch (mean 0, std 1). Subtracting the
        batch mean acts as a constant baseline.
    :param baseline: ``"optimal"`` subtracts the constant baseline that minimises the estimate's variance,
        b* = Σ_i ‖∇log π(a_i|s_i)‖² G_i / Σ_i ‖∇log π(a_i|s_i)‖² (Weaver & Tao, 2001; Greensmith et al., 2004),
        computed for each step from the batch's *other* episodes, so that it is independent of the action
        it weights and the estimate stays unbiased (a batch-wide b* would not be; the previous batch's would be
        unbiased too, but from an older policy). The per-step score norms take one vectorised pass
        (``torch.func``) over the batch. Needs ``normalize_returns=False`` (which would subtract the batch
        mean instead) and observations other than Discrete/MultiDiscrete. ``None``: no baseline.
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
    :param rollout_buffer_class: Rollout buffer class to use (``None``: ``EpisodeRolloutBuffer``, or
        ``DictEpisodeRolloutBuffer`` for Dict observations); it must hold complete episodes (an
        ``EpisodeBufferMixin``)
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation
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

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    rollout_buffer: EpisodeRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_episodes: int | None = 8,
        min_batch_steps: int | None = None,
        batch_size: int | None = None,
        max_episode_steps: int | None = None,
        gamma: float = 0.99,
        reward_to_go: bool = True,
        normalize_returns: bool = True,
        baseline: str | None = None,
        discount_state_weighting: bool = False,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[EpisodeRolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        self.n_episodes = check_positive_int("n_episodes", n_episodes, allow_none=True)
        self.min_batch_steps = check_positive_int("min_batch_steps", min_batch_steps, allow_none=True)
        if n_episodes is None and min_batch_steps is None:
            raise HyperparameterValueError("n_episodes and min_batch_steps cannot both be None: set the batch size")
        self.batch_size = check_positive_int("batch_size", batch_size, allow_none=True)
        self.max_episode_steps = check_positive_int("max_episode_steps", max_episode_steps, allow_none=True)
        self.reward_to_go = check_bool("reward_to_go", reward_to_go)
        self.normalize_returns = check_bool("normalize_returns", normalize_returns)
        if baseline not in (None, "optimal"):
            raise HyperparameterValueError(f"baseline must be None or 'optimal', got {baseline!r}")
        if baseline == "optimal" and self.normalize_returns:
            raise HyperparameterValueError(
                "baseline='optimal' subtracts b*, and normalize_returns would subtract the batch mean instead: "
                "set normalize_returns=False"
            )
        self.baseline = baseline
        self.discount_state_weighting = check_bool("discount_state_weighting", discount_state_weighting)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            gamma=gamma,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            n_steps=256,  # the buffer's initial length: it grows until the batch's episodes have ended
            gae_lambda=1.0,  # Monte Carlo returns
            vf_coef=0.0,  # unused
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
        self._choose_rollout_buffer(
            EpisodeRolloutBuffer, DictEpisodeRolloutBuffer, EpisodeBufferMixin, reward_to_go=self.reward_to_go
        )
        super()._setup_model()
        if self.baseline == "optimal" and not supports_score_norms(self.observation_space):
            raise HyperparameterValueError(
                f"baseline='optimal' needs per-sample score norms (torch.func.vmap), which SB3's one-hot encoding "
                f"of Discrete/MultiDiscrete observations does not support: {self.observation_space}"
            )
        # The envs hold the discarded tails of the last batch; the first batch starts from learn()'s reset
        self._reset_before_rollout = False

    def _setup_learn(self, total_timesteps: int, *args: Any, **kwargs: Any) -> tuple[int, BaseCallback]:
        total_timesteps, callback = super()._setup_learn(total_timesteps, *args, **kwargs)
        budget = total_timesteps - self.num_timesteps
        # Each episode takes at least one step: a batch this large cannot fit the budget
        for name, size in (("n_episodes", self.n_episodes), ("min_batch_steps", self.min_batch_steps)):
            if size is not None and size > budget:
                raise HyperparameterValueError(
                    f"{name}={size} needs at least {size} env steps per update, more than the {budget} of "
                    f"total_timesteps: lower {name} or train for longer"
                )
        self._warned_over_budget, self._updates_at_start = False, self._n_updates
        return total_timesteps, callback

    def _batch_full(self, n_started: int, n_steps: int) -> bool:
        return (self.n_episodes is None or n_started >= self.n_episodes) and (
            self.min_batch_steps is None or n_steps >= self.min_batch_steps
        )

    def _bootstrap_truncations(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Add γ·V(final observation) to the reward of time-limit truncated steps: none without a critic."""

    def _finish_rollout(self, rollout_buffer: EpisodeRolloutBuffer, dones: np.ndarray) -> None:
        """Returns and advantages of the collected batch."""
        rollout_buffer.compute_returns_and_advantage(last_values=None, dones=dones)

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: EpisodeRolloutBuffer,  # type: ignore[override]
        n_rollout_steps: int = 0,
    ) -> bool:
        """
        Collect complete episodes with the current policy (see the class docstring for which episodes
        make up a batch) and fill the ``EpisodeRolloutBuffer``, as SB3's ``collect_rollouts`` fills a
        ``RolloutBuffer``.

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

        max_episode_steps = self.max_episode_steps or episode_step_limit(env)
        no_values = th.zeros(env.num_envs)  # neither values nor log-probabilities are needed before train()
        in_batch = np.ones(env.num_envs, dtype=bool)  # the episode each env is running belongs to the batch
        # The batch's bookkeeping changes only when an episode ends: per step, a few integer operations
        started = np.zeros(env.num_envs, dtype=np.int64)  # the VecEnv step after which each env's episode began
        oldest, n_in_batch = 0, env.num_envs  # the oldest running episode of the batch; envs running one
        n_started, n_batch_steps, n_steps = env.num_envs, 0, 0
        while n_in_batch:
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
            self._bootstrap_truncations(rewards, dones, infos)
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                no_values,
                no_values,
                in_batch=in_batch,
            )
            n_batch_steps += n_in_batch
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones

            if dones.any():
                started[dones] = n_steps
                # A new episode joins only while the batch is not full, a rule that cannot look at the episode
                ended = dones & in_batch
                if self._batch_full(n_started, n_batch_steps):
                    in_batch &= ~ended
                else:
                    n_started += int(ended.sum())
                    self._warn_if_over_budget()
                n_in_batch = int(in_batch.sum())
                oldest = int(started[in_batch].min()) if n_in_batch else n_steps
            if n_steps - oldest >= max_episode_steps:
                raise RuntimeError(
                    f"an episode of the batch has run {n_steps - oldest} steps without ending, the most "
                    f"max_episode_steps={max_episode_steps} allows: {type(self).__name__} trains on complete "
                    "episodes, so they must end. Wrap the env in gymnasium.wrappers.TimeLimit, or raise "
                    "max_episode_steps if its episodes are this long."
                )

        self._finish_rollout(rollout_buffer, dones)
        self.logger.record("rollout/batch_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/batch_steps", n_batch_steps)
        self.logger.record("rollout/discarded_steps", n_steps * env.num_envs - n_batch_steps)

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_whole_batch"]  # the last update's samples

    def _warn_if_over_budget(self) -> None:
        """Warn once if the first batch of learn() is still filling when total_timesteps is spent."""
        # Later batches overshoot by less than a batch, as every run's last one does
        first_batch = self._n_updates == self._updates_at_start
        if first_batch and self.num_timesteps >= self._total_timesteps and not self._warned_over_budget:
            self._warned_over_budget = True
            warnings.warn(
                f"the batch is still filling after total_timesteps={self._total_timesteps} env steps "
                f"(n_episodes={self.n_episodes}, min_batch_steps={self.min_batch_steps}): training "
                "will overshoot its budget; lower the batch size or train for longer",
                stacklevel=3,
            )

    def _subtract_optimal_baseline(self) -> None:
        """Φ_t − b* for each step of the batch, b* from the batch's other episodes (see ``baseline``)."""
        buffer = self.rollout_buffer
        observations = buffer.batch_observations()
        actions = self._buffer_actions(th.as_tensor(buffer.actions[buffer.in_batch], device=self.device).float())
        norms = score_sq_norms(self.policy, obs_as_tensor(observations, self.device), actions, self.batch_size)
        phi = buffer.advantages[buffer.in_batch]
        baseline = estimators.optimal_baseline(norms.cpu().numpy(), phi, buffer.episode_ids()[buffer.in_batch])
        buffer.advantages[buffer.in_batch] = phi - baseline
        self.logger.record("train/optimal_baseline", float(baseline.mean()))

    def _policy_loss(self, rollout_data: DiscountedRolloutBufferSamples) -> th.Tensor:
        """Policy-gradient loss on the (normalised) advantages Φ_t, plus the entropy bonus; logs both."""
        weights = rollout_data.advantages
        if self.discount_state_weighting:
            weights = weights * rollout_data.discounts
        distribution = self.policy.get_distribution(rollout_data.observations)
        log_prob = distribution.log_prob(self._buffer_actions(rollout_data.actions))
        policy_loss = -(weights * log_prob).mean()

        entropy = distribution.entropy()
        # Approximate entropy when no analytical form
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)

        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        return policy_loss + self.ent_coef * entropy_loss

    def _batch_mean(self, loss: Any) -> Iterable[th.Tensor]:
        """
        ``loss(minibatch)`` for each minibatch of ``batch_size``, weighted by its share of the batch: their
        gradients add up to the gradient of the whole batch's mean loss. The whole batch as one minibatch
        (``batch_size=None``) is drawn from the buffer once per update and shared by its gradient steps.
        """
        if self.batch_size is None:
            if self._whole_batch is None:
                (self._whole_batch,) = self.rollout_buffer.get()
            yield loss(self._whole_batch)
            return
        n_steps = self.rollout_buffer.n_steps
        for rollout_data in self.rollout_buffer.get(self.batch_size):
            yield loss(rollout_data) * (len(rollout_data.advantages) / n_steps)

    def train(self) -> None:
        """
        Update the policy with one gradient step on the collected episodes.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        self._whole_batch = None

        self.logger.record("train/return_mean", float(self.rollout_buffer.returns[self.rollout_buffer.in_batch].mean()))
        if self.baseline == "optimal":
            self._subtract_optimal_baseline()
        if self.normalize_returns:
            self.rollout_buffer.normalize_advantages()
        self._gradient_step(self._batch_mean(self._policy_loss))

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
