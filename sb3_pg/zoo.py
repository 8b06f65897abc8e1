"""
RL Zoo integration.

Importing this module changes nothing. :func:`register` adds ``reinforce``, ``reinforce_baseline`` and
``onestep_ac`` to rl-zoo3's algorithm table (``rl_zoo3.utils.ALGOS``) and their optuna samplers and converters
(``rl_zoo3.hyperparams_opt``), next to the zoo's own ``a2c`` and ``ppo``, as the zoo's docs show for other
libraries: every zoo entry point run in the same process (train, tune with ``-optimize``, enjoy, record-video,
plots) then finds them.

:func:`main` is the zoo's command line with that done (``sb3-pg train|enjoy|record_video|plot_train|...`` or
``python -m sb3_pg ...``, same flags as ``python -m rl_zoo3.cli``). For ``train`` it defaults
``--conf-file`` to sb3-pg's ``hyperparams/<algo>.yml`` for our algorithms (and for a2c/ppo on the
environments that file covers, e.g. the v5 MuJoCo tasks), checks the environment and the yml entry up
front so that a mistake is one line, not a traceback, and makes wandb (``--track``) offline by default,
writing its runs under the log folder. While the zoo runs, a discount written in an entry's ``normalize`` is kept
(see :class:`ExperimentManager`).
"""

import argparse
import importlib
import inspect
import os
import pickle
import re
import runpy
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from unittest import mock

import gymnasium as gym
import numpy as np
import optuna
import yaml
from rl_zoo3 import exp_manager, hyperparams_opt
from rl_zoo3.utils import ALGOS
from torch import nn

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline
from sb3_pg.common.validation import HyperparameterError

HYPERPARAMS_DIR = Path(str(resources.files("sb3_pg.hyperparams")))  # the top-level hyperparams/ of the repository
SB3_PG_ALGOS = {"reinforce": REINFORCE, "reinforce_baseline": REINFORCEBaseline, "onestep_ac": OneStepAC}
# Keys of a zoo yml entry that the zoo consumes itself rather than passing to the algorithm
ZOO_KEYS = {
    "n_envs",
    "n_timesteps",
    "policy",
    "normalize",
    "monitor_kwargs",
    "env_kwargs",
    "frame_stack",
    "env_wrapper",
    "vec_env_wrapper",
    "callback",
}


POLICY_INIT_KEYS = ("log_std_init", "ortho_init")


def sample_policy_init(trial: optuna.Trial, n_actions: int) -> dict[str, Any]:
    """
    The initial policy: the Gaussian's log std (Box actions only: the zoo passes ``n_actions`` > 0 for them, 0
    otherwise, and a categorical policy has no std) and SB3's orthogonal initialisation (every layer, the action head
    scaled by 0.01: it shapes any policy). The zoo replaces an entry's ``policy_kwargs`` with the sampled ones, so
    without these a trial keeps SB3's std of 1 and a near-zero mean action, while our hand-set MuJoCo entries and the
    zoo's tuned MuJoCo PPO entries set them (log_std_init -1 and -2, ortho_init False).
    """
    log_std_init = {"log_std_init": trial.suggest_float("log_std_init", -3.0, 0.0)} if n_actions > 0 else {}
    return {**log_std_init, "ortho_init": trial.suggest_categorical("ortho_init", [False, True])}


