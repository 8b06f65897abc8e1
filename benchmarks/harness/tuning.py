"""
Tuning workers of one optuna study on a shared storage, on Ray, and the export of its best trial as a yml
entry (``zoo_runs.py tune`` and ``export``).
"""

import argparse
import contextlib
import io
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable
from typing import Any

import yaml

from benchmarks.harness.runner import git_commit, start_ray


def a2c_space() -> tuple[Callable, Callable]:
    """
    The comparison table's tuned A2C, as (sampler, converter): the zoo's A2C sampler plus the initial policy (log
    std, orthogonal init) that sb3-pg's samplers draw, so that every tuned row searches the same policy dimensions.
    Only the benchmarks use it: ``sb3-pg train --algo a2c -optimize`` keeps the zoo's space.
    """
    from rl_zoo3 import hyperparams_opt

    from sb3_pg.zoo import sample_policy_init, with_policy_init

    def sample_a2c_params(trial, n_actions: int, n_envs: int, additional_args: dict) -> dict:  # type: ignore[no-untyped-def]
        params = hyperparams_opt.sample_a2c_params(trial, n_actions, n_envs, additional_args)
        params["policy_kwargs"].update(sample_policy_init(trial, n_actions))
        return params

    return sample_a2c_params, with_policy_init(hyperparams_opt.convert_onpolicy_params)


def register_a2c_space() -> None:
    """:func:`a2c_space` in the zoo's tables, for the zoo's optimisation in a tuning worker's own process."""
    from rl_zoo3 import hyperparams_opt

    hyperparams_opt.HYPERPARAMS_SAMPLER["a2c"], hyperparams_opt.HYPERPARAMS_CONVERTER["a2c"] = a2c_space()


class PartlyFixedTrial:
    """
    An optuna trial whose parameters named in ``fixed`` are not searched: their ``suggest_*`` returns the fixed
    value and records nothing, so the sampler models only the others (``used`` collects the names it asked for).
    """

    def __init__(self, trial, fixed: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
        self._trial, self._fixed, self.used = trial, fixed, set()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._trial, name)
        if not name.startswith("suggest_"):
            return attribute

        def suggest(param: str, *args: Any, **kwargs: Any) -> Any:
            if param not in self._fixed:
                return attribute(param, *args, **kwargs)
            self.used.add(param)
            return self._fixed[param]

        return suggest


def fix_parameters(algo: str, fixed: dict[str, Any]) -> None:
    """Replace the zoo's sampler for ``algo`` by one that draws every parameter but those in ``fixed``."""
    from rl_zoo3 import hyperparams_opt

    if not fixed:
        return
    sample = hyperparams_opt.HYPERPARAMS_SAMPLER[algo]

    def sample_partly(trial, n_actions: int, n_envs: int, additional_args: dict) -> dict:  # type: ignore[no-untyped-def]
        proxy = PartlyFixedTrial(trial, fixed)
        params = sample(proxy, n_actions, n_envs, additional_args)
        unknown = sorted(set(fixed) - proxy.used)
        if unknown:
            raise ValueError(f"--fixed {', '.join(unknown)}: the {algo} search space draws no such parameter")
        return params

    hyperparams_opt.HYPERPARAMS_SAMPLER[algo] = sample_partly


def parse_fixed(items: list[str]) -> dict[str, Any]:
    """``--fixed NAME=VALUE`` items (YAML values: 1.0, true, tanh) as a dict."""
    if any("=" not in item for item in items):
        raise ValueError("--fixed takes NAME=VALUE, e.g. --fixed gae_lambda=1.0")
    return {name: yaml.safe_load(value) for name, value in (item.split("=", 1) for item in items)}


