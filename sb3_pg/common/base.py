from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, obs_as_tensor

from sb3_pg.common.buffers import check_env_observation
from sb3_pg.common.policies import NonFiniteActionError
from sb3_pg.common.validation import (
    HyperparameterTypeError,
    check_common,
    check_env,
    check_int,
    check_learning_rate,
    check_observation_shape,
)

SelfPolicyGradientAlgorithm = TypeVar("SelfPolicyGradientAlgorithm", bound="PolicyGradientAlgorithm")
SUPPORTED_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
SUPPORTED_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict)


def env_actions(policy: ActorCriticPolicy, action_space: spaces.Space, actions: np.ndarray) -> np.ndarray:
    """Sampled actions as sent to the env: clipped to, or (squashed policies) rescaled into, a Box's bounds."""
    if not isinstance(action_space, spaces.Box):
        return actions
    if policy.squash_output:
        return policy.unscale_action(actions)
    return np.clip(actions, action_space.low, action_space.high)


class PolicyGradientAlgorithm(OnPolicyAlgorithm):
    """
    What the sb3-pg algorithms share on top of SB3's ``OnPolicyAlgorithm``: hyperparameter checks that
    name the offending parameter, and, where there is a critic (``has_critic``), one optimizer with two
    parameter groups so that actor and critic have their own learning rates (and their own gradient
    clipping). A NaN or inf observation or reward from the env is refused by the rollout buffers
    (:mod:`sb3_pg.common.buffers`) before it is trained on.

    :param critic_learning_rate: learning rate of the critic (value function), a float or a schedule;
        ``None`` for an algorithm without a critic
    Other parameters: see ``OnPolicyAlgorithm``.
    """

    policy: ActorCriticPolicy
    has_critic: ClassVar[bool] = False  # whether the value head is trained, with its own learning rate

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
        critic_learning_rate: float | Schedule | None,
        n_steps: int,
        gamma: float,
        gae_lambda: float,
        ent_coef: float,
        max_grad_norm: float | None,
        use_sde: bool,
        sde_sample_freq: int,
        rollout_buffer_class: type[RolloutBuffer] | None,
        rollout_buffer_kwargs: dict[str, Any] | None,
        stats_window_size: int,
        tensorboard_log: str | None,
        policy_kwargs: dict[str, Any] | None,
        verbose: int,
        seed: int | None,
        device: th.device | str,
        _init_setup_model: bool,
    ):
        assert self.has_critic or critic_learning_rate is None, f"{type(self).__name__} has no critic"
        self.critic_learning_rate = (
            check_learning_rate("critic_learning_rate", critic_learning_rate) if self.has_critic else None
        )
        common = check_common(gamma, ent_coef, max_grad_norm, stats_window_size, verbose, tensorboard_log)
        super().__init__(
            policy,
            check_env(env),
            learning_rate=check_learning_rate("learning_rate", learning_rate),
            n_steps=n_steps,
            gae_lambda=gae_lambda,
            vf_coef=0.0,  # unused: the critic has its own parameter group, learning rate and loss
            use_sde=use_sde,
            sde_sample_freq=check_int("sde_sample_freq", sde_sample_freq, minimum=-1),
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            policy_kwargs=policy_kwargs,
            seed=seed,
            device=device,
            _init_setup_model=False,
            # Checked below, to raise a TypeError rather than SB3's AssertionError
            supported_action_spaces=None,
            **common,  # type: ignore[arg-type]
        )
        # Without an env (``load()``) the spaces come later, from the saved model
        for kind, supported in (("action", SUPPORTED_ACTION_SPACES), ("observation", SUPPORTED_OBSERVATION_SPACES)):
            space = getattr(self, f"{kind}_space", None)
            if space is not None and not isinstance(space, supported):
                raise TypeError(
                    f"{kind}_space {space} is not supported by {type(self).__name__}: "
                    f"expected one of {[s.__name__ for s in supported]}"
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

    @classmethod
    def load(
        cls: type[SelfPolicyGradientAlgorithm], path: Any, *args: Any, **kwargs: Any
    ) -> SelfPolicyGradientAlgorithm:  # type: ignore[override]
        """SB3's ``load``, after checking that the file is a model saved by this algorithm (see SB3's docs)."""
        cls._check_saved_by(path, kwargs.get("device", "auto"))
        return super().load(path, *args, **kwargs)  # type: ignore[return-value]

    @classmethod
    def _check_saved_by(cls, path: Any, device: Any) -> None:
        """A file that is no model, or another algorithm's, is refused with one line naming what it is."""
        try:
            data, _, _ = load_from_zip_file(path, device=device, load_data=True)
        except FileNotFoundError:
            raise
        except Exception as error:  # zip, JSON or torch errors of a damaged or foreign file
            raise ValueError(f"{path} is not a model file that {cls.__name__} can load ({error!r})") from None
        if data is None or "policy_class" not in data:
            raise ValueError(f"{path} holds no saved model data: not a file saved by {cls.__name__}.save()")
        saved_by = data.get("_saved_by")
        policy_class = data["policy_class"]
        if saved_by is None and not getattr(policy_class, "__module__", "").startswith("sb3_pg"):
            raise ValueError(
                f"{path} was saved by another library's algorithm (its policy is {policy_class!r}), not by "
                f"sb3-pg's {cls.__name__}: load it with the class that saved it (e.g. stable_baselines3.A2C)"
            )
        # Files of sb3-pg 0.1 do not name their algorithm: whether they hold a critic's learning rate tells
        has_critic = data.get("critic_learning_rate") is not None
        if (saved_by or cls.__name__) != cls.__name__ or (saved_by is None and has_critic != cls.has_critic):
            other = saved_by or ("an algorithm with a critic" if has_critic else "an algorithm without a critic")
            raise ValueError(
                f"{path} was saved by {other}, not by {cls.__name__}: load it with the class that saved it"
            )

    def _setup_model(self) -> None:
        self._saved_by = type(self).__name__  # saved with the model, checked by load()
        super()._setup_model()
        if not self.has_critic:
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
        if not self.has_critic:
            return super()._update_learning_rate(optimizers)
        # Two parameter groups: SB3's version would give both the actor's rate
        actor_lr = self.lr_schedule(self._current_progress_remaining)
        critic_lr = self.critic_lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", actor_lr)
        self.logger.record("train/critic_learning_rate", critic_lr)
        actor_group, critic_group = self.policy.optimizer.param_groups
        actor_group["lr"], critic_group["lr"] = actor_lr, critic_lr

    def _setup_learn(self, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """SB3's, with observations of the wrong shape from the env's ``reset()`` named as such."""
        try:
            result = super()._setup_learn(*args, **kwargs)
        except ValueError as error:
            # DummyVecEnv copies each env's observation into an array of the space's shape
            if "could not broadcast" not in str(error):
                raise
            raise ValueError(
                f"the env's reset() returned an observation that does not fit its observation_space "
                f"{self.observation_space} ({error}): make reset() return observations of that shape"
            ) from None
        check_observation_shape(self._last_obs, self.observation_space, self.n_envs, "the env's reset()")
        return result

    def _sample_actions(self, obs: np.ndarray | dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """
        Actions of the current stochastic policy for a VecEnv's observations, from the actor alone (SB3's
        distribution, as ``policy.forward`` draws them).

        :return: the actions as sampled (to score), and as sent to the env (clipped to, or rescaled
            into, the bounds of a Box action space)
        """
        with th.no_grad():
            actions = self.policy.get_distribution(obs_as_tensor(obs, self.device)).get_actions()
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if actions.dtype.kind == "f" and not np.isfinite(actions).all():
            raise self._diverged(f"after update {self._n_updates}: {NonFiniteActionError.MESSAGE}")
        return actions, env_actions(self.policy, self.action_space, actions)

    def collect_rollouts(self, *args: Any, **kwargs: Any) -> bool:
        """SB3's, with the policy's non-finite actions (which would reach the env) named as a divergence."""
        try:
            return super().collect_rollouts(*args, **kwargs)
        except NonFiniteActionError:
            raise self._diverged(f"after update {self._n_updates}: {NonFiniteActionError.MESSAGE}") from None

    def _buffer_actions(self, actions: th.Tensor) -> th.Tensor:
        """Actions as a rollout buffer returns them (float32, ``(n, action_dim)``) made ready to score, as in A2C."""
        return actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else actions

    def _record_update(self) -> None:
        """Count the update and log what every algorithm logs after one."""
        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _gradient_step(self, losses: Iterable[th.Tensor], name: str = "loss") -> None:
        """
        One optimizer step on the sum of ``losses`` (the minibatches of one batch, each backpropagated as it
        comes, so that only one graph is in memory), gradients clipped to ``max_grad_norm`` per parameter
        group (actor, critic). Parameters the losses do not reach keep ``grad=None`` and are left alone by the
        optimizer, so an actor loss never moves the critic and vice versa.

        :param name: what the loss is, for the error if it or its gradient is not finite
        :raises RuntimeError: before the step, if the loss or its gradient is NaN or inf (the update diverged)
        """
        self.policy.optimizer.zero_grad(set_to_none=True)
        total = th.zeros(())
        for loss in losses:
            loss.backward()
            total = total + loss.detach()
        norms = []
        for group in self.policy.optimizer.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params and self.max_grad_norm is not None:
                norms.append(th.nn.utils.clip_grad_norm_(params, self.max_grad_norm))
            elif params:
                norms.append(th.linalg.vector_norm(th.stack([th.linalg.vector_norm(p.grad) for p in params])))
        # One check (and one device sync) per step: the loss, and the gradient norms before clipping
        if not th.isfinite(th.stack([total, *norms])).all():
            norm = " and ".join(f"{value.item():.3g}" for value in norms)
            groups = " (actor's and critic's)" if len(norms) > 1 else ""
            raise self._diverged(
                f"at update {self._n_updates + 1}: the {name} is {total.item():.3g}, its gradient's norm{groups} "
                f"{norm}, not all finite"
            )
        self.policy.optimizer.step()

    def _diverged(self, what: str) -> RuntimeError:
        """
        The error for a training that diverged, naming the update and the settings that set its step size; first
        the env's error if its last observation, which the actions or the TD target came from, is not finite.
        """
        check_env_observation(self._last_obs)  # type: ignore[arg-type]
        rates = [f"learning_rate={self.lr_schedule(self._current_progress_remaining):.3g}"]
        if self.has_critic:
            rates.append(f"critic_learning_rate={self.critic_lr_schedule(self._current_progress_remaining):.3g}")
        rates.append(f"max_grad_norm={self.max_grad_norm}")
        return RuntimeError(
            f"training diverged {what} ({', '.join(rates)}). Lower the learning "
            "rate(s), clip the gradients (max_grad_norm) or normalise the rewards (VecNormalize)"
        )