def with_policy_init(convert: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A converter that also moves the sampled initial policy (:func:`sample_policy_init`) into ``policy_kwargs``."""

    def converted(params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        init = {key: params.pop(key) for key in POLICY_INIT_KEYS if key in params}
        hyperparams = convert(params)
        hyperparams["policy_kwargs"] = {**hyperparams.get("policy_kwargs", {}), **init}
        return hyperparams

    return converted


@with_policy_init
def _convert_common(params: dict[str, Any]) -> dict[str, Any]:
    """
    Sampled values (optuna's ``trial.params``, a copy: the decorator's) to constructor arguments, for the keys
    all three share.
    """
    params["gamma"] = 1 - params.pop("one_minus_gamma")
    net_arch = {"small": [64, 64], "medium": [256, 256]}[params.pop("net_arch")]
    activation_fn = {"tanh": nn.Tanh, "relu": nn.ReLU}[params.pop("activation_fn")]
    params["policy_kwargs"] = {"net_arch": {"pi": net_arch, "vf": net_arch}, "activation_fn": activation_fn}
    if "min_batch_steps" in params:
        params["n_episodes"] = None  # the batch is set in steps alone, whatever the entry's n_episodes
    return params


def _sample_common(trial: optuna.Trial, n_actions: int) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-4, 0.05, log=True),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.05, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium"]),
        "activation_fn": trial.suggest_categorical("activation_fn", ["tanh", "relu"]),
        **sample_policy_init(trial, n_actions),
    }


# The REINFORCE batch in env steps (whole episodes until at least this many), as A2C's n_steps: a trial's number
# of updates then does not depend on the task's episode length (in episodes, a HalfCheetah batch of 8 is 8000 steps,
# and a 250k-step trial made 31 updates)
BATCH_STEPS = [256, 512, 1024, 2048, 4096, 8192]


def sample_reinforce_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Optuna sampler for REINFORCE."""
    return _convert_common(
        {
            **_sample_common(trial, n_actions),
            "min_batch_steps": trial.suggest_categorical("min_batch_steps", BATCH_STEPS),
            "max_grad_norm": trial.suggest_float("max_grad_norm", 0.3, 5.0, log=True),
        }
    )


def sample_reinforce_baseline_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict
) -> dict[str, Any]:
    """Optuna sampler for REINFORCEBaseline."""
    return _convert_common(
        {
            **_sample_common(trial, n_actions),
            "min_batch_steps": trial.suggest_categorical("min_batch_steps", BATCH_STEPS),
            "max_grad_norm": trial.suggest_float("max_grad_norm", 0.3, 5.0, log=True),
            "critic_learning_rate": trial.suggest_float("critic_learning_rate", 1e-4, 3e-2, log=True),
            "n_critic_steps": trial.suggest_categorical("n_critic_steps", [1, 5, 10, 20]),
            "gae_lambda": trial.suggest_categorical("gae_lambda", [0.8, 0.9, 0.95, 0.98, 1.0]),
        }
    )


def sample_onestep_ac_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Optuna sampler for OneStepAC (no gradient clipping: see the class docstring)."""
    return _convert_common(
        {
            **_sample_common(trial, n_actions),
            "critic_learning_rate": trial.suggest_float("critic_learning_rate", 1e-4, 3e-2, log=True),
            "discount_state_weighting": trial.suggest_categorical("discount_state_weighting", [True, False]),
        }
    )


VEC_NORMALIZE_GAMMA = 0.99  # VecNormalize's default discount


def _given_normalize_kwargs(entry: dict[str, Any]) -> dict[str, Any]:
    """The VecNormalize arguments written in an entry's ``normalize`` ({} for ``True``), read as the zoo reads them."""
    normalize = entry.get("normalize")
    given = eval(normalize) if isinstance(normalize, str) else normalize
    return dict(given) if isinstance(given, dict) else {}


def normalize_kwargs(entry: dict[str, Any]) -> dict[str, Any] | None:
    """
    The ``VecNormalize`` arguments that the zoo builds for a yml entry (``None``: no normalisation), with the
    discount written out. The zoo takes it from the entry's ``gamma`` unless ``normalize`` gives one (see
    :class:`ExperimentManager`); in ``-optimize`` mode the entry is the base one, without the trial's
    sampled γ, so the trials normalise with the base entry's γ, by default VecNormalize's 0.99.
    """
    if not entry.get("normalize", False):
        return None
    kwargs = _given_normalize_kwargs(entry)
    if "gamma" not in kwargs and "gamma" in entry:
        kwargs["gamma"] = entry["gamma"]
    kwargs.setdefault("gamma", VEC_NORMALIZE_GAMMA)
    return kwargs