# The selection rules a study can run (benchmarks/README.md, "Selecting for the whole run"):
# - "last-evaluation": the zoo's. A trial is one unseeded run of the budget, scored by its last evaluation; the
#   pruner sees each evaluation.
# - "whole-run": a trial trains WHOLE_RUN_SEEDS runs in turn with the same sampled settings, each for the budget; its
#   score is the mean over the runs of the mean return of each run's second half of evaluations; the pruner sees the
#   mean of the trial's evaluations so far; and the space also draws the learning rates' schedule (constant, or the
#   zoo's linear decay to 0).
RULES = ("last-evaluation", "whole-run")
WHOLE_RUN_SEEDS = 2
LEARNING_RATES = ("learning_rate", "critic_learning_rate")


def second_half_score(runs: list[list[float]]) -> float:
    """The whole-run score: the mean over runs of the mean of each run's second half of evaluations."""
    return float(sum(sum(run[len(run) // 2 :]) / len(run[len(run) // 2 :]) for run in runs) / len(runs))


def whole_run_callback(runs: list[list[float]], budget: int) -> type:
    """
    The zoo's ``TrialEvalCallback`` for the whole-run rule: each evaluation is kept in the trial's current run (the
    last list of ``runs``), and the pruner is given the mean of all the trial's evaluations so far. A run stops at
    its first evaluation past ``budget`` env steps (where a batch of whole episodes carries it), unscored: it would
    credit a large batch with steps that the other trials did not get.
    """
    from rl_zoo3.callbacks import TrialEvalCallback
    from stable_baselines3.common.callbacks import EvalCallback

    class WholeRunEvalCallback(TrialEvalCallback):
        def _on_step(self) -> bool:
            if self.eval_freq > 0 and self.n_calls % self.eval_freq == 0:
                if self.num_timesteps > budget:
                    return False
                EvalCallback._on_step(self)  # the evaluation alone, not the zoo's report of it
                runs[-1].append(float(self.last_mean_reward))
                seen = [value for run in runs for value in run]
                self.eval_idx = len(seen)
                self.trial.report(sum(seen) / len(seen), self.eval_idx)
                if self.trial.should_prune():
                    self.is_pruned = True
                    return False
            return True

    return WholeRunEvalCallback


def whole_run_objective(objective: Callable) -> Callable:
    """The zoo's ``ExperimentManager.objective`` under the whole-run rule (optuna gives each repeated suggest_* of a
    trial its first value, so every run of the trial has the same settings)."""
    import optuna
    from rl_zoo3 import exp_manager

    def objective_over_runs(manager, trial) -> float:  # type: ignore[no-untyped-def]
        runs: list[list[float]] = []
        zoo_callback, seed = exp_manager.TrialEvalCallback, manager.seed
        try:
            exp_manager.TrialEvalCallback = whole_run_callback(runs, manager.n_timesteps)
            for index in range(WHOLE_RUN_SEEDS):
                runs.append([])
                manager.seed = seed + index  # the envs' seeds (the zoo leaves the model unseeded in a trial)
                objective(manager, trial)  # raises TrialPruned when the pruner stops it
        finally:
            exp_manager.TrialEvalCallback, manager.seed = zoo_callback, seed
        trial.set_user_attr("evaluations", runs)
        if not all(runs):  # a batch larger than the budget: no evaluation within it to score
            raise optuna.TrialPruned(f"a run has no evaluation within its {manager.n_timesteps} steps")
        return second_half_score(runs)

    return objective_over_runs


def with_lr_schedule(sample: Callable) -> Callable:
    """A sampler that also draws the schedule of the learning rates: constant, or linear decay to 0."""
    from rl_zoo3.utils import linear_schedule

    def sample_with_schedule(trial, n_actions: int, n_envs: int, additional_args: dict) -> dict:  # type: ignore[no-untyped-def]
        params = sample(trial, n_actions, n_envs, additional_args)
        if trial.suggest_categorical("lr_schedule", ["constant", "linear"]) == "linear":
            params.update({key: linear_schedule(params[key]) for key in LEARNING_RATES if key in params})
        return params

    return sample_with_schedule


def convert_lr_schedule(convert: Callable) -> Callable:
    """A converter of trial parameters that writes a drawn linear schedule as the zoo's ``lin_<initial value>``."""

    def converted(params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        schedule = params.pop("lr_schedule", "constant")
        hyperparams = convert(params)
        if schedule == "linear":
            hyperparams.update({key: f"lin_{hyperparams[key]!r}" for key in LEARNING_RATES if key in hyperparams})
        return hyperparams

    return converted


def apply_rule(algo: str, rule: str) -> None:
    """Make this worker process's zoo run ``rule`` (:data:`RULES`)."""
    from rl_zoo3 import hyperparams_opt

    import sb3_pg.zoo

    if rule == "whole-run":
        hyperparams_opt.HYPERPARAMS_SAMPLER[algo] = with_lr_schedule(hyperparams_opt.HYPERPARAMS_SAMPLER[algo])
        manager = sb3_pg.zoo.ExperimentManager
        manager.objective = whole_run_objective(manager.objective)  # type: ignore[method-assign]


def tune_worker(
    train_args: list[str], repository: str | None, algo: str, fixed: dict[str, Any], rule: str = "last-evaluation"
) -> None:
    """One tuning worker, as a Ray task: the zoo's optuna optimisation (``sb3-pg train -optimize``), shared study."""
    from sb3_pg.zoo import main as zoo
    from sb3_pg.zoo import register

    register()  # sb3-pg's algorithms and samplers in the zoo's tables, before they are wrapped below
    register_a2c_space()
    apply_rule(algo, rule)
    fix_parameters(algo, fixed)
    if repository is not None:
        os.chdir(repository)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        try:
            zoo(["train", *train_args, "-f", folder])
        except SystemExit as error:
            raise RuntimeError(f"sb3-pg train -optimize exited: {error}") from None


def with_driver(storage: str) -> str:
    """
    ``postgresql://`` with the driver named: psycopg 3, the one the benchmarks extra installs (SQLAlchemy 2.0,
    which Python 3.10 resolves to, would otherwise look for psycopg2).
    """
    return (
        "postgresql+psycopg://" + storage.removeprefix("postgresql://")
        if storage.startswith("postgresql://")
        else storage
    )


def optuna_storage(storage: str):  # type: ignore[no-untyped-def]
    import optuna

    if storage.endswith(".log"):  # the zoo's convention: a journal file
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    return storage


def open_study(storage: str, study_name: str):  # type: ignore[no-untyped-def]
    import optuna

    return optuna.load_study(storage=optuna_storage(storage), study_name=study_name)


def create_study(  # type: ignore[no-untyped-def]
    storage: str, study_name: str, fixed: dict[str, Any], rule: str = "last-evaluation"
):
    """
    The study, created here before any worker starts (two workers creating a new SQLite database together race on
    its tables), with the fixed parameters and the selection rule stored in it: a study resumed with others is
    refused (a study from before the rules were named ran the zoo's, "last-evaluation").
    """
    import optuna

    try:  # an existing study is only read: creating it again, or setting what it holds, appends to its journal
        study = open_study(storage, study_name)
    except KeyError:
        study = optuna.create_study(storage=optuna_storage(storage), study_name=study_name, direction="maximize")
    stored = study.user_attrs.get("fixed", {}) if study.trials else fixed
    if stored != fixed:
        raise ValueError(f"study {study_name} was run with --fixed {stored}, not {fixed}: give the same or a new study")
    stored_rule = study.user_attrs.get("rule", "last-evaluation") if study.trials else rule
    if stored_rule != rule:
        raise ValueError(
            f"study {study_name} was run with --rule {stored_rule}, not {rule}: give the same or a new study"
        )
    if study.user_attrs.get("fixed") != fixed or study.user_attrs.get("rule") != rule:
        study.set_user_attr("fixed", fixed)
        study.set_user_attr("rule", rule)
    return study


def finished_trials(study) -> list:  # type: ignore[no-untyped-def]
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def fresh_seeds(study, first: int, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """
    ``count`` sampler seeds that none of the study's workers had, from ``first`` on, recorded in the study. A
    resumed study seeded as before would replay its first trials: the sampler's draws depend on its seed only
    until TPE leaves its random start-up trials.
    """
    used = study.user_attrs.get("sampler_seeds", [])
    start = max(first, max(used, default=first - 1) + 1)
    seeds = list(range(start, start + count))
    study.set_user_attr("sampler_seeds", [*used, *seeds])
    return seeds


def study_table(storages: list[str]) -> str:
    """
    One markdown row per study of each storage: its rule, trials by state, the distinct settings its finished
    trials ran (fewer than the trials where a trial replayed another), its best, and its cost: minutes per finished
    trial and the hours of all its trials (column "hours"), failed ones included (one worker's wall time each).
    """
    import optuna
    from optuna.trial import TrialState

    rows = [
        "| study | rule | complete / pruned / failed | settings | best (trial) | min per finished trial | hours |",
        "|---|---|---|---|---|---|---|",
    ]

    def minutes(trial) -> float:  # type: ignore[no-untyped-def]
        return (trial.datetime_complete - trial.datetime_start).total_seconds() / 60

    for storage in storages:
        for name in optuna.get_all_study_names(optuna_storage(storage)):
            study = open_study(storage, name)
            ended = [trial for trial in study.trials if trial.datetime_complete is not None]
            finished = finished_trials(study)
            count = Counter(trial.state for trial in ended)
            states = " / ".join(
                str(count[state]) for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
            )
            settings = len({json.dumps(trial.params, sort_keys=True) for trial in finished})
            best = f"{study.best_value:.1f} ({study.best_trial.number})" if count[TrialState.COMPLETE] else "-"
            per_trial = sum(map(minutes, finished)) / max(len(finished), 1)
            rows.append(
                f"| {name} | {study.user_attrs.get('rule', 'last-evaluation')} | {states} | {settings} | {best} | "
                f"{per_trial:.1f} | {sum(map(minutes, ended)) / 60:.2f} |"
            )
    return "\n".join(rows) + "\n"


def masked(url: str) -> str:
    """A storage URL without its password, to be written next to the results."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def tune(args: argparse.Namespace) -> bool:
    """
    ``workers`` tuning workers of one optuna study as Ray tasks, sharing ``n_trials`` between them (each its own
    sampler seed, one that no earlier worker of the study had, so that no two draw the same trials); the study's
    definition, the budget every method gets, is written to RESULTS/<study>.json first, and its seeds as they are
    drawn. Trials lost with a dead worker are run again by a further round.
    The study exists already (:func:`create_study`, which checks its fixed parameters). A finished study is left
    as it is, its definition too, whose commit is that of the last round that ran trials.
    """
    import ray

    study = open_study(args.storage, args.study_name)
    if len(finished_trials(study)) >= args.n_trials:
        return report_study(study, args.n_trials)
    definition = {
        "algo": args.algo,
        "env": args.env,
        "study_name": args.study_name,
        "storage": masked(args.storage),
        "n_trials": args.n_trials,
        "n_timesteps": args.n_timesteps,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "n_startup_trials": args.n_startup_trials,
        "n_evaluations": args.n_evaluations,
        "eval_episodes": args.eval_episodes,
        "workers": args.workers,
        "seeds": study.user_attrs.get("sampler_seeds", []),
        "fixed": args.fixed,
        "rule": args.rule,
        "commit": git_commit(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    written = args.results / f"{args.study_name}.json"
    written.write_text(json.dumps(definition, indent=1) + "\n")
    common = [
        "--algo", args.algo, "--env", args.env, "-optimize", "--n-jobs", "1", "--num-threads", "1",
        "--storage", args.storage, "--study-name", args.study_name, "-n", str(args.n_timesteps),
        "--sampler", args.sampler, "--pruner", args.pruner, "--n-startup-trials", str(args.n_startup_trials),
        "--n-evaluations", str(args.n_evaluations), "--eval-episodes", str(args.eval_episodes), "--no-optim-plots",
    ]  # fmt: skip
    repository = start_ray(args.address, args.workers)
    task = ray.remote(num_cpus=1, max_calls=1, max_retries=0)(tune_worker)
    try:
        for round_ in range(3):
            study = open_study(args.storage, args.study_name)
            left = args.n_trials - len(finished_trials(study))
            if left <= 0:
                break
            shares = [left // args.workers + (worker < left % args.workers) for worker in range(args.workers)]
            shares = [share for share in shares if share]
            seeds = fresh_seeds(study, args.seed, len(shares))
            definition["seeds"] = study.user_attrs["sampler_seeds"]
            written.write_text(json.dumps(definition, indent=1) + "\n")
            tasks = [
                task.remote(
                    [*common, "--n-trials", str(share), "--seed", str(seed)],
                    repository,
                    args.algo,
                    args.fixed,
                    args.rule,
                )
                for seed, share in zip(seeds, shares, strict=True)
            ]
            print(f"round {round_}: {len(tasks)} workers for the {left} trials left", flush=True)
            for result in tasks:
                try:
                    ray.get(result)
                except ray.exceptions.RayError as error:
                    print(f"a worker failed: {str(error).strip().splitlines()[-1]}", flush=True)
    finally:
        ray.shutdown()
    return report_study(open_study(args.storage, args.study_name), args.n_trials)


def report_study(study, n_trials: int) -> bool:  # type: ignore[no-untyped-def]
    """Prints how many of the ``n_trials`` asked for have finished, and the best; returns whether all have."""
    trials = finished_trials(study)
    best = study.best_trial
    print(f"{len(trials)} of {n_trials} trials finished; best value {best.value:.1f} (trial {best.number})")
    return len(trials) >= n_trials


def export(args: argparse.Namespace) -> str:
    """The study's best trial as an entry of a zoo hyperparameter file, citing the study."""
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER

    import sb3_pg.zoo

    sb3_pg.zoo.register()
    study = open_study(args.storage, args.study_name)
    best = study.best_trial
    fixed = study.user_attrs.get("fixed", {})  # not searched: every trial ran them
    convert = a2c_space()[1] if args.algo == "a2c" else HYPERPARAMS_CONVERTER[args.algo]  # the zoo's tables unchanged
    converted = convert_lr_schedule(convert)({**best.params, **fixed})
    with open(args.conf_file or sb3_pg.zoo.HYPERPARAMS_DIR / f"{args.algo}.yml") as file:
        # The entry it was tuned from (n_envs, normalize, ..., and its budget n_timesteps, not the trials')
        entry = dict(yaml.safe_load(file).get(args.env, {}))
    # The trials normalised with the base entry's VecNormalize settings (its γ, not the sampled one): written out,
    # so that the exported entry normalises as they did (sb3-pg's zoo keeps a γ given in normalize)
    trial_normalization = sb3_pg.zoo.normalize_kwargs(entry)
    policy_kwargs = converted.pop("policy_kwargs", {})
    if policy_kwargs:  # the zoo replaced the entry's policy_kwargs with the sampled ones in every trial
        entry.pop("policy_kwargs", None)
    entry.update({key: float(value) if isinstance(value, float) else value for key, value in converted.items()})
    if trial_normalization is not None:
        entry["normalize"] = (
            f"dict({', '.join(f'{key}={value!r}' for key, value in sorted(trial_normalization.items()))})"
        )
    lines = [
        f"# Tuned: optuna study {args.study_name} ({masked(args.storage)}), the best of {len(finished_trials(study))}",
        f"# trials (trial {best.number}, value {best.value:.1f}); its definition: {args.definition}",
        *([f"# Not searched, fixed for every trial: {', '.join(f'{k}={v}' for k, v in fixed.items())}"] * bool(fixed)),
        f"{args.env}:",
        *(f"  {key}: {json.dumps(value)}" for key, value in sorted(entry.items())),
    ]
    if policy_kwargs:

        def literal(value):  # type: ignore[no-untyped-def]
            return f"nn.{value.__name__}" if isinstance(value, type) else repr(value)

        lines.append(f'  policy_kwargs: "dict({", ".join(f"{k}={literal(v)}" for k, v in policy_kwargs.items())})"')
    return "\n".join(lines) + "\n"
