"""
Hyperparameter checks, in one place. Each raises an error that names the parameter, so that a bad value is
refused at construction rather than failing (or silently misbehaving) deep inside training.

Numbers may be of any numeric type, numpy's included; a bool is never taken for a number, nor a number for a
flag.
"""

import math
import numbers
from typing import Any

import numpy as np
from stable_baselines3.common.type_aliases import Schedule


class HyperparameterError(Exception):
    """A hyperparameter out of its range or of the wrong type; the message names it."""


class HyperparameterValueError(HyperparameterError, ValueError):
    pass


class HyperparameterTypeError(HyperparameterError, TypeError):
    pass


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_real(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite real number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or _is_bool(value):
        raise HyperparameterTypeError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise HyperparameterValueError(f"{name} must be finite, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        left, right = "(" if low_open else "[", "]"
        bounds = (
            f"in {left}{low:g}, {high:g}{right}" if high is not None else (f"> {low:g}" if low_open else f">= {low:g}")
        )
        raise HyperparameterValueError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def check_int(
    name: str, value: Any, minimum: int = 1, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """An integer of any integral type in ``[minimum, maximum]``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or _is_bool(value):
        raise HyperparameterTypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise HyperparameterValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise HyperparameterValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


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
    if value is None:
        raise HyperparameterTypeError(f"{name} must be a float or a schedule, got None")
    return check_real(name, value, low=0.0)  # type: ignore[return-value]


def check_env(env: Any) -> Any:
    """An env SB3 can wrap: an env id, a VecEnv or an env with ``reset`` and ``step`` (``None`` for ``load()``)."""
    if env is not None and not isinstance(env, str) and not (hasattr(env, "reset") and hasattr(env, "step")):
        raise HyperparameterTypeError(
            f"env must be a Gymnasium env, a VecEnv or a registered env id (str), got {type(env).__name__} {env!r}"
        )
    return env


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


def check_common(
    gamma: Any,
    ent_coef: Any,
    max_grad_norm: Any,
    stats_window_size: Any,
    verbose: Any,
    tensorboard_log: Any,
) -> dict[str, Any]:
    """The parameters every sb3-pg algorithm shares with SB3's ``OnPolicyAlgorithm``, checked."""
    if tensorboard_log is not None and not isinstance(tensorboard_log, str):
        raise HyperparameterTypeError(f"tensorboard_log must be a folder name (str) or None, got {tensorboard_log!r}")
    return {
        "gamma": check_real("gamma", gamma, low=0.0, high=1.0, low_open=True),
        "ent_coef": check_real("ent_coef", ent_coef, low=0.0),
        "max_grad_norm": check_real("max_grad_norm (None: no clipping)", max_grad_norm, low=0.0, low_open=True)
        if max_grad_norm is not None
        else None,
        "stats_window_size": check_int("stats_window_size", stats_window_size),
        "verbose": check_int("verbose", verbose, minimum=0),
        "tensorboard_log": tensorboard_log,
    }
