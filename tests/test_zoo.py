"""The RL Zoo harness end to end: train, enjoy, tune, --track, plots, and one-line errors."""

import itertools
import os
import pickle
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium as gym
import imageio_ffmpeg
import matplotlib.pyplot as plt
import numpy as np
import optuna
import pytest
import torch as th
import yaml

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline
from sb3_pg.zoo import HYPERPARAMS_DIR, check_train_args, main, register

register()  # the samplers and converters the tests below call directly

# Every task a zoo user reaches for: MuJoCo v5, Box2D, classic control
SUITE_TASKS = {
    *(f"{name}-v5" for name in ("Ant", "HalfCheetah", "Hopper", "Walker2d", "Swimmer", "Reacher", "InvertedPendulum")),
    *(f"{name}-v5" for name in ("InvertedDoublePendulum", "Pusher", "Humanoid")),
    *("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3"),
    *("CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0", "Pendulum-v1", "MountainCar-v0"),
}
LAMBDA1_YML = Path(__file__).parent.parent / "benchmarks" / "hyperparams" / "reinforce_baseline_lambda1.yml"
OURS = {"reinforce": REINFORCE, "reinforce_baseline": REINFORCEBaseline, "onestep_ac": OneStepAC}


def zoo(monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["sb3-pg"])  # restored after the test; main() replaces it
    main(list(args))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """
    Each of our algorithms, and the zoo's a2c, trained briefly on CartPole-v1 into one log folder,
    two seeds each (the zoo's plots need two runs to aggregate).
    """
    folder = tmp_path_factory.mktemp("logs")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for algo in [*OURS, "a2c"]:
            for seed in ["0", "1"]:
                args = ["--algo", algo, "--env", "CartPole-v1", "-n", "1500", "-f", str(folder), "--seed", seed]
                zoo(monkeypatch, "train", *args, "--eval-freq", "500", "--eval-episodes", "2")
    return folder


@pytest.mark.parametrize("algo", OURS)
def test_train_uses_our_hyperparameters_and_enjoy_loads_it(trained, algo, monkeypatch, capsys):
    run = trained / algo / "CartPole-v1_1"
    model = OURS[algo].load(run / "CartPole-v1.zip")
    # One env: an evaluation every 500 steps, up to the last (whole-episode batches may overshoot 1500)
    timesteps = np.load(run / "evaluations.npz")["timesteps"].tolist()
    assert timesteps == list(range(500, model.num_timesteps + 1, 500))
    assert model.num_timesteps == 1500 if algo == "onestep_ac" else 1500 <= model.num_timesteps < 3000
    with open(run / "CartPole-v1" / "config.yml") as file:
        config = dict(yaml.unsafe_load(file))
    with open(HYPERPARAMS_DIR / f"{algo}.yml") as file:
        expected = yaml.safe_load(file)["CartPole-v1"]
    assert config["learning_rate"] == expected["learning_rate"]

    capsys.readouterr()
    zoo(monkeypatch, "enjoy", "--algo", algo, "--env", "CartPole-v1", "-f", str(trained), "-n", "300", "--no-render")
    assert "Mean reward" in capsys.readouterr().out


def test_plots_put_our_runs_next_to_a2c(trained, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # without a display, the figures are written to the current folder
    results = tmp_path / "results"
    algos = [*OURS, "a2c"]
    zoo(
        monkeypatch,
        "all_plots",
        "-a",
        *algos,
        "-e",
        "CartPole-v1",
        "-f",
        str(trained),
        "--no-display",
        "-o",
        str(results),
    )
    zoo(monkeypatch, "plot_from_file", "-i", f"{results}.pkl", "-o", str(tmp_path / "curves.png"), "--format", "png")
    with open(f"{results}.pkl", "rb") as file:
        curves = pickle.load(file)
    curves = curves["CartPole-v1"]  # keyed ALGO-FOLDER, each from its two runs
    assert sorted(key.split("-", 1)[0].lower() for key in curves) == sorted(algos)  # the zoo upper-cases them
    assert all(len(curve["timesteps"]) >= 3 for curve in curves.values())  # evaluations at 500, 1000, 1500
    image = plt.imread(tmp_path / "curves.png")
    assert image.ndim == 3 and image.std() > 0.05  # a drawn figure, not a blank canvas


def test_plots_of_runs_of_different_lengths_are_one_line(trained, monkeypatch, tmp_path, capsys):
    """A third, longer run: all_plots keeps it alone, and plot_from_file used to fail in min() of nothing."""
    logs = tmp_path / "logs"
    shutil.copytree(trained / "onestep_ac", logs / "onestep_ac")
    args = ["--algo", "onestep_ac", "--env", "CartPole-v1", "-n", "2000", "-f", str(logs), "--seed", "2"]
    zoo(monkeypatch, "train", *args, "--eval-freq", "500", "--eval-episodes", "2")
    zoo(
        monkeypatch,
        "all_plots",
        "-a",
        "onestep_ac",
        "-e",
        "CartPole-v1",
        "-f",
        str(logs),
        "--no-display",
        "-o",
        str(tmp_path / "r"),
    )
    with pytest.raises(SystemExit) as stop:
        zoo(monkeypatch, "plot_from_file", "-i", str(tmp_path / "r.pkl"), "-o", str(tmp_path / "r.png"))
    assert "onestep_ac" in str(stop.value).lower() and "kept a single run" in str(stop.value)
    assert "--skip-keys" in str(stop.value) and "\n" not in str(stop.value)


def test_plot_check_takes_curves_of_some_envs_only(tmp_path):
    """A key all_plots wrote for one env of two: judged on that env, not a KeyError on the other."""
    from sb3_pg.zoo import check_plot_input

    two_runs, one_run = {"last_evals": np.array([1.0, 2.0])}, {"last_evals": np.float64(1.0)}
    results = {"A-v0": {"ppo": two_runs, "a2c": one_run}, "B-v0": {"ppo": two_runs}, "results_table": {}}
    (tmp_path / "r.pkl").write_bytes(pickle.dumps(results))
    with pytest.raises(ValueError, match=r"a2c kept a single run.*--skip-keys a2c$"):
        check_plot_input(["-i", str(tmp_path / "r.pkl")])
    check_plot_input(["-i", str(tmp_path / "r"), "--skip-keys", "a2c"])  # the .pkl suffix added, as the zoo does


def test_record_video(trained, monkeypatch, tmp_path):
    args = ["--algo", "onestep_ac", "--env", "CartPole-v1", "-f", str(trained), "--exp-id", "1", "-n", "100"]
    zoo(monkeypatch, "record_video", *args, "-o", str(tmp_path))
    (video,) = tmp_path.glob("*onestep_ac-CartPole-v1*.mp4")
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(video))
    assert frames >= 100  # one frame per step played


