"""
Run a list of RL Zoo trainings through sb3-pg's harness on Ray, resumably, and summarise them across seeds.

Each line of a run list is ``NAME ZOO_TRAIN_ARGS...``, with NAME ending in ``_s<seed>``; run NAME trains with

    sb3-pg train --eval-freq 20000 --eval-episodes 10 --num-threads 1 ZOO_TRAIN_ARGS

as one Ray task (one CPU, its own worker process, a temporary log folder), on a local Ray runtime started by
the command or on an existing cluster (``--address``). The task returns its results and the driver writes
RESULTS/runs/NAME.csv (its evaluations: one row per evaluation, the return of each deterministic episode) and
RESULTS/runs/NAME.json (command, commit, wall time, final return) as each run finishes: no shared file system
is needed, and the committed results are the resume point, since a re-run skips the runs whose results exist.
Ray retries a run once if its worker dies or it fails; a run that fails twice is reported and the others go
on. With ``--episodes``, RESULTS/runs/NAME_episodes.csv keeps the training episodes too (return, length and the
env step at which each ended).

    python benchmarks/zoo_runs.py run benchmarks/mujoco.txt --results benchmarks/results/mujoco --jobs 2
    python benchmarks/zoo_runs.py summarize benchmarks/mujoco.txt --results benchmarks/results/mujoco
"""

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root, so that benchmarks.harness imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.report import summarize
from benchmarks.harness.runner import run
from benchmarks.harness.tuning import RULES, create_study, export, parse_fixed, study_table, tune, with_driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train the runs of the list that have no results yet")
    run_parser.add_argument("run_list", type=Path)
    run_parser.add_argument("--results", type=Path, required=True)
    run_parser.add_argument("--logs", type=Path, default=Path("benchmarks/logs"))
    run_parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one core each)")
    run_parser.add_argument(
        "--address", help="an existing Ray cluster (auto, ray://host:10001); default: a local Ray runtime"
    )
    run_parser.add_argument("--episodes", action="store_true", help="keep the training episodes too")
    run_parser.add_argument("--keep-models", action="store_true", help="keep each run's final model (NAME.zip)")
    run_parser.add_argument(
        "--force", action="store_true", help="run despite uncommitted changes or unpinned versions (recorded)"
    )
    summary_parser = commands.add_parser("summarize", help="tables and plots of the finished runs")
    summary_parser.add_argument("run_list", type=Path)
    summary_parser.add_argument("--results", type=Path, required=True)
    summary_parser.add_argument("--threshold", type=float, help="report episodes/steps until this return")
    summary_parser.add_argument("--window", type=int, default=100, help="training episodes averaged")
    summary_parser.add_argument(
        "--pair", action="append", default=[], help="X,Y: also report P(X > Y) (labels as in the table)"
    )
    summary_parser.add_argument(
        "--reference", action="append", default=[], help="ENV=RETURN: the normalised score's 1 (default: best method)"
    )
    summary_parser.add_argument("--reps", type=int, default=50_000, help="bootstrap replications")
    summary_parser.add_argument(
        "--readme",
        action="append",
        default=[],
        type=Path,
        help="write the short table into this file's block <!-- R --> ... <!-- /R -->, R the results folder's name",
    )
    summary_parser.add_argument("--name", action="append", default=[], help="LABEL=TEXT: the method's name there")
    tune_parser = commands.add_parser("tune", help="tuning workers of one optuna study on Ray")
    tune_parser.add_argument("--algo", required=True)
    tune_parser.add_argument("--env", required=True)
    tune_parser.add_argument("--storage", required=True, help="a journal file (.log), sqlite:///..., postgresql://...")
    tune_parser.add_argument("--study-name", required=True)
    tune_parser.add_argument("--n-trials", type=int, required=True, help="trials in all, shared by the workers")
    tune_parser.add_argument("--n-timesteps", type=int, required=True, help="env steps per trial")
    tune_parser.add_argument("--workers", type=int, default=1)
    tune_parser.add_argument("--sampler", default="tpe", choices=["random", "tpe", "auto"])
    tune_parser.add_argument("--pruner", default="median", choices=["halving", "median", "none"])
    tune_parser.add_argument("--n-startup-trials", type=int, default=10)
    tune_parser.add_argument("--n-evaluations", type=int, default=10, help="evaluations per trial (for pruning)")
    tune_parser.add_argument("--eval-episodes", type=int, default=5)
    tune_parser.add_argument("--seed", type=int, default=100, help="first sampler seed (runs use 0-9: disjoint)")
    tune_parser.add_argument("--results", type=Path, default=Path("benchmarks/results/tuning"))
    tune_parser.add_argument("--address", help="an existing Ray cluster; default: a local Ray runtime")
    tune_parser.add_argument(
        "--rule",
        choices=RULES,
        default="last-evaluation",
        help="how a trial is scored (the zoo's last evaluation; or 2 runs, the second half of their evaluations, and "
        "a learning-rate schedule in the space)",
    )
    tune_parser.add_argument(
        "--fixed",
        action="append",
        default=[],
        help="NAME=VALUE: a parameter of the search space not searched (e.g. gae_lambda=1.0); export writes it",
    )
    export_parser = commands.add_parser("export", help="the best trial of a study as a hyperparameter file entry")
    export_parser.add_argument("--algo", required=True)
    export_parser.add_argument("--env", required=True)
    export_parser.add_argument("--storage", required=True)
    export_parser.add_argument("--study-name", required=True)
    export_parser.add_argument("--definition", default="", help="where the study's definition is (cited)")
    export_parser.add_argument("--conf-file", help="the yml the study was tuned from (default: sb3-pg's)")
    studies_parser = commands.add_parser("studies", help="each study's trials, settings searched, best and cost")
    studies_parser.add_argument("storage", nargs="+", help="journal files (.log) or database URLs")
    args = parser.parse_args()
    if args.command == "studies":
        print(study_table([with_driver(storage) for storage in args.storage]), end="")
        return
    if args.command in ("tune", "export"):
        args.storage = with_driver(args.storage)
    if args.command == "tune":
        if min(args.workers, args.n_trials, args.n_timesteps) < 1:
            parser.error("--workers, --n-trials and --n-timesteps must be >= 1")
        try:  # only these are the user's input: an error while tuning keeps its traceback
            args.fixed = parse_fixed(args.fixed)
            create_study(args.storage, args.study_name, args.fixed, args.rule)  # refuses a resumed study's others
        except ValueError as error:
            parser.error(str(error))
        sys.exit(0 if tune(args) else 1)
    if args.command == "export":
        print(export(args), end="")
        return
    if args.command == "run":
        if args.jobs < 1:
            parser.error("--jobs must be >= 1")
        if not run(
            args.run_list, args.logs, args.results, args.jobs, args.episodes, args.address, args.force, args.keep_models
        ):
            sys.exit(1)
    else:
        pairs = [tuple(pair.split(",")) for pair in args.pair]
        references = {env: float(value) for env, value in (item.split("=") for item in args.reference)}
        if any("=" not in item for item in args.name):
            parser.error("--name takes LABEL=TEXT")
        names = dict(item.split("=", 1) for item in args.name)
        summarize(
            args.run_list, args.results, args.threshold, args.window, pairs, args.reps, references, args.readme, names
        )


if __name__ == "__main__":
    main()
