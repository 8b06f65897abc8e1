import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, obs_as_tensor

from sb3_pg.common.policies import PolicyGradientPolicyMixin, check_finite_observation

SUPPORTED_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
SUPPORTED_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict)


class HyperparameterError(Exception):
    """A hyperparameter out of its range or of the wrong type; the message names it."""


class HyperparameterValueError(HyperparameterError, ValueError):
    pass


class HyperparameterTypeError(HyperparameterError, TypeError):
    pass


def check_real(name: str, value: Any) -> float:
    """A finite real number of any numeric type (numpy scalars included), never a bool."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise HyperparameterValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """A flag: ``True``/``False`` (numpy's too), never a number or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(name: str, value: Any, allow_none: bool = False, minimum: int = 1) -> int | None:
    """An integer of any integral type (numpy's included), never a bool, at least ``minimum``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise HyperparameterValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_learning_rate(name: str, value: Any) -> float | Schedule:
    """A learning rate, or a schedule whose start is one, must be a finite number >= 0 (0 freezes the weights)."""
    if value is None:
        raise HyperparameterTypeError(f"{name} must be a float or a schedule, got None")
    if callable(value):
        initial = check_real(f"{name} (its initial value)", value(1.0))
    else:
        initial = value = check_real(name, value)
    if initial < 0:
        raise HyperparameterValueError(f"{name} must be >= 0, got {initial}")
    return value


def env_actions(policy: BasePolicy, action_space: spaces.Space, actions: np.ndarray) -> np.ndarray:
    """Sampled actions as sent to the env: clipped to, or (squashed policies) rescaled into, a Box's bounds."""
    if not isinstance(action_space, spaces.Box):
        return actions
    if policy.squash_output:
        return policy.unscale_action(actions)
    return np.clip(actions, action_space.low, action_space.high)


class PolicyGradientAlgorithm(OnPolicyAlgorithm):
    """
    What the sb3-pg algorithms share on top of SB3's ``OnPolicyAlgorithm``: hyperparameter checks that
    name the offending parameter, and, where there is a critic, one optimizer with two parameter groups
    so that actor and critic have their own learning rates and their own gradient steps.

    :param critic_learning_rate: learning rate of the critic (value function), a float or a schedule;
        ``None`` for algorithms without a critic
    Other parameters: see ``OnPolicyAlgorithm``.
    """

    policy: ActorCriticPolicy

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
        gamma: float,
        ent_coef: float,
        max_grad_norm: float | None,
        critic_learning_rate: float | Schedule | None = None,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ):
        learning_rate = check_learning_rate("learning_rate", learning_rate)
        if critic_learning_rate is not None:
            critic_learning_rate = check_learning_rate("critic_learning_rate", critic_learning_rate)
        gamma = check_real("gamma", gamma)
        if not 0 < gamma <= 1:
            raise HyperparameterValueError(f"gamma must be in (0, 1], got {gamma}")
        ent_coef = check_real("ent_coef", ent_coef)
        if ent_coef < 0:
            raise HyperparameterValueError(f"ent_coef must be >= 0, got {ent_coef}")
        if max_grad_norm is not None and check_real("max_grad_norm", max_grad_norm) <= 0:
            raise HyperparameterValueError(f"max_grad_norm must be > 0 or None (no clipping), got {max_grad_norm!r}")

        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            gamma=gamma,
            ent_coef=ent_coef,
            max_grad_norm=max_grad_norm,  # type: ignore[arg-type]
            _init_setup_model=False,
            # Checked below, to raise a TypeError rather than SB3's AssertionError
            supported_action_spaces=None,
            **kwargs,
        )
        self.critic_learning_rate = critic_learning_rate
        # Without an env (``load()``) the spaces come later, from the saved model
        action_space, observation_space = getattr(self, "action_space", None), getattr(self, "observation_space", None)
        if action_space is not None and not isinstance(action_space, SUPPORTED_ACTION_SPACES):
            raise TypeError(
                f"action_space {action_space} is not supported by {type(self).__name__}: "
                f"expected one of {[s.__name__ for s in SUPPORTED_ACTION_SPACES]}"
            )
        if observation_space is not None and not isinstance(observation_space, SUPPORTED_OBSERVATION_SPACES):
            raise TypeError(
                f"observation_space {observation_space} is not supported by {type(self).__name__}: "
                f"expected one of {[s.__name__ for s in SUPPORTED_OBSERVATION_SPACES]}"
            )
        if _init_setup_model:
            self._setup_model()

    def _choose_rollout_buffer(
        self, buffer_class: type[RolloutBuffer], dict_buffer_class: type[RolloutBuffer], required: type, **kwargs: Any
    ) -> None:
        """
        Before SB3's ``_setup_model``: the algorithm's buffer class unless the user chose one (its ``Dict``
        version for Dict observations, as SB3 does), checked to provide what the algorithm needs, and the
        algorithm's buffer arguments under the user's ``rollout_buffer_kwargs``.
        """
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = dict_buffer_class if dict_obs else buffer_class
        if not issubclass(self.rollout_buffer_class, required):
            raise HyperparameterTypeError(
                f"rollout_buffer_class must be a {required.__name__} subclass such as {buffer_class.__name__} "
                f"({type(self).__name__} needs what it adds to SB3's buffer), got {self.rollout_buffer_class.__name__}"
            )
        self.rollout_buffer_kwargs = {**kwargs, **self.rollout_buffer_kwargs}

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.critic_learning_rate is None:
            return
        self.critic_lr_schedule = FloatSchedule(self.critic_learning_rate)
        actor, critic = self._actor_critic_parameters()
        self.policy.optimizer = self.policy.optimizer_class(  # type: ignore[call-arg]
            [{"params": actor, "lr": self.lr_schedule(1)}, {"params": critic, "lr": self.critic_lr_schedule(1)}],
            **self.policy.optimizer_kwargs,
        )

    def _actor_critic_parameters(self) -> tuple[list[th.nn.Parameter], list[th.nn.Parameter]]:
        """
        Split the policy's parameters: the critic is the value head, its MLP and, when not shared,
        its features extractor; everything else (a shared features extractor included) is the actor's.
        """
        critic_modules = [self.policy.mlp_extractor.value_net, self.policy.value_net]
        if not self.policy.share_features_extractor:
            critic_modules.append(self.policy.vf_features_extractor)
        critic_ids = {id(p) for module in critic_modules for p in module.parameters()}
        actor = [p for p in self.policy.parameters() if id(p) not in critic_ids]
        critic = [p for p in self.policy.parameters() if id(p) in critic_ids]
        return actor, critic

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        # A batch of whole episodes overshoots total_timesteps: SB3's 1 - t/T then goes negative, and with an
        # unclamped schedule (the zoo's lin_*) the last update would run at a negative learning rate
        self._current_progress_remaining = max(0.0, 1.0 - float(num_timesteps) / float(total_timesteps))

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        if self.critic_learning_rate is None:
            return super()._update_learning_rate(optimizers)
        # Two parameter groups: SB3's version would give both the actor's rate
        actor_lr = self.lr_schedule(self._current_progress_remaining)
        critic_lr = self.critic_lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", actor_lr)
        self.logger.record("train/critic_learning_rate", critic_lr)
        actor_group, critic_group = self.policy.optimizer.param_groups
        actor_group["lr"], critic_group["lr"] = actor_lr, critic_lr

    def _sample_actions(self, obs: np.ndarray | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """
        Sample actions of the current policy for a VecEnv's observations.

        :return: the actions as sampled (to score), and as sent to the env (clipped to, or rescaled
            into, the bounds of a Box action space)
        """
        check_finite_observation(obs)
        obs_tensor = obs_as_tensor(obs, self.device)
        with th.no_grad():
            if isinstance(self.policy, PolicyGradientPolicyMixin):
                actions = self.policy.sample_actions(obs_tensor)
            else:  # a user's policy class: SB3's own draw
                actions = self.policy.get_distribution(obs_tensor).get_actions()
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        return actions, env_actions(self.policy, self.action_space, actions)

    def _buffer_actions(self, actions: th.Tensor) -> th.Tensor:
        """Actions as a rollout buffer returns them (float32, ``(n, action_dim)``) made ready to score, as in A2C."""
        return actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else actions

    def _record_update(self) -> None:
        """Count the update and log what every algorithm logs after one."""
        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _gradient_step(self, losses: Iterable[th.Tensor]) -> None:
        """
        One optimizer step on the sum of ``losses`` (the minibatches of one batch, each backpropagated as it
        comes, so that only one is in memory), gradients clipped to ``max_grad_norm`` per parameter group
        (actor, critic). Parameters the losses do not reach keep ``grad=None`` and are left alone by the
        optimizer, so an actor loss never moves the critic and vice versa.
        """
        self.policy.optimizer.zero_grad(set_to_none=True)
        for loss in losses:
            loss.backward()
        if self.max_grad_norm is not None:
            for group in self.policy.optimizer.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    th.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.policy.optimizer.step()