def test_tune_with_optuna(monkeypatch, tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["--env", "CartPole-v1", "-n", "1000", "-optimize", "--n-trials", "2", "--n-evaluations", "1"]
    args += ["--eval-episodes", "2", "--sampler", "random", "--pruner", "none", "-f", str(tmp_path)]
    for algo in OURS:
        capsys.readouterr()
        zoo(monkeypatch, "train", "--algo", algo, *args, "--storage", storage, "--study-name", algo)
        out = capsys.readouterr().out
        assert "Number of finished trials:  2" in out
    # The shared RDB storage holds every study, as a second machine would see it
    import optuna

    studies = {summary.study_name: summary.n_trials for summary in optuna.get_all_study_summaries(storage)}
    assert studies == {algo: 2 for algo in OURS}


def readme_commands(after: str) -> list[list[str]]:
    """The shell commands of the RL Zoo guide's block after the comment line ``after``, continuations joined."""
    guide = Path(__file__).parent.parent / "docs" / "guide" / "rl_zoo.md"
    lines = guide.read_text().split("\n" + after, 1)[1].splitlines()[1:]
    lines = itertools.dropwhile(lambda line: line.startswith("#"), lines)  # the rest of the comment
    commands = "\n".join(itertools.takewhile(lambda line: line and not line.startswith(("#", "```")), lines))
    return [shlex.split(command) for command in commands.replace("\\\n", " ").splitlines()]


def test_the_readmes_distributed_tuning_runs_as_written(postgresql, tmp_path):
    """
    Its commands against a real PostgreSQL, two workers started together (smaller budgets): both finish, one
    study. The study is created first because two workers on a new SQLite file race to create optuna's tables.
    """
    create, train = readme_commands("# distributed tuning")
    assert create[:2] == ["optuna", "create-study"] and train[:2] == ["sb3-pg", "train"]
    url = postgresql.replace("postgresql://", "postgresql+psycopg://", 1)

    def as_run(command: list[str], small: dict[str, str]) -> list[str]:
        replaced = [url if arg.startswith("postgresql+psycopg://user:pass@dbhost") else arg for arg in command]
        return [small.get(previous, arg) for previous, arg in zip(["", *replaced], replaced, strict=False)]

    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "optuna"), *as_run(create, {})[1:]], check=True, capture_output=True)
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sb3_pg",
                *as_run(train, {"-n": "600", "--max-total-trials": "2", "-f": str(folder)})[1:],
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (tmp_path / "a", tmp_path / "b")
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors[-2000:]
    study = optuna.load_study(storage=url, study_name=train[train.index("--study-name") + 1])
    finished = [trial for trial in study.trials if trial.state.is_finished()]
    assert len(finished) >= 2 and all(trial.state != optuna.trial.TrialState.FAIL for trial in finished)


