import io
import json
import os
import zipfile
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.save_util import json_to_data, open_path
from stable_baselines3.common.type_aliases import GymEnv, Schedule

from sb3_pg.common.validation import (
    HyperparameterTypeError,
    check_common,
    check_finite_observation,
    check_int,
    check_learning_rate,
    check_observation_shape,
)

SelfPolicyGradientAlgorithm = TypeVar("SelfPolicyGradientAlgorithm", bound="PolicyGradientAlgorithm")
SUPPORTED_ACTION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
SUPPORTED_OBSERVATION_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict)


class PolicyGradientAlgorithm(OnPolicyAlgorithm):
    """
    What the sb3-pg algorithms share on top of SB3's ``OnPolicyAlgorithm``: hyperparameter checks that name the
    offending parameter, a learning rate per parameter group of the policy's optimizer (:meth:`_learning_rates`),
    one gradient step that refuses to apply a non-finite loss or gradient, and ``load()`` refusing a file saved by
    another algorithm. Parameters: see ``OnPolicyAlgorithm``.
    """

    policy: ActorCriticPolicy
    # The algorithm's rollout buffer and its version for Dict observations; a user's class must subclass the first
    buffer_classes: ClassVar[tuple[type[RolloutBuffer], type[RolloutBuffer]]]

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule,
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
        super().__init__(
            policy,
            learning_rate=check_learning_rate("learning_rate", learning_rate),
            n_steps=n_steps,
            gae_lambda=gae_lambda,
            vf_coef=0.0,
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
            **check_common(env, gamma, ent_coef, max_grad_norm, stats_window_size, verbose, tensorboard_log),
        )
        del self.vf_coef  # OnPolicyAlgorithm's loss weight: a critic here has its own loss and learning rate
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

    @classmethod
    def _algorithm(cls) -> str:
        """The sb3-pg algorithm this class is (a user's subclass of REINFORCE is REINFORCE)."""
        # The algorithm classes set their policy aliases; a subclass that only changes behaviour does not
        return next(c.__name__ for c in cls.__mro__ if "policy_aliases" in vars(c))

    def _setup_model(self) -> None:
        buffer_class, dict_buffer_class = self.buffer_classes
        if self.rollout_buffer_class is None:
            dict_obs = isinstance(self.observation_space, spaces.Dict)
            self.rollout_buffer_class = dict_buffer_class if dict_obs else buffer_class
        elif not issubclass(self.rollout_buffer_class, buffer_class):
            raise HyperparameterTypeError(
                f"rollout_buffer_class must be a subclass of {buffer_class.__name__} ({type(self).__name__} needs what "
                f"it adds to SB3's buffer), got {self.rollout_buffer_class.__name__}"
            )
        super()._setup_model()
        self._saved_by = self._algorithm()  # saved with the model, checked by load()
        groups = len(self.policy.optimizer.param_groups)
        if groups < len(self._learning_rates()):
            raise HyperparameterTypeError(
                f"{type(self).__name__} gives the critic its own learning rate, so the policy's optimizer needs the "
                f"actor's and the critic's parameters in two groups (as sb3_pg's policies make it), got {groups}"
            )
        self._set_learning_rates()

    @classmethod
    def load(
        cls: type[SelfPolicyGradientAlgorithm],
        path: str | os.PathLike | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfPolicyGradientAlgorithm:
        """SB3's ``load``, after checking that the file is a model saved by this algorithm (see SB3's docs)."""
        cls._check_saved_by(path, custom_objects)
        return super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)

    @classmethod
    def _check_saved_by(
        cls, path: str | os.PathLike | io.BufferedIOBase, custom_objects: dict[str, Any] | None
    ) -> None:
        """A file that is no model, or another algorithm's, is refused with one line naming what it is."""
        file = open_path(path, "r", verbose=0, suffix="zip")
        try:
            with zipfile.ZipFile(file) as archive:
                if "data" not in archive.namelist():
                    raise ValueError(f"{path} holds no saved model data: not a file saved by {cls.__name__}.save()")
                data = json_to_data(archive.read("data").decode(), custom_objects=custom_objects)
        except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is not a model file that {cls.__name__} can load ({error!r})") from None
        finally:
            if file is not path:
                file.close()
        saved_by = data.get("_saved_by")
        if saved_by is None:
            raise ValueError(
                f"{path} was saved by another library's algorithm (its policy is {data.get('policy_class')!r}), not "
                f"by sb3-pg's {cls.__name__}: load it with the class that saved it (e.g. stable_baselines3.A2C)"
            )
        if saved_by != cls._algorithm():
            raise ValueError(
                f"{path} was saved by {saved_by}, not by {cls.__name__}: load it with the class that saved it"
            )

    def _learning_rates(self) -> dict[str, float]:
        """The learning rate of each of the policy's parameter groups (the actor's first) at the current progress."""
        return {"learning_rate": self.lr_schedule(self._current_progress_remaining)}

    def _set_learning_rates(self) -> dict[str, float]:
        """Give each parameter group its learning rate; a group without a rate of its own is never stepped."""
        rates = self._learning_rates()
        for rate, group in zip(rates.values(), self.policy.optimizer.param_groups, strict=False):
            group["lr"] = rate
        return rates

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        # SB3's would give every group the actor's learning rate
        for name, rate in self._set_learning_rates().items():
            self.logger.record(f"train/{name}", rate)

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        # A batch of whole episodes overshoots total_timesteps: SB3's 1 - t/T then goes negative, and with an
        # unclamped schedule (the zoo's lin_*) the last update would run at a negative learning rate
        self._current_progress_remaining = max(0.0, 1.0 - float(num_timesteps) / float(total_timesteps))

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
        check_finite_observation(self._last_obs, "the environment returned")  # type: ignore[arg-type]
        rates = [f"{name}={rate:.3g}" for name, rate in self._learning_rates().items()]
        return RuntimeError(
            f"training diverged {what} ({', '.join(rates)}, max_grad_norm={self.max_grad_norm}). Lower the learning "
            "rate(s), clip the gradients (max_grad_norm) or normalise the rewards (VecNormalize)"
        )