def hyperparams_path(algo: str) -> str:
    """
    sb3-pg's hyperparameter file for ``algo`` (ours; a2c and ppo on the tasks it covers), for the zoo's own scripts:
    ``rl_zoo3.train`` run in-process after :func:`register`, with ``--conf-file hyperparams_path("reinforce")``.
    """
    return str(HYPERPARAMS_DIR / f"{algo}.yml")


def register() -> None:
    """
    Add sb3-pg's algorithms to rl-zoo3's tables (idempotent). An entry already there is kept: a sampler wrapped after
    a first ``register()`` (a fixed parameter, a benchmark's search space) survives ``sb3-pg train``'s own call.
    """
    for name, algo in SB3_PG_ALGOS.items():
        ALGOS.setdefault(name, algo)
    samplers = {
        "reinforce": sample_reinforce_params,
        "reinforce_baseline": sample_reinforce_baseline_params,
        "onestep_ac": sample_onestep_ac_params,
    }
    for name, sampler in samplers.items():
        hyperparams_opt.HYPERPARAMS_SAMPLER.setdefault(name, sampler)
        hyperparams_opt.HYPERPARAMS_CONVERTER.setdefault(name, _convert_common)


class ExperimentManager(exp_manager.ExperimentManager):
    """The zoo's, in place of it while ``sb3-pg train`` runs (the zoo's train() makes one of its own)."""

    def _preprocess_normalization(self, hyperparams: dict[str, Any]) -> dict[str, Any]:
        """
        The zoo's, except that a discount given in ``normalize`` (``"dict(gamma=0.99)"``) is kept: the zoo would
        replace it with the algorithm's ``gamma``, so that an entry exported from a study could not normalise its
        rewards as the study's trials did.
        """
        explicit = _given_normalize_kwargs(hyperparams).get("gamma")
        hyperparams = super()._preprocess_normalization(hyperparams)
        if explicit is not None:
            self.normalize_kwargs["gamma"] = explicit
        return hyperparams

    @staticmethod
    def _preprocess_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
        """The zoo's, with its linear schedule (``lin_<initial value>``) for ``critic_learning_rate`` too."""
        preprocess = exp_manager.ExperimentManager._preprocess_schedules
        critic = hyperparams.get("critic_learning_rate")
        if isinstance(critic, str):
            hyperparams["critic_learning_rate"] = preprocess({"learning_rate": critic})["learning_rate"]
        return preprocess(hyperparams)


def _train_flags(args: list[str]) -> argparse.Namespace:
    """The zoo's train flags that sb3-pg reads (with the zoo's defaults), and its own ``--max-episode-steps``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("-conf", "--conf-file", default=None)
    parser.add_argument("-f", "--log-folder", default="logs")
    parser.add_argument("--track", action="store_true")
    parser.add_argument("-params", "--hyperparams", nargs="+", default=[])
    parser.add_argument("-n", "--n-timesteps", type=int, default=None)
    parser.add_argument("-i", "--trained-agent", default="")
    parser.add_argument("--eval-freq", type=int, default=25000)
    parser.add_argument("-optimize", "--optimize-hyperparameters", action="store_true")
    parser.add_argument("--env-kwargs", nargs="+", default=[])
    parser.add_argument("--max-episode-steps", type=int, default=None)
    parser.add_argument("--gym-packages", nargs="+", default=[])
    return parser.parse_known_args(args)[0]


def _add_to_dict_flag(args: list[str], names: tuple[str, ...], item: str) -> list[str]:
    """``args`` with ``item`` (NAME:VALUE) added to a zoo flag of such pairs (a second flag would replace the first)."""
    for index, arg in enumerate(args):
        if arg in names:
            return [*args[: index + 1], item, *args[index + 1 :]]
    return [*args, names[-1], item]


def _without_flag(args: list[str], name: str) -> list[str]:
    """``args`` without ``name VALUE`` (or ``name=VALUE``), a flag of sb3-pg's that the zoo does not know."""
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            kept.append(arg)
    return kept