def test_track_writes_an_offline_wandb_run(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must be the default, not the test's setting
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the zoo writes tensorboard logs under ./runs
    zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "500", "-f", "logs", "--track")
    runs = list((tmp_path / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algo", "reinforcee"], "unknown --algo 'reinforcee'"),
        (["--algo", "reinforce", "--env", "CartPoles-v1"], "unknown --env 'CartPoles-v1'"),
        # a file of the user's without the task and without a default entry (ours have one)
        (
            ["--algo", "reinforce", "--env", "MountainCar-v0", "-conf", str(LAMBDA1_YML)],
            "no hyperparameters for reinforce on MountainCar-v0",
        ),
        # values the zoo passes on to the model's constructor
        (["--algo", "reinforce", "--env", "CartPole-v1", "-params", "n_episodes:0"], "n_episodes must be >= 1, got 0"),
        (["--algo", "onestep_ac", "--env", "CartPole-v1", "-params", "gamma:1.5"], "gamma must be in (0, 1], got 1.5"),
        # mistakes the zoo would answer with a traceback, or (-n <= 0) by training the yml's budget
        (["--algo", "reinforce", "--env", "CartPole-v1", "-n", "0"], "-n 0: the number of env steps must be >= 1"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-params", "n_episodes"], "-params 'n_episodes': write NAME:"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-params", ":3"], "-params ':3': write NAME:VALUE"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-params", "n_episodes:abc"], "'abc' is not a Python value"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-params", "policy_kwargs:dict(foo=1)"], "policy_kwargs for"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-conf", "missing.yml"], "--conf-file missing.yml: No such"),
    ],
)
def test_bad_input_is_one_line(args, message, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_info:
        zoo(monkeypatch, "train", *args)
    assert message in str(exit_info.value)
    assert "\n" not in str(exit_info.value)


def test_unknown_hyperparameter_in_yml(tmp_path, monkeypatch):
    conf = tmp_path / "bad.yml"
    conf.write_text("CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  n_episode: 4\n")
    with pytest.raises(SystemExit, match="unknown hyperparameter\\(s\\) for reinforce: n_episode"):
        zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "--conf-file", str(conf))
    with pytest.raises(SystemExit, match="unknown hyperparameter\\(s\\) for onestep_ac: n_episodes"):
        zoo(monkeypatch, "train", "--algo", "onestep_ac", "--env", "CartPole-v1", "-params", "n_episodes:4")


def test_which_hyperparameter_file():
    def conf(args: list[str]) -> str | None:
        args = check_train_args(args)
        flags = [i for i, arg in enumerate(args) if arg in ("-conf", "--conf-file")]
        return args[flags[-1] + 1] if flags else None

    assert conf(["--algo", "onestep_ac", "--env", "CartPole-v1"]) == str(HYPERPARAMS_DIR / "onestep_ac.yml")
    # a2c/ppo: ours where the zoo lacks the v5 MuJoCo keys, the zoo's own elsewhere
    assert conf(["--algo", "ppo", "--env", "Hopper-v5"]) == str(HYPERPARAMS_DIR / "ppo.yml")
    assert conf(["--algo", "a2c", "--env", "CartPole-v1"]) is None
    # A user's file wins
    assert conf(["--algo", "reinforce", "--env", "CartPole-v1", "-conf", "mine.py"]) == "mine.py"


@pytest.mark.parametrize("algo", [*OURS, "a2c", "ppo"])
def test_every_shipped_entry_is_valid(algo):
    with open(HYPERPARAMS_DIR / f"{algo}.yml") as file:
        entries = yaml.safe_load(file)
    required = SUITE_TASKS | {"default"} if algo in OURS else {"HalfCheetah-v5", "Hopper-v5", "Ant-v5", "Walker2d-v5"}
    assert required <= set(entries), sorted(required - set(entries))
    for env in set(entries) - {"default"}:
        check_train_args(["--algo", algo, "--env", env])  # raises on an unknown hyperparameter
    assert np.all([entry["n_timesteps"] > 0 for entry in entries.values()])


class ToyEnv(gym.Env):
    """A task no yml has an entry for: 10 steps, reward 1 for action 1."""

    observation_space = gym.spaces.Box(-1, 1, (2,))
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, dtype=np.float32), float(action), self.t >= 10, False, {}


@pytest.mark.parametrize("algo", OURS)
def test_a_task_without_an_entry_trains_with_default_and_says_so(algo, monkeypatch, tmp_path, capsys):
    if "SB3PGToy-v0" not in gym.envs.registry:
        gym.register("SB3PGToy-v0", entry_point=ToyEnv)
    zoo(monkeypatch, "train", "--algo", algo, "--env", "SB3PGToy-v0", "-n", "2000", "-f", str(tmp_path))
    output = capsys.readouterr().out
    assert output.count("Using 'default' hyperparameters") == 1
    assert OURS[algo].load(tmp_path / algo / "SB3PGToy-v0_1" / "SB3PGToy-v0.zip").num_timesteps >= 2000


def test_hyperparams_are_top_level_and_shipped(tmp_path):
    """hyperparams/ at the repository's top level (the zoo's layout) is the package sb3_pg.hyperparams."""
    repository = Path(__file__).parents[1]
    shipped = sorted(path.name for path in (repository / "hyperparams").glob("*.yml"))
    assert {"reinforce.yml", "reinforce_baseline.yml", "onestep_ac.yml"} <= set(shipped)
    assert HYPERPARAMS_DIR.resolve() == (repository / "hyperparams").resolve()  # this (editable) install reads it
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(repository)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("sb3_pg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted(name.split("/")[-1] for name in names if name.startswith("sb3_pg/hyperparams/")) == sorted(
        [*shipped, "__init__.py"]
    )


