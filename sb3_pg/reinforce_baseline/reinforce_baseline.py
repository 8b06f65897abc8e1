from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule, explained_variance, obs_as_tensor
from torch.nn import functional as F

from sb3_pg.common.buffers import EpisodeSequenceSamples
from sb3_pg.common.episodic import DEFAULT_MAX_BATCH_STEPS, EpisodicPolicyGradient, Samples, batch_mean
from sb3_pg.common.recurrent import is_recurrent, zero_states
from sb3_pg.common.validation import (
    HyperparameterValueError,
    check_bool,
    check_int,
    check_learning_rate,
    check_real,
)
from sb3_pg.reinforce_baseline.buffers import BaselineEpisodeRolloutBuffer, DictBaselineEpisodeRolloutBuffer
from sb3_pg.reinforce_baseline.policies import (
    CnnLstmPolicy,
    CnnPolicy,
    MlpLstmPolicy,
    MlpPolicy,
    MultiInputLstmPolicy,
    MultiInputPolicy,
)

SelfREINFORCEBaseline = TypeVar("SelfREINFORCEBaseline", bound="REINFORCEBaseline")


class REINFORCEBaseline(EpisodicPolicyGradient):
    """
    REINFORCE with a learned state-value baseline (Williams, 1992; Sutton & Barto, 2018, ch. 13.4).

    The actor is weighted by the advantage A_t = G_t − V(s_t), with V evaluated before the update and
    detached: a baseline that depends on the state only leaves the gradient's mean unchanged and lowers
    its variance. The critic is then fitted by its own regression of V(s_t) on G_t, ``n_critic_steps``
    full-batch gradient steps at ``critic_learning_rate``. Batches are made of complete episodes as in
    :class:`~sb3_pg.REINFORCE`.

    Actor and critic have separate networks by default (the policies' ``share_features_extractor`` defaults
    to False; the MLP layers are never shared in SB3) and separate learning rates. A features extractor shared anyway
    (``share_features_extractor=True``) belongs to the actor's parameter group: both losses train it,
    at the actor's learning rate.

    **GAE(λ).** With ``gae_lambda`` < 1 the actor is weighted by the generalised advantage estimate
    Σ_l (γλ)^l δ_{t+l} within each complete episode, δ_t = r_t + γV(s_{t+1}) − V(s_t) from the critic as it
    was before the update (Schulman et al., 2016): the critic's bias traded for variance. λ = 1 is exactly
    G_t − V(s_t), the Monte Carlo REINFORCE with baseline; λ = 0 is the TD(0) error, and below 1 the
    algorithm is a batch actor-critic (Spinning Up's "VPG") rather than Monte Carlo REINFORCE. The critic
    still regresses on G_t.

    **Time limits.** With ``bootstrap_truncated=True`` (the default), an episode cut by a time limit
    gets γ·V(s_T) of its final observation added to its return: the cut is the training harness's, not
    the task's, and the state still had a future. A termination never bootstraps. Set it to False to
    treat the time limit as part of the task.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The actor's learning rate, it can be a function
        of the current progress remaining (from 1 to 0)
    :param critic_learning_rate: The critic's learning rate, a float or a schedule
    :param n_critic_steps: Gradient steps of the value regression per batch (at most 1000)
    :param n_episodes: Minimum number of episodes per update (``None``: no minimum)
    :param min_batch_steps: Minimum number of env steps, summed over envs, per update (``None``: no minimum).
        At least one of ``n_episodes`` and ``min_batch_steps`` must be set.
    :param batch_size: Minibatch size for the gradient computations (``None``: the whole batch at once); each
        actor and critic step is still one step on the whole batch's mean loss (see :class:`~sb3_pg.REINFORCE`)
    :param max_batch_steps: Most env steps one batch may take (see :class:`~sb3_pg.REINFORCE`)
    :param max_episode_steps: Longest episode allowed in a batch (see :class:`~sb3_pg.REINFORCE`)
    :param gamma: Discount factor
    :param gae_lambda: λ of the advantage estimate: 1 (the default) for G_t − V(s_t), below 1 for GAE(λ)
        within each episode (see above); must be 1 without ``reward_to_go``
    :param reward_to_go: Advantage from the reward-to-go, G_t − V(s_t) (True), or from the whole
        episode's return, G_0 − V(s_t) (False). The critic always regresses on G_t.
    :param normalize_advantage: Standardise the advantages over the batch (mean 0, std 1)
    :param bootstrap_truncated: Bootstrap the return of a time-limit truncated episode with V of its
        final observation
    :param discount_state_weighting: Multiply the weight of step t of an episode by γ^t (see
        :class:`~sb3_pg.REINFORCE`)
    :param ent_coef: Entropy coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping, applied to the actor's and the
        critic's gradients separately (``None``: no clipping)
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param rollout_buffer_class: Rollout buffer class to use (``None``: ``BaselineEpisodeRolloutBuffer``, or
        ``DictBaselineEpisodeRolloutBuffer`` for Dict observations); it must be a ``BaselineEpisodeRolloutBuffer``
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
        "MlpLstmPolicy": MlpLstmPolicy,
        "CnnLstmPolicy": CnnLstmPolicy,
        "MultiInputLstmPolicy": MultiInputLstmPolicy,
    }
    rollout_buffer: BaselineEpisodeRolloutBuffer
    buffer_classes: ClassVar[tuple[type[RolloutBuffer], type[RolloutBuffer]]] = (
        BaselineEpisodeRolloutBuffer,
        DictBaselineEpisodeRolloutBuffer,
    )

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        critic_learning_rate: float | Schedule = 3e-3,
        n_critic_steps: int = 5,
        n_episodes: int | None = 8,
        min_batch_steps: int | None = None,
        max_batch_steps: int = DEFAULT_MAX_BATCH_STEPS,
        batch_size: int | None = None,
        max_episode_steps: int | None = None,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        reward_to_go: bool = True,
        normalize_advantage: bool = True,
        bootstrap_truncated: bool = True,
        discount_state_weighting: bool = False,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = 0.5,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[BaselineEpisodeRolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        self.critic_learning_rate = check_learning_rate("critic_learning_rate", critic_learning_rate)
        # Each is a gradient step on the whole batch: the bound keeps an update to seconds
        self.n_critic_steps = check_int("n_critic_steps", n_critic_steps, maximum=1000)
        self.bootstrap_truncated = check_bool("bootstrap_truncated", bootstrap_truncated)
        gae_lambda = check_real("gae_lambda", gae_lambda, low=0.0, high=1.0)
        if gae_lambda < 1 and reward_to_go is False:
            raise HyperparameterValueError(
                f"gae_lambda={gae_lambda} weights each step by the TD errors that follow it: it has no whole-return "
                "form, so it needs reward_to_go=True"
            )
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_episodes=n_episodes,
            min_batch_steps=min_batch_steps,
            max_batch_steps=max_batch_steps,
            batch_size=batch_size,
            max_episode_steps=max_episode_steps,
            gamma=gamma,
            gae_lambda=gae_lambda,
            reward_to_go=reward_to_go,
            normalize_advantage=normalize_advantage,
            discount_state_weighting=discount_state_weighting,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
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
        self.critic_lr_schedule = FloatSchedule(self.critic_learning_rate)
        super()._setup_model()

    def _learning_rates(self) -> dict[str, float]:
        return {
            **super()._learning_rates(),
            "critic_learning_rate": self.critic_lr_schedule(self._current_progress_remaining),
        }

    def _recurrent_actions(self, obs: th.Tensor | dict[str, th.Tensor], episode_starts: th.Tensor) -> th.Tensor:
        """With ``bootstrap_truncated``, the critic's LSTM state too: a truncated episode's last value needs it."""
        if not self.bootstrap_truncated:
            return super()._recurrent_actions(obs, episode_starts)
        actions, _, _, self._lstm_states = self.policy(obs, self._lstm_states, episode_starts)
        return actions

    def _bootstrap_truncations(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Add γ·V(final observation) to the reward of time-limit truncated steps, as SB3's loop does (SB3 #633)."""
        if not self.bootstrap_truncated:
            return
        for idx, done in enumerate(dones):
            if (
                done
                and infos[idx].get("terminal_observation") is not None
                and infos[idx].get("TimeLimit.truncated", False)
            ):
                terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                with th.no_grad():
                    if self._lstm_states is None:
                        terminal_value = self.policy.predict_values(terminal_obs)[0]
                    else:  # the critic's LSTM state after the episode's last step
                        state = tuple(s[:, idx : idx + 1].contiguous() for s in self._lstm_states.vf)
                        terminal_value = self.policy.predict_values(terminal_obs, state, th.zeros(1))[0]
                rewards[idx] += self.gamma * terminal_value.item()

    def _compute_returns_and_advantage(self, rollout_buffer: BaselineEpisodeRolloutBuffer, dones: np.ndarray) -> None:  # type: ignore[override]
        """V(s_t) of the batch's steps, from the critic as it is before the update, in one pass; then the advantages."""
        with th.no_grad():
            if is_recurrent(self.policy):  # each env's steps in one sequence, the LSTM reset at episode starts
                observations, starts = rollout_buffer.sequence_observations()
                states = zero_states(self.policy, rollout_buffer.n_envs).vf
                values = self.policy.predict_values(observations, states, starts).cpu().numpy()
                values = values.reshape(rollout_buffer.n_envs, -1).T[rollout_buffer.in_batch[: rollout_buffer.pos]]
            else:
                values = self.policy.predict_values(obs_as_tensor(rollout_buffer.batch_observations(), self.device))
                values = values.cpu().numpy()
        rollout_buffer.set_batch_values(values.flatten())
        super()._compute_returns_and_advantage(rollout_buffer, dones)

    def train(self) -> None:
        """
        One actor step on the advantages of the current critic, then ``n_critic_steps`` steps of
        the critic's regression on the returns.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        buffer = self.rollout_buffer
        returns, values = buffer.returns[buffer.in_batch], buffer.values[buffer.in_batch]
        self.logger.record("train/return_mean", float(returns.mean()))
        self.logger.record("train/advantage_std", float(buffer.advantages[buffer.in_batch].std()))
        self.logger.record("train/explained_variance", explained_variance(values, returns))
        if self.normalize_advantage:
            buffer.normalize_advantages()
        minibatches = self._minibatches()
        # The advantages' V(s_t) is detached (computed before the update): the actor's loss never moves the critic
        self._gradient_step(self._batch_mean(self._policy_loss, minibatches), "policy loss")
        for _ in range(self.n_critic_steps):
            self._gradient_step(self._batch_mean(self._value_loss, minibatches), "value loss")

        self._record_update()

    def _value_loss(self, rollout_data: Samples) -> th.Tensor:
        """The critic's regression of V(s_t) on the return G_t; logs it."""
        if isinstance(rollout_data, EpisodeSequenceSamples):
            states = zero_states(self.policy, rollout_data.n_seq).vf
            values = self.policy.predict_values(rollout_data.observations, states, rollout_data.episode_starts)
            value_loss = batch_mean((values.flatten() - rollout_data.returns) ** 2, rollout_data)
        else:
            value_loss = F.mse_loss(
                self.policy.predict_values(rollout_data.observations).flatten(), rollout_data.returns
            )
        self.logger.record("train/value_loss", value_loss.item())
        return value_loss

    def learn(
        self: SelfREINFORCEBaseline,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 20,
        tb_log_name: str = "REINFORCEBaseline",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCEBaseline:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