def _given_params(params: list[str]) -> dict[str, Any]:
    """``-params NAME:VALUE ...`` evaluated as the zoo evaluates them, each mistake one line naming it."""
    from rl_zoo3 import utils

    given = {}
    for param in params:
        key, colon, value = param.partition(":")
        if not colon or not key:
            raise ValueError(f"-params {param!r}: write NAME:VALUE, e.g. -params learning_rate:0.001")
        try:
            given[key] = eval(value, vars(utils))  # the zoo's StoreDict evaluates them in rl_zoo3.utils
        except Exception as error:
            raise ValueError(
                f"-params {key}: {value!r} is not a Python value ({type(error).__name__}: {error}); "
                f'e.g. {key}:0.001, {key}:True or {key}:"dict(net_arch=[64, 64])"'
            ) from None
    return given


def _check_entry(algo: str, entry: dict[str, Any], where: str) -> None:
    """The keys the zoo reads before building the model: numbers YAML read as text, n_envs, policy and policy_kwargs."""
    for key, value in entry.items():
        if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+", value.strip()):
            raise ValueError(
                f"{where}: {key}: {value!r} is text, not a number (YAML reads an exponent without a decimal point "
                f"as text): write {value.strip().replace('e', '.0e', 1) if '.' not in value else value}"
            )
    n_envs = entry.get("n_envs", 1)
    if not isinstance(n_envs, int) or isinstance(n_envs, bool) or n_envs < 1:
        raise ValueError(f"{where}: n_envs must be an int >= 1, got {n_envs!r}")
    policy = entry.get("policy")
    aliases = getattr(ALGOS[algo], "policy_aliases", {})
    if isinstance(policy, str) and aliases and policy not in aliases:
        raise ValueError(f"{where}: policy must be one of {', '.join(aliases)}, got {policy!r}")
    policy_kwargs = entry.get("policy_kwargs", {})
    if isinstance(policy_kwargs, str):
        try:  # where the zoo evaluates it (th, nn, RMSpropTFLike, ...)
            policy_kwargs = eval(policy_kwargs, vars(exp_manager))
        except Exception as error:
            raise ValueError(f"{where}: policy_kwargs {policy_kwargs!r} is not a dict(...) ({error})") from None
    if not isinstance(policy_kwargs, dict):
        raise ValueError(f"{where}: policy_kwargs must be a dict, got {policy_kwargs!r}")
    if isinstance(policy, str) and policy in aliases:
        signature = inspect.signature(_policy_init(aliases[policy]))
        unknown = sorted(set(policy_kwargs) - set(signature.parameters) - {"share_features_extractor"})
        if unknown:
            raise ValueError(f"{where}: unknown policy_kwargs for {policy}: {', '.join(unknown)}")
    if policy is None:
        raise ValueError(f"{where}: no policy; add policy: MlpPolicy (or CnnPolicy, MultiInputPolicy) to it")


def _policy_init(policy_class: type) -> Callable[..., Any]:
    """The first ``__init__`` in the policy's classes that names its parameters (ours take ``*args, **kwargs``)."""
    for klass in policy_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None and not any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(init).parameters.values()
        ):
            return init
    return policy_class.__init__