def test_reinforce_baseline_sampler_tunes_gae_lambda():
    """The optuna sampler draws λ, and what it draws builds a model (through the zoo's converter)."""
    from rl_zoo3 import hyperparams_opt

    sampler = hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce_baseline"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    lambdas = set()
    for _ in range(20):
        params = sampler(study.ask(), n_actions=2, n_envs=1, additional_args={})
        lambdas.add(params["gae_lambda"])
    assert len(lambdas) > 1 and lambdas <= {0.8, 0.9, 0.95, 0.98, 1.0}
    model = REINFORCEBaseline("MlpPolicy", "CartPole-v1", **params)
    assert model.gae_lambda == params["gae_lambda"] == model.rollout_buffer.gae_lambda


@pytest.mark.parametrize("algo", ["reinforce", "reinforce_baseline"])
def test_samplers_set_the_batch_in_steps(algo):
    """
    The batch size is drawn in env steps, with no minimum number of episodes left from the yml entry: a
    trial's number of updates must not scale with the task's episode length (an 8-episode batch is 8000
    steps on HalfCheetah, 31 updates in a 250k-step trial).
    """
    from rl_zoo3 import hyperparams_opt

    from sb3_pg.zoo import BATCH_STEPS, SB3_PG_ALGOS

    sampler = hyperparams_opt.HYPERPARAMS_SAMPLER[algo]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = set()
    for _ in range(30):
        trial = study.ask()
        params = sampler(trial, n_actions=2, n_envs=1, additional_args={})
        drawn.add(params["min_batch_steps"])
        assert params["n_episodes"] is None and "n_episodes" not in trial.params
        # The zoo's converter, which the export uses, gives the same constructor arguments from the trial's params
        assert hyperparams_opt.HYPERPARAMS_CONVERTER[algo](trial.params)["n_episodes"] is None
    assert drawn == set(BATCH_STEPS)
    # What it draws overrides an entry with a batch in episodes
    model = SB3_PG_ALGOS[algo]("MlpPolicy", "CartPole-v1", **{"n_episodes": 8, **params})
    assert (model.n_episodes, model.min_batch_steps) == (None, params["min_batch_steps"])


@pytest.mark.parametrize("algo", ["reinforce", "reinforce_baseline", "onestep_ac"])
def test_samplers_draw_the_initial_policy(algo):
    """
    The zoo replaces an entry's policy_kwargs with the sampled ones: the initial log std and orthogonal init are
    drawn (else every trial starts at std 1), reach the model, and come back from the converter the export uses.
    """
    from rl_zoo3 import hyperparams_opt

    from sb3_pg.zoo import SB3_PG_ALGOS

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    orthos = set()
    for _ in range(10):
        trial = study.ask()
        params = hyperparams_opt.HYPERPARAMS_SAMPLER[algo](trial, n_actions=1, n_envs=1, additional_args={})
        assert hyperparams_opt.HYPERPARAMS_CONVERTER[algo](trial.params) == params
        orthos.add(params["policy_kwargs"]["ortho_init"])
    assert orthos == {False, True}
    log_std_init = params["policy_kwargs"]["log_std_init"]
    assert -3.0 <= log_std_init <= 0.0
    model = SB3_PG_ALGOS[algo]("MlpPolicy", "Pendulum-v1", **params)
    assert model.policy.log_std.detach().numpy() == pytest.approx([log_std_init])
    assert model.policy.ortho_init == params["policy_kwargs"]["ortho_init"]


def normalisation_of(entry: dict) -> dict:
    """The VecNormalize arguments that the ExperimentManager of `sb3-pg train` takes from a yml entry."""
    from sb3_pg.zoo import ExperimentManager

    manager = ExperimentManager.__new__(ExperimentManager)
    manager.normalize, manager.normalize_kwargs = False, {}
    manager._preprocess_normalization(dict(entry))
    return {"gamma": 0.99, **manager.normalize_kwargs}  # VecNormalize's default γ where none is given


