from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule

from sb3_pg.common.base import PolicyGradientAlgorithm
from sb3_pg.common.validation import HyperparameterValueError, NonFiniteActionError, check_bool, check_learning_rate
from sb3_pg.onestep_ac.buffers import DictOneStepRolloutBuffer, OneStepRolloutBuffer
from sb3_pg.onestep_ac.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

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

    The data path is SB3's: ``collect_rollouts`` of ``OnPolicyAlgorithm`` with ``n_steps=1`` fills a
    one-step ``RolloutBuffer`` whose GAE with λ = 0 is δ_t, time-limit bootstrapping included, as in A2C.

    I = γ^t is the factor of the episodic algorithm: it starts at 1 with each episode of each env and
    is multiplied by γ after every step, so the update follows the discounted state distribution of the
    discounted objective. ``discount_state_weighting=False`` drops it (I = 1), as most deep-RL code
    does, at the price of a biased gradient of that objective (Thomas, 2014).

    Actor and critic have separate networks by default (the policies' ``share_features_extractor`` defaults
    to False) and separate learning rates. Each update sees one transition per env, so training a policy
    with BatchNorm needs ``n_envs >= 2`` (the first update refuses it; predicting and collecting work).
    The optimizer is Adam by default; pass ``policy_kwargs=dict(optimizer_class=th.optim.SGD,
    optimizer_kwargs={})`` for the textbook update.
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
    :param rollout_buffer_class: Rollout buffer class to use (``None``: ``OneStepRolloutBuffer``, or
        ``DictOneStepRolloutBuffer`` for Dict observations); it must be a ``OneStepRolloutBuffer``
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
    rollout_buffer: OneStepRolloutBuffer
    buffer_classes: ClassVar[tuple[type[RolloutBuffer], type[RolloutBuffer]]] = (
        OneStepRolloutBuffer,
        DictOneStepRolloutBuffer,
    )

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
        rollout_buffer_class: type[OneStepRolloutBuffer] | None = None,
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
        self.discount_state_weighting = check_bool("discount_state_weighting", discount_state_weighting)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=1,
            gamma=gamma,
            gae_lambda=0.0,  # SB3's GAE(0): the TD(0) error δ_t
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,
            use_sde=False,
            sde_sample_freq=-1,
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

    def collect_rollouts(self, *args: Any, **kwargs: Any) -> bool:
        """SB3's, with the policy's non-finite actions (which would reach the env) named as a divergence."""
        try:
            return super().collect_rollouts(*args, **kwargs)
        except NonFiniteActionError:
            raise self._diverged(f"after update {self._n_updates}: {NonFiniteActionError.MESSAGE}") from None

    def train(self) -> None:
        """
        One critic step (semi-gradient TD(0)) and one actor step (δ-weighted score) on the last transition.
        """
        first_update_of_learn = self.num_timesteps == self._num_timesteps_at_start + self.n_envs
        if self.n_envs == 1 and first_update_of_learn and self._has_batch_norm():
            raise HyperparameterValueError(
                "OneStepAC updates on one transition per env: with n_envs=1 the policy's BatchNorm layers would "
                "normalise batches of a single sample in training mode. Use n_envs >= 2 or a policy without BatchNorm."
            )
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)

        # One transition per env. With gae_lambda=0 SB3's buffer holds δ_t = r + γ(1 − terminated)V(s') − V(s)
        # (advantages) and the TD target r + γ(1 − terminated)V(s') (returns), from the critic before this step
        (rollout_data,) = self.rollout_buffer.get()
        values, log_prob, entropy = self.policy.evaluate_actions(
            rollout_data.observations,
            self._buffer_actions(rollout_data.actions),
        )
        # Semi-gradient TD(0): the target is a constant
        value_loss = 0.5 * ((rollout_data.returns - values.flatten()) ** 2).mean()
        delta = rollout_data.advantages
        weights = rollout_data.discounts * delta if self.discount_state_weighting else delta
        policy_loss = -(weights * log_prob).mean()
        # Approximate entropy when no analytical form
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
        loss = policy_loss + value_loss
        if self.ent_coef > 0:  # without a bonus its graph would only cost a backward pass through zeros
            loss = loss + self.ent_coef * entropy_loss

        # Actor and critic parameters are disjoint: one backward pass serves both steps
        self._gradient_step([loss], "loss (policy + value)")

        self._record_update()
        self.logger.record("train/td_error_mean", delta.mean().item())
        self.logger.record("train/value_loss", value_loss.item())
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())

    def _has_batch_norm(self) -> bool:
        return any(isinstance(module, th.nn.modules.batchnorm._BatchNorm) for module in self.policy.modules())

    def learn(
        self: SelfOneStepAC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 5000,  # updates, n_envs steps each: a line every few episodes, as A2C's default
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