def check_train_args(args: list[str]) -> list[str]:
    """
    Fill in sb3-pg's hyperparameter file and check the environment, its yml entry and ``-params``.

    :return: the arguments for the zoo's ``train``
    :raises ValueError: with a one-line message naming what is wrong
    """
    register()
    flags = _train_flags(args)
    if flags.n_timesteps is not None and flags.n_timesteps <= 0:
        raise ValueError(f"-n {flags.n_timesteps}: the number of env steps must be >= 1 (leave -n out for the yml's)")
    if flags.algo not in ALGOS:
        raise ValueError(f"unknown --algo {flags.algo!r}: choose one of {', '.join(sorted(ALGOS))}")
    import rl_zoo3.import_envs  # noqa: F401  (registers the zoo's extra environments)

    for package in flags.gym_packages:  # as the zoo imports them, to register their environments
        importlib.import_module(package)
    try:
        spec = gym.spec(flags.env)
    except gym.error.Error as error:  # gymnasium's own words: "did you mean", "deprecated, use -v3"
        raise ValueError(f"unknown --env {flags.env!r}: {error}") from None
    args = _bound_episodes(args, flags, spec.max_episode_steps)
    if flags.trained_agent and not (Path(flags.trained_agent).is_file() and flags.trained_agent.endswith(".zip")):
        raise ValueError(f"-i {flags.trained_agent}: no such model file (a .zip that sb3-pg train or save() wrote)")

    conf_file = flags.conf_file
    if conf_file is None:
        ours = HYPERPARAMS_DIR / f"{flags.algo}.yml"
        if flags.algo not in SB3_PG_ALGOS and not (ours.is_file() and flags.env in _load_yml(ours)):
            _warn_without_evaluation(flags, None)
            return args  # the zoo's own hyperparameters
        conf_file = str(ours)
        args = [*args, "--conf-file", conf_file]
    elif not conf_file.endswith((".yml", ".yaml")):
        return args  # a python config module: left to the zoo

    entries = _load_yml(Path(conf_file))
    if flags.env not in entries and "default" not in entries:
        raise ValueError(f"no hyperparameters for {flags.algo} on {flags.env} in {conf_file} (and no 'default' entry)")
    name = flags.env if flags.env in entries else "default"
    entry = entries[name]
    if not isinstance(entry, dict):
        raise ValueError(f"{conf_file}, entry {name}: must be a mapping of hyperparameters, got {entry!r}")
    given = _given_params(flags.hyperparams)
    _check_entry(flags.algo, {**entry, **given}, f"{conf_file}, entry {name}, or -params")
    keys = set(entry) | set(given)
    accepted = set(inspect.signature(ALGOS[flags.algo].__init__).parameters) - {"self", "env"}
    unknown = sorted(keys - accepted - ZOO_KEYS)
    if unknown:
        names = ", ".join(unknown)
        raise ValueError(
            f"{conf_file}, entry {flags.env}, or -params: unknown hyperparameter(s) for {flags.algo}: {names}"
        )
    if "n_timesteps" not in entry and "n_timesteps" not in given:
        if flags.n_timesteps is None:
            raise ValueError(f"{conf_file}, entry {name}: no n_timesteps; add n_timesteps: N to it, or pass -n N")
        args = _add_to_dict_flag(args, ("-params", "--hyperparams"), f"n_timesteps:{flags.n_timesteps}")
    _warn_without_evaluation(flags, entry.get("n_timesteps"))
    return args


# The time limit that `sb3-pg train` gives an env whose spec has none
DEFAULT_MAX_EPISODE_STEPS = 1000


def _bound_episodes(args: list[str], flags: argparse.Namespace, spec_limit: int | None) -> list[str]:
    """
    A task without a time limit would train (on complete episodes) and evaluate (a deterministic policy may never
    reach the goal) for ever: give it one, said in one line, through gymnasium's ``make(max_episode_steps=...)``.
    """
    args = _without_flag(args, "--max-episode-steps")
    given_in_kwargs = any(item.startswith("max_episode_steps:") for item in flags.env_kwargs)
    if given_in_kwargs or (spec_limit is not None and flags.max_episode_steps is None):
        return args
    limit = flags.max_episode_steps or DEFAULT_MAX_EPISODE_STEPS
    if flags.max_episode_steps is None:
        print(
            f"sb3-pg train: {flags.env} has no time limit: its training and evaluation episodes end after {limit} "
            "steps (a TimeLimit; set another with --max-episode-steps N)"
        )
    return _add_to_dict_flag(args, ("--env-kwargs",), f"max_episode_steps:{limit}")