def test_an_exported_entry_normalises_as_its_trials_did(tmp_path, monkeypatch):
    """
    The comparison table's rule: in -optimize mode the zoo normalises with the base entry (no sampled γ: VecNormalize's
    0.99); the exported entry, which carries the tuned γ, must normalise the same way, not with that γ.
    """
    import argparse

    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from benchmarks.harness import tuning

    base = {"n_envs": 1, "n_timesteps": 1000, "policy": "MlpPolicy", "normalize": True}
    trial = normalisation_of(base)
    assert trial == {"gamma": 0.99}
    sampled = {"learning_rate": 1e-3, "one_minus_gamma": 0.001, "ent_coef": 1e-4, "max_grad_norm": 0.5}
    choices = {"net_arch": "small", "activation_fn": "tanh", "ortho_init": False, "min_batch_steps": 512}
    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={**sampled, "log_std_init": -1.0, **choices},
            distributions={
                **{key: FloatDistribution(1e-9, 10.0) for key in sampled},
                "log_std_init": FloatDistribution(-3.0, 0.0),
                **{key: CategoricalDistribution([value]) for key, value in choices.items()},
            },
            value=1.0,
        )
    )
    conf = tmp_path / "tuned_from.yml"
    conf.write_text(yaml.safe_dump({"Pendulum-v1": base}))
    monkeypatch.setattr(tuning, "open_study", lambda *_: study)
    args = argparse.Namespace(
        algo="reinforce", env="Pendulum-v1", storage="memory", study_name="s", definition="", conf_file=str(conf)
    )
    exported = yaml.safe_load(tuning.export(args))["Pendulum-v1"]
    assert exported["gamma"] == pytest.approx(0.999)
    assert normalisation_of(exported) == trial  # not γ = 0.999


def tuned_entries() -> list[tuple[str, str, dict]]:
    """(file, env, entry) for each entry exported from a study (its comment starts with "# Tuned: optuna study")."""
    files = [*HYPERPARAMS_DIR.glob("*.yml"), *(Path(__file__).parents[1] / "benchmarks/hyperparams").glob("*.yml")]
    found = []
    for path in files:
        text, entries = path.read_text(), _yml(path)
        for env, entry in entries.items():
            comment = text[: text.index(f"\n{env}:")].rsplit("\n\n", 1)[-1]
            if "# Tuned: optuna study" in comment:
                found.append((path.name, env, entry))
    return found


def _yml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_every_tuned_entry_normalises_as_its_study_did():
    """Rule 1 for what ships: the studies' trials normalised rewards with γ = 0.99, so must each exported entry."""
    entries = tuned_entries()
    assert len(entries) >= 8  # 4 rows x 2 tasks of the comparison table
    for name, env, entry in entries:
        assert normalisation_of(entry) == {"gamma": 0.99}, (name, env)


def test_a_fixed_parameter_is_not_searched_and_is_exported(tmp_path, monkeypatch):
    """
    ``tune --fixed gae_lambda=1.0``: the sampler never asks optuna for λ (TPE models only what is searched), every
    trial's model gets λ = 1, the export writes it, and a resumed study with another fixed value is refused.
    """
    import argparse

    from rl_zoo3 import hyperparams_opt

    from benchmarks.harness import tuning

    zoo_tables = {
        name: dict(table)
        for name, table in (
            ("sampler", hyperparams_opt.HYPERPARAMS_SAMPLER),
            ("converter", hyperparams_opt.HYPERPARAMS_CONVERTER),
        )
    }

    storage = str(tmp_path / "study.log")
    study = tuning.create_study(storage, "mc", {"gae_lambda": 1.0})
    original = hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce_baseline"]
    try:
        tuning.fix_parameters("reinforce_baseline", {"gae_lambda": 1.0})
        trial = study.ask()
        params = hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce_baseline"](trial, 1, 1, {})
        tuning.fix_parameters("reinforce_baseline", {"gae_lambdaa": 1.0})
        with pytest.raises(ValueError, match="gae_lambdaa: the reinforce_baseline search space draws no such"):
            hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce_baseline"](study.ask(), 1, 1, {})
    finally:
        hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce_baseline"] = original
    assert params["gae_lambda"] == 1.0 and "gae_lambda" not in trial.params and "learning_rate" in trial.params
    assert REINFORCEBaseline("MlpPolicy", "Pendulum-v1", **params).gae_lambda == 1.0
    study.tell(trial, 5.0)

    conf = tmp_path / "base.yml"
    conf.write_text(yaml.safe_dump({"Pendulum-v1": {"n_envs": 1, "policy": "MlpPolicy", "gae_lambda": 0.9}}))
    args = argparse.Namespace(algo="reinforce_baseline", env="Pendulum-v1", storage=storage, study_name="mc")
    args.definition, args.conf_file = "d", str(conf)
    exported = tuning.export(args)
    assert "# Not searched, fixed for every trial: gae_lambda=1.0" in exported
    assert yaml.safe_load(exported)["Pendulum-v1"]["gae_lambda"] == 1.0  # not the base entry's 0.9
    assert dict(hyperparams_opt.HYPERPARAMS_SAMPLER) == zoo_tables["sampler"]  # export changes none of the zoo's
    assert dict(hyperparams_opt.HYPERPARAMS_CONVERTER) == zoo_tables["converter"]
    with pytest.raises(ValueError, match=re.escape("study mc was run with --fixed {'gae_lambda': 1.0}, not {}")):
        tuning.create_study(storage, "mc", {})
    assert tuning.parse_fixed(["gae_lambda=1.0", "net_arch=small"]) == {"gae_lambda": 1.0, "net_arch": "small"}
    with pytest.raises(ValueError, match="--fixed takes NAME=VALUE"):
        tuning.parse_fixed(["gae_lambda"])


