from typing import Any, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import (
    ActorCriticPolicy,
)
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import VecEnv

from sb3_pg.common.base import PolicyGradientAlgorithm
from sb3_pg.common.buffers import TransitionBuffer
from sb3_pg.common.estimators import td_error

SelfOneStepAC = TypeVar("SelfOneStepAC", bound="OneStepAC")


class OneStepAC(PolicyGradientAlgorithm):
    """
    One-step actor-critic (Sutton & Barto, 2018, ch. 13.5): an online policy gradient that updates
    after every environment step, on one transition per env.

    With δ_t = r_t + γ(1 − terminated)·V(s_{t+1}) − V(s_t), the TD(0) error, each step makes

    - a critic step on ``½·mean(δ_t²)`` with the target r_t + γV(s_{t+1}) held fixed (semi-gradient
      TD(0)): with SGD at ``critic_learning_rate`` β this is exactly w ← w + β·δ·∇V(s_t);
    - an actor step on ``−mean(I·δ_t·log π(a_t|s_t)) − ent_coef·mean(H)`` with δ detached: with SGD
      at ``learning_rate`` α, θ ← θ + α·I·δ·∇log π(a_t|s_t).

    Both use the critic as it was before the step. On a time-limit truncation V(s_{t+1}) is the value of
    the true final observation (the state still has a future); on a termination it is zero.

    I = γ^t is the factor of the episodic algorithm: it starts at 1 with each episode of each env and
    is multiplied by γ after every step, so the update follows the discounted state distribution of the
    discounted objective. ``discount_state_weighting=False`` drops it (I = 1), as most deep-RL code
    does, at the price of a biased gradient of that objective (Thomas, 2014).

    Actor and critic have separate networks by default (``share_features_extractor=False``) and separate
    learning rates. The optimizer is Adam by default; pass
    ``policy_kwargs=dict(optimizer_class=th.optim.SGD, optimizer_kwargs={})`` for the textbook update.
    SB3's A2C with ``n_steps=1`` is the closest relative: it shares one learning rate, one optimizer
    (RMSprop) and one loss between actor and critic, and has no I factor.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, ...)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The actor's learning rate, it can be a function
        of the current progress remaining (from 1 to 0)
    :param critic_learning_rate: The critic's learning rate, a float or a schedule
    :param gamma: Discount factor
    :param discount_state_weighting: Weight the actor's update at step t of an episode by I = γ^t
    :param ent_coef: Entropy coefficient for the loss calculation
    :param max_grad_norm: The maximum value for the gradient clipping, applied to the actor's and the
        critic's gradients separately. ``None`` (the default, as in the textbook) does not clip: clipping
        the gradient of a single transition gives every step the same size, so the rare, large TD errors
        of terminal transitions lose their weight and the critic drifts toward r/(1 − γ), as if episodes
        never ended (seen on CartPole-v1 with 0.5; SB3's A2C with ``n_steps=1`` shows the same)
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

    rollout_buffer: TransitionBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        critic_learning_rate: float | Schedule = 1e-3,
        gamma: float = 0.99,
        discount_state_weighting: bool = True,
        ent_coef: float = 0.0,
        max_grad_norm: float | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        self.discount_state_weighting = discount_state_weighting
        policy_kwargs = {"share_features_extractor": False, **(policy_kwargs or {})}
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            critic_learning_rate=critic_learning_rate,
            gamma=gamma,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            n_steps=1,
            gae_lambda=0.0,  # unused: δ_t is the TD(0) error
            vf_coef=1.0,  # unused: actor and critic have their own learning rates
            use_sde=False,
            sde_sample_freq=-1,
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
        self.rollout_buffer = TransitionBuffer(self.device)
        self._discounts = np.ones(self.n_envs, dtype=np.float32)  # I = γ^t of each env's episode

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: TransitionBuffer,  # type: ignore[override]
        n_rollout_steps: int = 1,
    ) -> bool:
        """
        Take one step in every env with the current policy.

        :param env: The training environment
        :param callback: Callback that will be called at each step
            (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to store the transition in
        :param n_rollout_steps: Unused: always one step
        :return: True, or False if a callback stopped training
        """
        assert self._last_obs is not None, "No previous observation was provided"
        self._set_training_mode(False)
        callback.on_rollout_start()

        # learn() may have reset the envs; an episode start resets I
        self._discounts[self._last_episode_starts] = 1.0
        actions, clipped_actions = self._sample_actions(self._last_obs)  # type: ignore[arg-type]
        new_obs, rewards, dones, infos = env.step(clipped_actions)
        self.num_timesteps += env.num_envs

        # Give access to local variables
        callback.update_locals(locals())
        if not callback.on_step():
            return False

        self._update_info_buffer(infos, dones)
        discounts = self._discounts if self.discount_state_weighting else np.ones_like(self._discounts)
        rollout_buffer.add(self._last_obs, actions, rewards, new_obs, dones, infos, discounts)  # type: ignore[arg-type]
        self._discounts = np.where(dones, 1.0, self.gamma * self._discounts).astype(np.float32)
        self._last_obs = new_obs  # type: ignore[assignment]
        self._last_episode_starts = dones

        callback.on_rollout_end()
        return True

    def train(self) -> None:
        """
        One critic step (semi-gradient TD(0)) and one actor step (δ-weighted score) on the last transition.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self._set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        transition = self.rollout_buffer.get()
        values = self.policy.predict_values(transition.observations).flatten()
        with th.no_grad():
            next_values = self.policy.predict_values(transition.next_observations).flatten()
        # Computed from V before the update and detached: the TD target is a constant (semi-gradient)
        delta = td_error(transition.rewards, values.detach(), next_values, transition.terminated, self.gamma)
        value_loss = 0.5 * ((values.detach() + delta - values) ** 2).mean()

        distribution = self.policy.get_distribution(transition.observations)
        log_prob = distribution.log_prob(transition.actions)
        policy_loss = -(transition.discounts * delta * log_prob).mean()
        entropy = distribution.entropy()
        # Approximate entropy when no analytical form
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)

        # Actor and critic parameters are disjoint: one backward pass serves both steps
        self._gradient_step(policy_loss + self.ent_coef * entropy_loss + value_loss)

        self._record_update()
        self.logger.record("train/td_error_mean", delta.mean().item())
        self.logger.record("train/value_loss", value_loss.item())
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())

    def learn(
        self: SelfOneStepAC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1000,
        tb_log_name: str = "OneStepAC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOneStepAC:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