def _warn_without_evaluation(flags: argparse.Namespace, entry_timesteps: Any) -> None:
    """The zoo evaluates every --eval-freq steps: a shorter run writes no evaluation, and its plots have no data."""
    n_timesteps = flags.n_timesteps or entry_timesteps
    if flags.optimize_hyperparameters or not isinstance(n_timesteps, (int, float)) or flags.eval_freq <= 0:
        return
    if n_timesteps < flags.eval_freq:
        print(
            f"sb3-pg train: warning: {int(n_timesteps)} steps is less than --eval-freq {flags.eval_freq}: no "
            "evaluation will be written (the plots need them); lower --eval-freq"
        )


def _load_yml(path: Path) -> dict[str, Any]:
    try:
        with open(path) as file:
            entries = yaml.safe_load(file) or {}
    except OSError as error:
        raise ValueError(f"--conf-file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ValueError(f"--conf-file {path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(entries, dict):
        raise ValueError(f"--conf-file {path} must map env ids to entries, got {type(entries).__name__}")
    return entries


def check_plot_input(args: list[str]) -> None:
    """
    ``plot_from_file`` needs two runs or more per curve: the zoo's ``all_plots`` keeps only the runs as long as the
    longest, and a curve left with one run makes ``plot_from_file`` fail with "min() arg is an empty sequence".

    :raises ValueError: naming the curves and what to do
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-i", "--input")
    parser.add_argument("-skip", "--skip-envs", dest="skip", nargs="+", default=[])
    for flag in ("--keep-envs", "--skip-keys", "--keep-keys"):
        parser.add_argument(flag, nargs="+", default=[])
    parser.add_argument("--merge", nargs="+", default=[])
    flags = parser.parse_known_args(args)[0]
    if flags.input is None:
        raise ValueError("-i: give the .pkl file that all_plots wrote (all_plots ... -o NAME writes NAME.pkl)")

    def load(name: str) -> dict[str, dict[str, Any]]:
        try:
            with open(name, "rb") as file:
                loaded = pickle.load(file)
        except OSError as error:
            raise ValueError(f"{name}: {error.strerror}") from None
        loaded.pop("results_table", None)
        return loaded

    results = load(flags.input if flags.input.endswith(".pkl") else f"{flags.input}.pkl")
    for name in flags.merge:  # as plot_from_file merges: the first file's envs, the others' curves added
        other = load(name)
        for env in results:
            results[env].update(other.get(env, {}))
    envs = [env for env in results if env not in flags.skip and (not flags.keep_envs or env in flags.keep_envs)]
    keys = {key for env in envs for key in results[env] if key not in flags.skip_keys}
    keys = {key for key in keys if not flags.keep_keys or key in flags.keep_keys}
    # all_plots stores a single run's last evaluation as a scalar, which plot_from_file skips
    single = sorted(
        key for key in keys if all(np.ndim(results[env][key]["last_evals"]) == 0 for env in envs if key in results[env])
    )
    if single:
        raise ValueError(
            f"-i {flags.input}: {', '.join(single)} kept a single run (all_plots keeps only the runs as long as the "
            f"longest, so runs of different lengths leave one): train >= 2 runs to the same budget, or leave "
            f"{'it' if len(single) == 1 else 'them'} out with --skip-keys {' '.join(single)}"
        )


SCRIPTS = {
    "train": "train an agent; tune its hyperparameters with -optimize (optuna)",
    "enjoy": "run a trained agent (default: the latest run under logs/)",
    "record_video": "record a video of a trained agent",
    "plot_train": "plot the training episodes of runs",
    "all_plots": "collect the evaluations of runs (-o NAME writes NAME.pkl) and plot them",
    "plot_from_file": "plot the file all_plots wrote, with rliable's statistics",
}
USAGE = "\n".join(
    [
        "usage: sb3-pg COMMAND [rl-zoo3 flags]    (sb3-pg COMMAND --help for a command's flags)",
        "",
        "The RL Zoo's command line with sb3-pg's algorithms (reinforce, reinforce_baseline, onestep_ac) next to the",
        "zoo's own (a2c, ppo, ...), and sb3-pg's hyperparameter files. Commands:",
        *(f"  {name:<15}{text}" for name, text in SCRIPTS.items()),
        "",
        "e.g. sb3-pg train --algo reinforce --env CartPole-v1",
    ]
)


def _folder_with_runs(script: str, args: list[str]) -> list[str]:
    """
    ``enjoy`` and ``record_video`` look where ``train`` writes (logs/, not the zoo's rl-trained-agents/), and a
    missing run is one line, not a download attempt from the Hugging Face hub.
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("-f", "--folder", default=None)
    parser.add_argument("--exp-id", type=int, default=0)
    flags = parser.parse_known_args(args)[0]
    if flags.folder is None:
        flags.folder = "logs"
        args = [*args, "-f", flags.folder]
    # A run holds a model unless it was a tuning run (-optimize), which saves none
    runs = {
        int(run.name.rpartition("_")[2]): run
        for run in (Path(flags.folder) / flags.algo).glob(f"{flags.env.replace('/', '-')}_*")  # the zoo's folder name
        if run.name.rpartition("_")[2].isdigit() and list(run.glob("*.zip"))
    }
    if flags.exp_id > 0:
        runs = {exp_id: run for exp_id, run in runs.items() if exp_id == flags.exp_id}
    if not runs and flags.exp_id >= 0:
        raise ValueError(
            f"no trained model of {flags.algo} on {flags.env} in {Path(flags.folder) / flags.algo} "
            f"(exp id {flags.exp_id or 'latest'}): train one with sb3-pg train --algo {flags.algo} --env {flags.env} "
            f"-f {flags.folder}, or give -f FOLDER"
        )
    if flags.exp_id == 0 and runs:  # the zoo's "latest" is the latest folder, a tuning run's included
        args = [*args, "--exp-id", str(max(runs))]
    return args


def check_all_plots_input(args: list[str]) -> None:
    """Every algorithm and env asked for has runs with evaluations: all_plots would print 0.0 +/- 0.0 and exit 0."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-a", "--algos", nargs="+", default=[])
    parser.add_argument("-e", "--env", nargs="+", default=[])
    parser.add_argument("-f", "--exp-folders", nargs="+", default=[])
    flags = parser.parse_known_args(args)[0]
    if not (flags.algos and flags.env and flags.exp_folders):
        raise ValueError("give -a ALGO [ALGO ...], -e ENV [ENV ...] and -f FOLDER [FOLDER ...] (where train wrote)")
    empty = [
        f"{algo} on {env}"
        for algo in flags.algos
        for env in flags.env
        if not any(
            next((Path(folder) / algo).glob(f"{env.replace('/', '-')}_*/evaluations.npz"), None)
            for folder in flags.exp_folders
        )
    ]
    if empty:
        raise ValueError(
            f"no evaluations of {', '.join(empty)} in {' '.join(flags.exp_folders)}: train with an --eval-freq below "
            "-n, which evaluates and writes evaluations.npz"
        )


def _save_figures_when_headless(script: str) -> None:
    """
    Without a display, matplotlib's show() draws nothing: write each figure to a PNG file instead, and say where.
    A figure with nothing drawn in it is an error rather than an empty picture.
    """
    import matplotlib
    import matplotlib.pyplot as plt

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        return

    def show(*_: Any, **__: Any) -> None:
        for number in plt.get_fignums():
            figure = plt.figure(number)
            if not any(axes.has_data() for axes in figure.axes):
                sys.exit(
                    f"sb3-pg {script}: error: nothing to plot: the runs given hold no data for this figure (plot_train "
                    "smooths over -w episodes, 100 by default: shorter runs draw nothing)"
                )
            path = f"{script}_{number}.png"
            figure.savefig(path, bbox_inches="tight")
            print(f"sb3-pg {script}: no display: figure written to {path}")
        plt.close("all")

    plt.show = show


def main(argv: list[str] | None = None) -> None:
    """``sb3-pg SCRIPT [zoo flags]``: the RL Zoo's command line with sb3-pg's algorithms registered."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["--help"], ["-h"]):
        print(USAGE)
        return
    if argv[:1] == ["--version"]:
        from importlib.metadata import version

        import rl_zoo3
        import stable_baselines3

        versions = f"stable-baselines3 {stable_baselines3.__version__}, rl-zoo3 {rl_zoo3.__version__}"
        print(f"sb3-pg {version('sb3-pg')} ({versions})")
        return
    if not argv or argv[0] not in SCRIPTS:
        given = f"unknown command {argv[0]!r}\n" if argv else ""
        sys.exit(f"{given}{USAGE}")
    script, args = argv[0], argv[1:]
    help_asked = any(arg in ("-h", "--help") for arg in args)
    try:
        if script == "train" and not help_asked:
            args = check_train_args(args)
        elif script in ("enjoy", "record_video") and not help_asked:
            args = _folder_with_runs(script, args)
        elif script == "plot_from_file" and not help_asked:
            check_plot_input(args)
        elif script == "all_plots" and not help_asked:
            check_all_plots_input(args)
    except ValueError as error:
        sys.exit(f"sb3-pg {script}: error: {error}")
    flags = _train_flags(args)
    if script == "train" and flags.track:
        # No login, no network: runs are written under the log folder and can be synced later
        os.environ.setdefault("WANDB_MODE", "offline")
        os.makedirs(flags.log_folder, exist_ok=True)
        os.environ.setdefault("WANDB_DIR", os.path.abspath(flags.log_folder))
    if script in ("train", "enjoy") and not any(arg.split("=")[0] == "--num-threads" for arg in args):
        # torch's default intra-op threads spin on small networks: one thread ran 2-15x the env steps per second
        # of the default (2 threads) on a 2-core machine with other work (benchmarks/results/threads.json)
        args = [*args, "--num-threads", "1"]
    if script.startswith(("plot", "all_plots")):
        _save_figures_when_headless(script)
    register()
    try:
        if script == "record_video":  # a plain script in rl-zoo3, not one of its cli's commands
            if not os.environ.get("DISPLAY"):
                os.environ.setdefault("MUJOCO_GL", "egl")  # MuJoCo's offscreen rendering without a display
            sys.argv = ["sb3-pg record_video", *args]
            runpy.run_module("rl_zoo3.record_video", run_name="__main__")
            return
        from rl_zoo3 import cli

        sys.argv = ["sb3-pg", script, *args]
        with mock.patch("rl_zoo3.train.ExperimentManager", ExperimentManager):
            cli.main()
    except HyperparameterError as error:  # a bad value from the yml or -params, found when the zoo builds the model
        sys.exit(f"sb3-pg {script}: error: {error}")
    except ValueError as error:  # -i: a file of another algorithm, or of another env's spaces
        if script != "train" or not flags.trained_agent:
            raise
        sys.exit(f"sb3-pg train: error: -i {flags.trained_agent}: {' '.join(str(error).split())}")
    except AssertionError as error:  # the zoo's checks of what enjoy and the plots are given (a missing run folder)
        if script == "train" or not str(error):
            raise
        sys.exit(f"sb3-pg {script}: error: {error}")
    except Exception as error:  # MuJoCo's rendering without a usable OpenGL
        if type(error).__name__ != "FatalError" or script != "record_video":
            raise
        sys.exit(
            f"sb3-pg record_video: error: MuJoCo could not render ({error}): set MUJOCO_GL=egl, or osmesa on a "
            "machine without a GPU, and install that library"
        )