A2C_LINES: dict[str, list[str]] = {}


def printed_lines(monkeypatch, capsys, tmp_path, algo: str) -> list[str]:
    zoo(monkeypatch, "train", "--algo", algo, "--env", "CartPole-v1", "-n", "10000", "-f", str(tmp_path), "--seed", "0")
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("algo", ["reinforce", "reinforce_baseline", "onestep_ac"])
def test_default_output_is_about_a2cs(algo, monkeypatch, tmp_path, capsys):
    """
    A CartPole run at the defaults prints about as much as A2C's for the same steps (99 lines for 20k), not a
    table per update (864 lines for REINFORCE before).
    """
    if "a2c" not in A2C_LINES:  # once for the three
        A2C_LINES["a2c"] = printed_lines(monkeypatch, capsys, tmp_path / "a2c", "a2c")
    a2c = A2C_LINES["a2c"]
    lines = printed_lines(monkeypatch, capsys, tmp_path, algo)
    assert len(lines) <= 1.25 * len(a2c), (len(lines), len(a2c))
    assert any("rollout/" in line for line in lines)  # the log tables are still there


def test_train_and_enjoy_run_one_torch_thread_unless_told(monkeypatch, tmp_path):
    """Default intra-op threads spin on our small networks (2-15x slower on a busy 2-core machine)."""
    monkeypatch.setattr(th, "set_num_threads", lambda n: threads.append(n))
    args = ["--algo", "reinforce", "--env", "CartPole-v1", "-n", "200", "-f", str(tmp_path)]
    threads: list[int] = []
    zoo(monkeypatch, "train", *args)
    zoo(monkeypatch, "enjoy", *args[:4], "-f", str(tmp_path), "-n", "10", "--no-render")
    assert threads == [1, 1]
    threads.clear()
    zoo(monkeypatch, "train", *args, "--num-threads", "2")
    assert threads == [2]


@pytest.mark.parametrize(
    "entry, message",
    [
        ("  n_envs: 0\n", "n_envs must be an int >= 1, got 0"),
        ("  policy: FooPolicy\n", "policy must be one of MlpPolicy, CnnPolicy, MultiInputPolicy, MlpLstmPolicy, "),
        ("  policy: FooPolicy\n", "MultiInputLstmPolicy, got 'FooPolicy'"),
        ("  policy_kwargs: 'dict(net_arch=[64]'\n", "policy_kwargs 'dict(net_arch=[64]' is not a dict(...)"),
        (" [1\n", "is not valid YAML"),
    ],
)
def test_yml_mistakes_are_one_line(entry, message, tmp_path, monkeypatch):
    conf = tmp_path / "bad.yml"
    conf.write_text("CartPole-v1:" + ("\n" if entry.startswith("  ") else "") + entry)
    with pytest.raises(SystemExit) as exit_info:
        zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-conf", str(conf))
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_policy_kwargs_are_read_where_the_zoo_reads_them(tmp_path):
    """An entry naming torch (th) or the zoo's RMSpropTFLike, as the zoo's own files do, passes the check."""
    conf = tmp_path / "ok.yml"
    conf.write_text(
        "CartPole-v1:\n  policy: MlpPolicy\n  n_timesteps: 1000\n"
        "  policy_kwargs: 'dict(optimizer_class=RMSpropTFLike, activation_fn=th.nn.ReLU)'\n"
    )
    args = ["--algo", "reinforce", "--env", "CartPole-v1", "--conf-file", str(conf)]
    assert check_train_args(args) == args


def test_both_learning_rates_take_the_zoos_linear_schedule(monkeypatch, tmp_path):
    """``lin_<initial>`` in a yml entry, for the actor's and the critic's learning rate: each decays to 0."""
    conf = tmp_path / "schedule.yml"
    conf.write_text(
        "CartPole-v1:\n  policy: MlpPolicy\n  n_timesteps: 300\n  n_episodes: 2\n"
        "  learning_rate: lin_0.002\n  critic_learning_rate: lin_0.004\n"
    )
    args = ["--algo", "reinforce_baseline", "--env", "CartPole-v1", "--conf-file", str(conf), "-f", str(tmp_path)]
    zoo(monkeypatch, "train", *args, "--eval-freq", "-1")
    (path,) = tmp_path.glob("reinforce_baseline/CartPole-v1_1/CartPole-v1.zip")
    model = REINFORCEBaseline.load(path)
    assert model.lr_schedule(0.5) == pytest.approx(0.001) and model.critic_lr_schedule(0.5) == pytest.approx(0.002)


def test_the_kept_rows_rerun_is_the_comparisons_runs():
    """benchmarks/kept_rows.txt re-runs the comparison's untuned rows as they are: its lines are comparison.txt's."""
    from benchmarks.harness.runner import read_run_list

    benchmarks = Path(__file__).parent.parent / "benchmarks"
    comparison = dict(read_run_list(benchmarks / "comparison.txt"))
    kept = dict(read_run_list(benchmarks / "kept_rows.txt"))
    assert len(kept) == 60 and all(comparison[name] == args for name, args in kept.items())
    assert {re.sub(r"^h[co]_|_s\d$", "", name) for name in kept} == {"a2c", "ppo", "ppo_zoo"}


