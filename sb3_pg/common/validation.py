"""
The checks, in one place: hyperparameters are refused at construction with an error that names them, and NaN or
inf from the env (or from a diverged policy) is refused before it is trained on or sent on. Anything SB3 accepts
passes: numbers of any numeric type (numpy's included), paths of any ``os.PathLike``; a bool is never taken for a
number, nor a number for a flag.
"""

import math
import numbers
import os
from typing import Any

import numpy as np
from stable_baselines3.common.type_aliases import Schedule


class HyperparameterError(Exception):
    """A hyperparameter out of its range or of the wrong type; the message names it."""


class HyperparameterValueError(HyperparameterError, ValueError):
    pass


class HyperparameterTypeError(HyperparameterError, TypeError):
    pass


class NonFiniteActionError(RuntimeError):
    """The policy's actions are NaN or inf: its weights diverged (the algorithms name the update)."""

    MESSAGE = "the policy gave non-finite actions (NaN or inf), which would go to the env"


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_real(
    name: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if not isinstance(value, numbers.Real) or _is_bool(value):
        raise HyperparameterTypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise HyperparameterValueError(f"{name} must be finite, got {value!r}")
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        left = "(" if low_open else "["
        bounds = f"in {left}{low:g}, {high:g}]" if high is not None else f"{'>' if low_open else '>='} {low:g}"
        raise HyperparameterValueError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """An integer of any integral type in ``[minimum, maximum]``."""
    if not isinstance(value, numbers.Integral) or _is_bool(value):
        raise HyperparameterTypeError(f"{name} must be an int, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if value < minimum else f"<= {maximum}"
        raise HyperparameterValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_optional_int(name: str, value: Any, maximum: int | None = None) -> int | None:
    """``None``, or an int in ``[1, maximum]``."""
    return None if value is None else check_int(name, value, maximum=maximum)


def check_bool(name: str, value: Any) -> bool:
    """A flag: ``True``/``False`` (numpy's too), never a number or a string."""
    if not _is_bool(value):
        raise HyperparameterTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise HyperparameterValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_learning_rate(name: str, value: Any) -> float | Schedule:
    """A learning rate, or a schedule whose start is one, must be a finite number >= 0 (0 freezes the weights)."""
    if callable(value):
        check_real(f"{name} (its initial value)", value(1.0), low=0.0)
        return value
    return check_real(name, value, low=0.0)


def check_common(
    env: Any, gamma: Any, ent_coef: Any, max_grad_norm: Any, stats_window_size: Any, verbose: Any, tensorboard_log: Any
) -> dict[str, Any]:
    """The parameters every sb3-pg algorithm shares with SB3's ``OnPolicyAlgorithm``, checked."""
    if env is not None and not isinstance(env, str) and not (hasattr(env, "reset") and hasattr(env, "step")):
        raise HyperparameterTypeError(
            f"env must be a Gymnasium env, a VecEnv or a registered env id (str), got {type(env).__name__} {env!r}"
        )
    if tensorboard_log is not None and not isinstance(tensorboard_log, (str, os.PathLike)):
        raise HyperparameterTypeError(
            f"tensorboard_log must be a folder (a str or a path) or None, got {tensorboard_log!r}"
        )
    return {
        "env": env,
        "gamma": check_real("gamma", gamma, low=0.0, high=1.0, low_open=True),
        "ent_coef": check_real("ent_coef", ent_coef, low=0.0),
        "max_grad_norm": None
        if max_grad_norm is None
        else check_real("max_grad_norm (None: no clipping)", max_grad_norm, low=0.0, low_open=True),
        "stats_window_size": check_int("stats_window_size", stats_window_size),
        "verbose": check_int("verbose", verbose, minimum=0),
        "tensorboard_log": tensorboard_log,
    }


def non_finite_part(observation: np.ndarray | dict[str, np.ndarray]) -> tuple[str | None, np.ndarray] | None:
    """The (key, array) of an observation, or of one of a Dict's, that holds a NaN or inf; ``None`` if none does."""
    for key, array in observation.items() if isinstance(observation, dict) else ((None, observation),):
        array = np.asarray(array)
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            return key, array
    return None


def check_finite_observation(observation: np.ndarray | dict[str, np.ndarray], source: str) -> None:
    """Refuse a NaN or inf observation, naming where it came from (and the Dict key)."""
    found = non_finite_part(observation)
    if found is not None:
        key, array = found
        where = f" (key {key!r})" if key is not None else ""
        raise ValueError(f"{source} a non-finite observation{where} (NaN or inf): refusing to use it: {array!r}")


def check_finite_step(observation: np.ndarray | dict[str, np.ndarray], reward: np.ndarray) -> None:
    """A NaN or inf from the env would silently poison every later update: stop instead, naming it."""
    check_finite_observation(observation, "the environment returned")
    if not np.isfinite(reward).all():
        raise ValueError("the environment returned a non-finite reward (NaN or inf): refusing to train on it")


def check_observation_shape(obs: np.ndarray | dict[str, np.ndarray], space: Any, n_envs: int, source: str) -> None:
    """The VecEnv's observations have the shape of its ``observation_space`` (a VecEnv may stack whatever it gets)."""
    if isinstance(obs, dict):
        for key, value in obs.items():
            check_observation_shape(value, space[key], n_envs, f"{source} (key {key!r})")
        return
    # Discrete observations come as (n_envs,) or (n_envs, 1) depending on the VecEnv
    expected = {(n_envs, *space.shape)} | ({(n_envs,), (n_envs, 1)} if not space.shape else set())
    if np.shape(obs) not in expected:
        raise ValueError(
            f"{source} returned observations of shape {np.shape(obs)[1:]}, but the env's observation_space "
            f"{space} has shape {space.shape}: make reset() and step() return observations of that shape"
        )