def test_the_suite_runs_every_task_and_method_at_its_budget():
    """
    benchmarks/suite.txt: each task x 5 methods x seeds 0-2, budget <= 1M; the comparison table's two tasks are its
    runs, kept: their lines are comparison.txt's and their results are there.
    """
    from benchmarks.harness.runner import option, read_run_list

    benchmarks = Path(__file__).parent.parent / "benchmarks"
    comparison = dict((name, args) for name, args in read_run_list(benchmarks / "comparison.txt"))
    cells: dict[tuple[str, str], list[str]] = {}
    for name, args in read_run_list(benchmarks / "suite.txt"):
        if option(args, "--env") in {"HalfCheetah-v5", "Hopper-v5"}:
            assert comparison[name] == args
            assert (benchmarks / "results" / "comparison" / "runs" / f"{name}.csv").exists()
        else:
            budget, every = int(option(args, "-n")), int(option(args, "--eval-freq"))
            assert budget <= 1_000_000 and every == budget // 50  # an evaluation every 2% of the budget
        cells.setdefault((option(args, "--env"), option(args, "--algo")), []).append(option(args, "--seed"))
    envs = {env for env, _ in cells}
    assert envs == SUITE_TASKS
    assert set(cells) == {(env, algo) for env in envs for algo in [*OURS, "a2c", "ppo"]}
    assert all(sorted(seeds) == ["0", "1", "2"] for seeds in cells.values())


def test_importing_the_zoo_module_changes_nothing_in_the_zoo():
    """Registration is explicit (register(), or the sb3-pg command), and the zoo's classes are left as they are."""
    code = (
        "import rl_zoo3.exp_manager as e, rl_zoo3.train as t, rl_zoo3.utils as u; "
        "before = (e.ExperimentManager._preprocess_normalization, t.ExperimentManager); "
        "import sb3_pg, sb3_pg.zoo; "
        "assert (e.ExperimentManager._preprocess_normalization, t.ExperimentManager) == before; "
        "assert 'reinforce' not in u.ALGOS; sb3_pg.zoo.register(); assert 'reinforce' in u.ALGOS"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# The paths of the command line that used to hang, print a traceback or do nothing silently


def test_a_task_without_a_time_limit_is_bounded_and_says_so(tmp_path):
    """Training and the zoo's evaluation (a deterministic policy that never ends an episode) both stop."""
    command = [sys.executable, "-m", "sb3_pg", "train", "--gym-packages", "tests.endless_env", "--algo", "reinforce"]
    command += ["--env", "sb3_pg_tests/Endless-v0", "-n", "1000", "-f", str(tmp_path), "-params", "n_episodes:2"]
    command += ["--eval-freq", "500", "--eval-episodes", "1", "--max-episode-steps", "100"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = (tmp_path / "reinforce").glob("*Endless-v0_1")
    lengths = np.load(run / "evaluations.npz")["ep_lengths"]
    assert (lengths == 100).all()
    # Without --max-episode-steps: the default bound, said in one line (checked up front, before any training)
    with pytest.MonkeyPatch.context() as monkeypatch:
        import tests.endless_env  # noqa: F401

        monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
        printed: list[str] = []
        args = check_train_args(["--algo", "reinforce", "--env", "sb3_pg_tests/Endless-v0", "-n", "500"])
    assert any("has no time limit" in line and "after 1000 steps" in line for line in printed)
    assert args[args.index("--env-kwargs") + 1] == "max_episode_steps:1000"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algo", "reinforce", "--env", "LunarLander-v2"], "Please use `LunarLander-v3` instead"),
        (["--algo", "reinforce", "--env", "CartPole-v1", "-i", "missing.zip"], "-i missing.zip: no such model file"),
    ],
)
def test_more_bad_input_is_one_line(args, message, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        zoo(monkeypatch, "train", *args)
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_continuing_from_another_algorithms_or_envs_model_is_one_line(tmp_path, monkeypatch):
    from stable_baselines3 import A2C

    A2C("MlpPolicy", "CartPole-v1").save(tmp_path / "a2c.zip")
    REINFORCE("MlpPolicy", "Acrobot-v1").save(tmp_path / "acrobot.zip")
    for model, message in (("a2c.zip", "saved by another library's algorithm"), ("acrobot.zip", "spaces do not match")):
        with pytest.raises(SystemExit) as exit_info:
            zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "500", "-f", str(tmp_path),
                "-i", str(tmp_path / model))  # fmt: skip
        assert message in str(exit_info.value) and "\n" not in str(exit_info.value), exit_info.value


@pytest.mark.parametrize(
    "entry, given, message",
    [
        ("  n_timesteps: 1000\n  learning_rate: 3e-4\n", [], "learning_rate: '3e-4' is text, not a number"),
        ("  policy: MlpPolicy\n  n_episodes: 2\n", [], "no n_timesteps; add n_timesteps: N to it, or pass -n N"),
        ("  n_timesteps: 1000\n", [], "no policy; add policy: MlpPolicy"),
    ],
)
def test_yml_entries_the_zoo_misreads_are_one_line(entry, given, message, tmp_path, monkeypatch):
    conf = tmp_path / "entries.yml"
    conf.write_text("CartPole-v1:\n" + entry)
    with pytest.raises(SystemExit) as exit_info:
        zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-conf", str(conf), *given)
    assert message in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_an_entry_without_n_timesteps_trains_with_n(tmp_path, monkeypatch):
    conf = tmp_path / "entries.yml"
    conf.write_text("CartPole-v1:\n  policy: MlpPolicy\n  n_episodes: 2\n")
    zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-conf", str(conf), "-n", "300",
        "-f", str(tmp_path))  # fmt: skip
    assert (tmp_path / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip").is_file()


def test_a_run_shorter_than_the_evaluation_period_is_warned(tmp_path, monkeypatch, capsys):
    zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "300", "-f", str(tmp_path))
    assert "300 steps is less than --eval-freq 25000: no evaluation will be written" in capsys.readouterr().out


def test_enjoy_finds_what_train_wrote_and_a_missing_run_is_one_line(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(trained.parent)
    (trained.parent / "logs").unlink(missing_ok=True)
    (trained.parent / "logs").symlink_to(trained)  # train's default folder
    zoo(monkeypatch, "enjoy", "--algo", "reinforce", "--env", "CartPole-v1", "--no-render", "-n", "50")
    assert "Loading" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        zoo(monkeypatch, "enjoy", "--algo", "reinforce", "--env", "Acrobot-v1", "--no-render", "-n", "50")
    assert "no trained model of reinforce on Acrobot-v1" in str(exit_info.value) and "\n" not in str(exit_info.value)


def test_record_video_of_a_mujoco_task_without_a_display(tmp_path, monkeypatch):
    """MuJoCo's offscreen rendering is chosen (MUJOCO_GL=egl); where the machine lacks it, one line names it."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "InvertedPendulum-v5", "-n", "200", "-f", str(tmp_path))
    args = ["--algo", "reinforce", "--env", "InvertedPendulum-v5", "-f", str(tmp_path), "-n", "20", "-o", str(tmp_path)]
    code = f"from sb3_pg.zoo import main; main(['record_video', *{args!r}])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    if result.returncode == 0:
        assert list(tmp_path.glob("*InvertedPendulum-v5*.mp4"))
    else:
        assert "set MUJOCO_GL=egl" in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


def test_plots_without_data_are_errors_and_headless_plots_are_files(trained, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    zoo(monkeypatch, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "300", "-f", str(empty))
    with pytest.raises(SystemExit) as exit_info:
        zoo(
            monkeypatch,
            "all_plots",
            "-a",
            "reinforce",
            "-e",
            "CartPole-v1",
            "-f",
            str(empty),
            "-o",
            str(tmp_path / "x"),
        )
    assert "no evaluations of reinforce on CartPole-v1" in str(exit_info.value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="nothing to plot"):  # fewer episodes than the rolling window
        zoo(monkeypatch, "plot_train", "-a", "reinforce", "-e", "CartPole-v1", "-f", str(trained))
    zoo(monkeypatch, "plot_train", "-a", "reinforce", "-e", "CartPole-v1", "-f", str(trained), "-w", "5")
    assert "figure written to plot_train_1.png" in capsys.readouterr().out
    assert (tmp_path / "plot_train_1.png").stat().st_size > 0


def test_help_and_version(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("train", "-optimize", "enjoy", "record_video", "all_plots"))
    main(["--version"])
    assert re.match(r"sb3-pg \d+\.\d+\.\d+ \(stable-baselines3 ", capsys.readouterr().out)
    result = subprocess.run([sys.executable, "-m", "sb3_pg", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: sb3-pg COMMAND" in result.stdout


def test_tuning_samples_the_log_std_of_box_actions_only():
    from rl_zoo3 import hyperparams_opt

    for n_actions, has_log_std in ((0, False), (1, True)):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        params = hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce"](trial, n_actions, 1, {})
        assert ("log_std_init" in params["policy_kwargs"]) == has_log_std
        assert ("log_std_init" in trial.params) == has_log_std


def test_the_zoos_own_train_runs_our_algorithms_in_process(tmp_path):
    """The documented route for the zoo's scripts: register(), then --conf-file hyperparams_path(algo)."""
    code = (
        "import sys\n"
        "from rl_zoo3.train import train\n"
        "from sb3_pg.zoo import hyperparams_path, register\n"
        "register()\n"
        f"sys.argv = ['train', '--algo', 'reinforce', '--env', 'CartPole-v1', '-n', '300', '-f', {str(tmp_path)!r},"
        " '--conf-file', hyperparams_path('reinforce')]\n"
        "train()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    assert (tmp_path / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip").is_file()
