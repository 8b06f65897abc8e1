"""Smoke tests: each benchmark study runs end to end on a tiny budget (numbers are not checked here)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
import yaml

from sb3_pg.diagnostics import PHI_FORMS

ROOT = Path(__file__).parent.parent


def test_throughput_study(tmp_path):
    out = tmp_path / "throughput"
    args = ["--methods", "reinforce", "onestep_ac", "a2c", "env_only", "--steps", "300", "--repeats", "1"]
    subprocess.run([sys.executable, "benchmarks/throughput.py", *args, "--out", str(out)], cwd=ROOT, check=True)
    rates = json.loads(out.with_suffix(".json").read_text())["rates"]
    assert set(rates) == {f"CartPole-v1|1|{m}" for m in ["reinforce", "onestep_ac", "a2c", "env_only"]}
    medians = {key.split("|")[2]: rate["median"] for key, rate in rates.items()}
    assert medians["env_only"] > 3 * max(medians["a2c"], medians["onestep_ac"])  # the env alone is the limit
    table = out.with_suffix(".md").read_text().splitlines()
    assert len(table) == 2 + 4
    for method, median in medians.items():  # each row's ratio is its median over a2c's
        (row,) = [row for row in table if f"| {method} | " in row]
        assert f"| {median / medians['a2c']:.2f} |" in row and f"| {median:.0f} |" in row


def tiny_run_list(tmp_path: Path, steps: int = 1000, seeds: tuple[int, ...] = (0, 1)) -> Path:
    run_list = tmp_path / "runs.txt"
    args = f"--algo reinforce --env CartPole-v1 -n {steps} --eval-freq 500"
    lines = [f"tiny_s{seed} {args} --seed {seed}" for seed in seeds]
    run_list.write_text("# a comment\n" + "\n".join(lines) + "\n")
    return run_list


def run_command(tmp_path: Path, run_list: Path, *extra: str) -> list[str]:
    logs, results = tmp_path / "logs", tmp_path / "results"
    return [
        sys.executable,
        "benchmarks/zoo_runs.py",
        "run",
        "--force",  # a developer's checkout may have changes; the refusal has a test of its own
        str(run_list),
        "--logs",
        str(logs),
        "--results",
        str(results),
        *extra,
    ]


def test_zoo_runs_on_ray_resume_and_summarize(tmp_path):
    """Two runs as Ray tasks on a local runtime, their results written by the driver; a re-run skips them."""
    run_list = tiny_run_list(tmp_path)
    results = tmp_path / "results"
    run = run_command(tmp_path, run_list, "--episodes", "--jobs", "2")
    output = subprocess.run(run, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "2 runs to do" in output and "2 done, 0 running, 0 failed, 0 waiting" in output
    runs = results / "runs"
    evaluations = (runs / "tiny_s1.csv").read_text().splitlines()
    assert evaluations[0] == "timesteps," + ",".join(f"return_{i}" for i in range(10))
    assert [row.split(",")[0] for row in evaluations[1:]] == ["500", "1000"]
    assert (runs / "tiny_s0_episodes.csv").exists() and (tmp_path / "logs" / "tiny_s0.log").read_text()
    record = json.loads((runs / "tiny_s0.json").read_text())
    assert record["command"].endswith("--seed 0")
    from benchmarks.harness.runner import installed_versions, machine

    # what ran: the commit, whether the checkout was clean, the versions, the machine, the resolved hyperparameters
    assert (
        record["commit"]
        == subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    )
    assert isinstance(record["dirty"], bool)
    assert record["versions"] == installed_versions()
    here = machine()  # this process's threads are torch's default; the run's are the one --num-threads 1 set
    assert record["machine"] == {**here, "torch_threads": 1} and here["cpu"] and here["cores"] >= 1
    assert {"policy", "learning_rate", "n_episodes"} <= set(record["hyperparameters"])  # the yml entry, resolved
    finished = (runs / "tiny_s0.csv").stat().st_mtime_ns
    output = subprocess.run(run, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "0 runs to do" in output
    assert (runs / "tiny_s0.csv").stat().st_mtime_ns == finished  # finished runs are skipped

    script = [sys.executable, "benchmarks/zoo_runs.py"]
    summary = [*script, "summarize", str(run_list), "--results", str(results), "--reps", "1000"]
    subprocess.run(summary, cwd=ROOT, check=True)
    assert "reaches" not in (results / "summary.md").read_text()
    subprocess.run([*summary, "--threshold", "15", "--window", "5"], cwd=ROOT, check=True)
    assert "seeds reaching 15.0" in (results / "summary.md").read_text()
    data = json.loads((results / "summary.json").read_text())["CartPole-v1/reinforce"]
    assert data["runs"] == ["tiny_s0", "tiny_s1"] and data["timesteps"] == [500, 1000]
    first = np.loadtxt(runs / "tiny_s0.csv", delimiter=",", skiprows=1)
    assert data["final"][0] == pytest.approx(first[-1, 1:].mean())
    assert data["auc"][0] == pytest.approx(first[:, 1:].mean())
    table = (results / "summary.md").read_text()
    assert "| CartPole-v1 | reinforce | 2 |" in table
    assert (results / "CartPole-v1.png").exists() and (results / "CartPole-v1_training.png").exists()


def ray_task_processes(driver: subprocess.Popen) -> list[psutil.Process]:
    """
    The Ray workers running a run for this driver (Ray titles a worker after the task it executes): its local
    runtime's processes descend from it, and another study's on the same machine must be left alone.
    """
    found = []
    for process in psutil.Process(driver.pid).children(recursive=True):
        try:
            if any("ray::train_run" in part for part in process.cmdline()):
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_a_killed_worker_is_retried(tmp_path):
    run_list = tiny_run_list(tmp_path, steps=4000)
    driver = subprocess.Popen(
        run_command(tmp_path, run_list, "--jobs", "2"), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    wait_for(lambda: len(ray_task_processes(driver)) >= 1)
    time.sleep(1.0)  # mid-run
    ray_task_processes(driver)[0].kill()
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output
    assert "2 done, 0 running, 0 failed" in output
    assert all((tmp_path / "results" / "runs" / f"tiny_s{seed}.csv").exists() for seed in (0, 1))


def test_a_killed_driver_resumes_where_it_stopped(tmp_path):
    run_list = tiny_run_list(tmp_path, steps=1000, seeds=(0, 1, 2))
    first = tmp_path / "results" / "runs" / "tiny_s0.csv"
    driver = subprocess.Popen(
        run_command(tmp_path, run_list, "--jobs", "1"), cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True
    )
    wait_for(first.exists)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray runtime it started
    driver.wait()
    finished = first.stat().st_mtime_ns
    output = subprocess.run(
        run_command(tmp_path, run_list, "--jobs", "2"), cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    to_do = int(output.split(" runs to do")[0].split()[-1])
    assert to_do in (1, 2)  # tiny_s0 is done; tiny_s1 may have finished before the kill
    assert first.stat().st_mtime_ns == finished
    assert all((tmp_path / "results" / "runs" / f"tiny_s{seed}.csv").exists() for seed in (0, 1, 2))


def test_first_reaching_counts_episodes_and_steps(tmp_path):
    from benchmarks.harness.report import first_reaching

    path = tmp_path / "episodes.csv"
    rows = [(10, 10.0), (30, 20.0), (60, 30.0), (100, 40.0)]
    path.write_text("timesteps,return,length\n" + "".join(f"{t},{r},0\n" for t, r in rows))
    assert first_reaching(path, 25.0, window=2) == (3, 60)  # mean of 20 and 30
    assert first_reaching(path, 35.0, window=2) == (4, 100)
    assert first_reaching(path, 50.0, window=2) is None


def test_suite_cost_scales_the_marginal_cost_and_bounds_the_evaluations(tmp_path):
    from benchmarks.suite_timing import report

    suite = tmp_path / "suite.txt"
    suite.write_text(
        "".join(
            f"cp_s{seed} --algo reinforce --env CartPole-v1 -n 40000 --eval-freq 20000 --seed {seed}\n"
            for seed in (0, 1)
        )
    )
    rows = [
        {"algo": "reinforce", "env": "CartPole-v1", "steps": 20_000, "cpu_s": 30.0, "rc": 0},
        {"algo": "startup", "env": "CartPole-v1", "steps": 1, "cpu_s": 10.0, "rc": 0},
        {"algo": "eval_step", "env": "CartPole-v1", "steps": 3_000, "cpu_s": 3.0, "rc": 0},
    ]
    runs = report(rows, suite, tmp_path / "cost.md")
    # Training: the fixed 10 s once, the 20 s per 20k steps twice; evaluations: 2 x 10 episodes x 500 steps x 1 ms
    assert runs == {("CartPole-v1", "reinforce"): [60.0, 60.0]}
    assert "| CartPole-v1 | 1 | 0 | 0.0 |" in (tmp_path / "cost.md").read_text()


def test_tuned_a2c_draws_the_initial_policy_too(monkeypatch):
    """The table's A2C studies search the zoo's A2C space plus the initial policy ours search; the package's doesn't."""
    import optuna
    from rl_zoo3 import hyperparams_opt
    from stable_baselines3 import A2C

    import sb3_pg.zoo

    sb3_pg.zoo.register()
    from benchmarks.harness.tuning import a2c_space, register_a2c_space

    assert hyperparams_opt.HYPERPARAMS_SAMPLER["a2c"] is hyperparams_opt.sample_a2c_params
    sample, convert = a2c_space()
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    params = sample(trial, n_actions=1, n_envs=1, additional_args={})
    assert {"log_std_init", "ortho_init", "n_steps", "one_minus_gae_lambda"} <= set(trial.params)
    assert convert(trial.params) == params  # what export writes
    for table in (hyperparams_opt.HYPERPARAMS_SAMPLER, hyperparams_opt.HYPERPARAMS_CONVERTER):
        monkeypatch.setitem(table, "a2c", table["a2c"])  # restored after the test
    register_a2c_space()  # what a tuning worker's process does
    assert hyperparams_opt.HYPERPARAMS_SAMPLER["a2c"](trial, n_actions=1, n_envs=1, additional_args={}) == params
    model = A2C("MlpPolicy", "Pendulum-v1", **params)
    assert model.policy.log_std.detach().numpy() == pytest.approx([trial.params["log_std_init"]])
    assert model.policy.ortho_init == trial.params["ortho_init"]


def test_variance_study(tmp_path):
    out = tmp_path / "variance"
    args = ["--envs", "CartPole-v1", "--scale", "0.005", "--n-batches", "3"]
    command = [sys.executable, "benchmarks/variance.py", *args, "--out", str(out), "--logs", str(tmp_path / "logs")]
    subprocess.run(command, cwd=ROOT, check=True)
    results = json.loads((out / "results.json").read_text())["CartPole-v1"]
    assert len(results) == 3  # start, mid, late
    assert all(set(stats) == {"critic_mse", *PHI_FORMS} for stats in results.values())
    assert (out / "CartPole-v1.png").exists()
    assert len((out / "summary.md").read_text().splitlines()) == 8 + 3 * len(PHI_FORMS)


def test_aliasing_study_reads_each_learned_policy_against_the_optimum(tmp_path):
    """Models as the runner keeps them: a policy set by hand to p* and to always-right, and a DQN read both ways."""
    import torch as th
    from stable_baselines3 import DQN

    from sb3_pg import REINFORCE
    from sb3_pg.envs.aliased import SHORT_CORRIDOR_P_STAR

    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, p in enumerate([SHORT_CORRIDOR_P_STAR, 1.0 - 1e-9]):
        model = REINFORCE("MlpPolicy", "sb3_pg/ShortCorridor-v0", policy_kwargs={"net_arch": []}, seed=seed)
        with th.no_grad():  # logits = bias: the probability of right is p
            model.policy.action_net.weight.zero_()
            model.policy.action_net.bias.copy_(th.tensor([0.0, float(np.log(p / (1 - p)))]))
        model.save(runs / f"sc_reinforce_s{seed}.zip")
    DQN("MlpPolicy", "sb3_pg/AliasedGridworld-v0", seed=0).save(runs / "gw_dqn_s0.zip")
    subprocess.run([sys.executable, "benchmarks/aliasing.py", "--results", str(tmp_path)], cwd=ROOT, check=True)
    summary = json.loads((tmp_path / "summary.json").read_text())
    optimal, greedy = summary["runs"]["sb3_pg/ShortCorridor-v0|reinforce"]
    assert optimal["fraction"] == pytest.approx(1.0, abs=1e-6) and optimal["p_right"] == pytest.approx(0.5858, abs=1e-4)
    assert greedy["value"] == pytest.approx(-1000 * (1 - 1e-6), rel=1e-3)  # cut by the time limit
    assert {"sb3_pg/AliasedGridworld-v0|dqn", "sb3_pg/AliasedGridworld-v0|dqn_eps"} <= set(summary["runs"])
    assert (tmp_path / "aliasing.png").stat().st_size > 0
    assert "| REINFORCE: G_t, standardised | 2 |" in (tmp_path / "summary.md").read_text()


def write_synthetic_runs(runs: Path, name: str, finals: np.ndarray) -> None:
    """Evaluation CSVs whose curves rise linearly to the given final returns (10 identical episodes each)."""
    runs.mkdir(parents=True, exist_ok=True)
    for seed, final in enumerate(finals):
        rows = [f"{step * 1000}," + ",".join([f"{final * step / 4:.6f}"] * 10) for step in range(1, 5)]
        header = "timesteps," + ",".join(f"return_{i}" for i in range(10))
        (runs / f"{name}_s{seed}.csv").write_text("\n".join([header, *rows]) + "\n")
        (runs / f"{name}_s{seed}.json").write_text(json.dumps({"wall_time_s": 60.0}))


def test_a_rows_interval_does_not_depend_on_the_other_rows():
    """Adding a row to a table (or a pair) leaves every other row's bootstrap interval as it was."""
    from benchmarks.harness.report import improvement, interval

    rng = np.random.default_rng(0)
    a, b = rng.normal(100.0, 5.0, size=(10, 1)), rng.normal(110.0, 5.0, size=(10, 1))
    points, bounds = interval({"a": a}, reps=500)
    more_points, more_bounds = interval({"b": b, "a": a}, reps=500)
    np.testing.assert_array_equal(points["a"], more_points["a"])
    np.testing.assert_array_equal(bounds["a"], more_bounds["a"])
    _, pair = improvement({"a > b": (a, b)}, reps=500)
    _, more_pairs = improvement({"b > a": (b, a), "a > b": (a, b)}, reps=500)
    np.testing.assert_array_equal(pair["a > b"], more_pairs["a > b"])


def test_intervals_are_rliables_to_the_bit():
    """
    The vectorised bootstrap gives rliable's own point estimates and intervals (``get_interval_estimates``
    from the same seeded global RNG), bit for bit: one and several tasks, tied scores, and P(X > Y) between
    run counts that differ and between identical runs.
    """
    from rliable import library as rly
    from rliable import metrics

    from benchmarks.harness.report import improvement, interval

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    def rliable(scores: dict, function) -> tuple[dict, dict]:
        np.random.seed(0)
        return rly.get_interval_estimates(scores, function, reps=1000)

    rng = np.random.default_rng(0)
    ties = rng.integers(0, 4, size=(10, 1)).astype(float)
    scores = {"one task": rng.normal(1000, 500, size=(10, 1)), "tasks": rng.normal(size=(3, 19)), "ties": ties}
    pairs = {
        "unequal runs": (rng.normal(size=(7, 1)), rng.normal(0.3, 1.0, size=(10, 1))),
        "ties": (ties, rng.integers(0, 4, size=(10, 1)).astype(float)),
        "identical": (ties, ties),
    }
    poi = metrics.probability_of_improvement
    for ours, function, cases in ((interval, aggregate, scores), (improvement, poi, pairs)):
        for key, value in cases.items():
            points, bounds = ours({key: value}, reps=1000)
            expected_points, expected_bounds = rliable({key: value}, function)
            np.testing.assert_array_equal(points[key], expected_points[key], err_msg=key)
            np.testing.assert_array_equal(bounds[key], expected_bounds[key], err_msg=key)


def test_rliable_summary_on_synthetic_runs(tmp_path):
    """
    Two envs, three methods with a known order (ppo ≫ a2c > reinforce on both) and 10 seeds: the intervals
    contain the true values, the probability of improvement is near 1 where one method dominates and
    near 1/2 between two draws of one distribution, and the normalised aggregate keeps the order; the
    README's block gets the short table with the same figures.
    """
    from benchmarks.harness.report import summarize

    rng = np.random.default_rng(0)
    truth = {"reinforce": 100.0, "a2c": 110.0, "ppo": 300.0}
    lines = []
    for prefix, env in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1")):
        for algo, mean in truth.items():
            write_synthetic_runs(tmp_path / "runs", f"{prefix}_{algo}", rng.normal(mean, 5.0, size=10))
            lines += [f"{prefix}_{algo}_s{seed} --algo {algo} --env {env} --seed {seed}" for seed in range(10)]
    run_list = tmp_path / "runs.txt"
    run_list.write_text("\n".join(lines) + "\n")
    readme = tmp_path / "README.md"
    marker = tmp_path.name  # the results folder's name
    readme.write_text(f"intro\n<!-- {marker} -->\n| stale |\n<!-- /{marker} -->\noutro\n")
    summarize(
        run_list,
        tmp_path,
        None,
        100,
        pairs=[("a2c", "reinforce")],
        reps=2000,
        references={"Acrobot-v1": 300.0},
        readmes=[readme],
        names={"ppo": "PPO (zoo)"},
    )

    summary = json.loads((tmp_path / "summary.json").read_text())
    covered = 0
    for env in ("CartPole-v1", "Acrobot-v1"):
        for algo, mean in truth.items():
            point, low, high = summary[f"{env}/{algo}"]["final_mean"]
            assert low < point < high and high - low < 20  # about ± 2 standard errors of 10 seeds with std 5
            covered += low <= mean <= high
            assert summary[f"{env}/{algo}"]["final_sample_std"] == pytest.approx(5.0, rel=0.5)
    assert covered >= 5  # 95% intervals: six of them miss twice in about 3% of draws
    improvement = summary["probability_of_improvement"]
    assert improvement["CartPole-v1: ppo > a2c"][0] == 1.0  # dominates every run
    assert improvement["CartPole-v1: a2c > reinforce"][0] > 0.8  # 10 apart, std 5: P = Φ(10 / √50) ≈ 0.92
    assert improvement["CartPole-v1: a2c > reinforce"][1] > 0.5
    iqm = summary["normalised"]["iqm"]
    assert iqm["reinforce"][0] < iqm["a2c"][0] < iqm["ppo"][0]
    low, high = summary["normalised"]["scale"]["Acrobot-v1"]
    assert high == 300.0 and low < -400  # the given reference; a random policy's Acrobot return (-500 at most)
    table = (tmp_path / "summary.md").read_text()
    # The full table names rows as the README does (the JSON keeps the labels)
    assert "| CartPole-v1 | PPO (zoo) | 10 |" in table and "| CartPole-v1 | PPO (zoo) > a2c |" in table
    assert "a2c > reinforce" in table
    # The README's block holds the short table, figures as in summary.json; the text around it is kept
    short = readme.read_text().splitlines()
    assert short[:2] == ["intro", f"<!-- {marker} -->"] and short[-2:] == [f"<!-- /{marker} -->", "outro"]
    assert short[2].startswith(
        "| method | seeds | Acrobot-v1: final IQM [95% CI] | final mean ± sample std | area IQM [95% CI] | collapsed |"
    )
    area = summary["normalised"]["auc_iqm"]
    figures = [f for label in truth for f in (*iqm[label], *area[label])]
    assert short[7:9] == [
        "",
        "Normalised over 2 envs (10 seeds each; 0: a random policy, 1: the reference), IQM [95% CI] of the final "
        "return / of the area under the curve: reinforce {:.2f} [{:.2f}, {:.2f}] / {:.2f} [{:.2f}, {:.2f}]; a2c "
        "{:.2f} [{:.2f}, {:.2f}] / {:.2f} [{:.2f}, {:.2f}]; PPO (zoo) {:.2f} [{:.2f}, {:.2f}] / "
        "{:.2f} [{:.2f}, {:.2f}].".format(*figures),
    ]
    for row, label in zip(short[4:7], truth, strict=True):
        cells = [f"{label if label != 'ppo' else 'PPO (zoo)'}", "10"]
        for env in ("Acrobot-v1", "CartPole-v1"):  # the envs in sorted order
            final = np.array(summary[f"{env}/{label}"]["final"])
            cells += ["{:.0f} [{:.0f}, {:.0f}]".format(*summary[f"{env}/{label}"]["final_iqm"])]
            cells += [f"{final.mean():.0f} ± {final.std(ddof=1):.0f}"]
            cells += ["{:.0f} [{:.0f}, {:.0f}]".format(*summary[f"{env}/{label}"]["auc_iqm"]), "0 / 10"]
        assert row == "| " + " | ".join(cells) + " |"
    assert all(
        (tmp_path / name).exists() for name in ("CartPole-v1.png", "aggregate_intervals.png", "aggregate_profiles.png")
    )


def test_short_table_shows_unequal_seeds_and_missing_rows():
    from benchmarks.harness.report import ShortCell, short_table

    rows = {"a2c": {"Hop": ShortCell(10, "1 [0, 2]", "1 ± 1", "0 [0, 1]", 0)}}
    rows["a2c"]["Chee"] = ShortCell(10, "3 [2, 4]", "3 ± 1", "2 [1, 3]", 1)
    rows["ppo_zoo"] = {"Hop": ShortCell(3, "5 [4, 6]", "5 ± 1", "4 [3, 5]", 0)}
    lines = short_table(rows, ["Chee", "Hop"], {"ppo_zoo": "PPO (zoo-tuned)"}).splitlines()
    assert lines[2] == "| a2c | 10 | 3 [2, 4] | 3 ± 1 | 2 [1, 3] | 1 / 10 | 1 [0, 2] | 1 ± 1 | 0 [0, 1] | 0 / 10 |"
    assert lines[3] == "| PPO (zoo-tuned) | 0 / 3 | - | - | - | - | 5 [4, 6] | 5 ± 1 | 4 [3, 5] | 0 / 3 |"
    # A suite (more envs than methods): a row per env, the methods side by side, collapses named where any
    rows["a2c"]["Ant"] = ShortCell(1, "7 [7, 7]", "7 ± nan", "6 [6, 6]", 0)
    lines = short_table(rows, ["Chee", "Hop", "Ant"], {"ppo_zoo": "PPO (zoo-tuned)"}).splitlines()
    assert lines[0] == "| env | seeds | a2c | PPO (zoo-tuned) |"
    assert lines[2:] == [
        "| Chee | 10 / 0 | 3 [2, 4] (1 / 10 collapsed) | - |",
        "| Hop | 10 / 3 | 1 [0, 2] | 5 [4, 6] |",
        "| Ant | 1 / 0 | 7 [7, 7] | - |",
    ]


def test_summary_counts_collapses_reads_the_area_and_stops_at_the_budget(tmp_path, monkeypatch):
    """
    ppo rises to 200 and stays; a2c reaches 400 early, then falls to 50 on seeds 0-2 (they collapse: 350 lost of
    a 400 gain, over a quarter of the 0 → 200 range) or to 300 on seed 3 (100 lost: under half its gain); seed 4
    peaks at 60 and ends at 20 (over half its gain, under a quarter of the range). The final return ranks ppo first;
    the area under the curve ranks a2c first. Evaluations after a run's budget (-n) are not
    read: each run's last one would reverse the order.
    """
    from benchmarks.harness import report

    monkeypatch.setattr(report, "random_policy_return", lambda env: 0.0)
    runs = tmp_path / "runs"
    runs.mkdir()
    curves = {
        "ppo": [[50, 100, 150, 200, 200, 200, 200, 200, 200, 200, -900]] * 4,
        "a2c": [[400, 400, 400, 400, 400, 400, 300, 200, 100, 50, 900]] * 3
        + [[400, 400, 400, 400, 400, 400, 350, 300, 300, 300, 900], [60, 60, 60, 60, 60, 60, 60, 60, 60, 20, 900]],
    }
    header = "timesteps," + ",".join(f"return_{i}" for i in range(10))
    lines = []
    for algo, seeds in curves.items():
        for seed, curve in enumerate(seeds):
            name = f"cp_{algo}_s{seed}"
            rows = [f"{1000 * (step + 1)}," + ",".join([str(value)] * 10) for step, value in enumerate(curve)]
            (runs / f"{name}.csv").write_text("\n".join([header, *rows]) + "\n")
            command = f"python -m sb3_pg train --algo {algo} --env CartPole-v1 -n 10000 --seed {seed}"
            (runs / f"{name}.json").write_text(json.dumps({"wall_time_s": 60.0, "command": command}))
            lines.append(f"{name} --algo {algo} --env CartPole-v1 -n 10000 --seed {seed}")
    run_list = tmp_path / "runs.txt"
    run_list.write_text("\n".join(lines) + "\n")
    report.summarize(run_list, tmp_path, None, 100, reps=500)

    summary = json.loads((tmp_path / "summary.json").read_text())
    ppo, a2c = summary["CartPole-v1/ppo"], summary["CartPole-v1/a2c"]
    assert ppo["final"] == [200.0] * 4 and a2c["final"] == [50.0] * 3 + [300.0, 20.0]
    assert ppo["final_step"] == a2c["final_step"] == 10_000.0
    assert ppo["collapsed"] == [] and a2c["collapsed"] == [f"cp_a2c_s{seed}" for seed in range(3)]
    assert summary["probability_of_improvement"]["CartPole-v1: ppo > a2c"][0] == 0.8
    assert summary["probability_of_improvement_auc"]["CartPole-v1: ppo > a2c"][0] == 0.2
    table = (tmp_path / "summary.md").read_text()
    assert "| CartPole-v1 | ppo > a2c | 0.80 [" in table
    assert "| 3 / 5 | 50 / 50 / 50 / 300 / 20 | 10000 |" in table and "CartPole-v1 0 → 200." in table
    assert "Collapsed: a seed collapsed when its last evaluation has lost at least 50% of its best" in table


def test_a_runs_budget_is_its_n_else_its_entrys():
    from benchmarks.harness.report import budget_of, within_budget

    entry = {"hyperparameters": {"n_timesteps": "1000000.0"}}
    assert budget_of({"command": "python -m sb3_pg train --algo a2c -n 20000 --seed 0", **entry}) == 20_000
    assert budget_of({"command": "python -m sb3_pg train --algo a2c --seed 0", **entry}) == 1_000_000
    assert budget_of({"wall_time_s": 60.0}) is None  # a run file from before the fields: every evaluation counts
    steps, returns = np.array([10.0, 20.0, 31.0]), np.array([1.0, 2.0, 3.0])
    assert within_budget((steps, returns), 20)[1].tolist() == [1.0, 2.0]
    assert within_budget((steps, returns), None)[1].tolist() == [1.0, 2.0, 3.0]
    assert within_budget((steps, returns), 5)[1].tolist() == [1.0, 2.0, 3.0]  # none within it: not an empty curve


def test_a_partial_study_aggregates_its_finished_envs(tmp_path, monkeypatch):
    """An env with runs still to come stays out of the aggregate (named), rather than cutting every env's seeds."""
    from benchmarks.harness import report

    monkeypatch.setattr(report, "random_policy_return", lambda env: 0.0)
    rng = np.random.default_rng(0)
    lines = []
    for prefix, env in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1"), ("pe", "Pendulum-v1")):
        for algo, mean in (("reinforce", 100.0), ("ppo", 300.0)):
            seeds = 1 if prefix == "pe" and algo == "ppo" else 4  # Pendulum's ppo: 1 of 4 seeds finished
            write_synthetic_runs(tmp_path / "runs", f"{prefix}_{algo}", rng.normal(mean, 5.0, size=seeds))
            lines += [f"{prefix}_{algo}_s{seed} --algo {algo} --env {env} --seed {seed}" for seed in range(4)]
    lines += [f"mc_reinforce_s{seed} --algo reinforce --env MountainCar-v0 --seed {seed}" for seed in range(4)]
    run_list = tmp_path / "runs.txt"
    run_list.write_text("\n".join(lines) + "\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"<!-- {tmp_path.name} -->\n<!-- /{tmp_path.name} -->\n")
    report.summarize(run_list, tmp_path, None, 100, reps=500, readmes=[readme])

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["normalised"]["scale"]) == {"CartPole-v1", "Acrobot-v1"}
    assert summary["Pendulum-v1/ppo"]["final"] and len(summary["Pendulum-v1/ppo"]["final"]) == 1
    assert "Over envs (4 seeds each)" in (tmp_path / "summary.md").read_text()
    block = readme.read_text()
    assert "| Pendulum-v1 | 4 / 1 |" in block  # its cells are shown with their seed counts
    assert "| MountainCar-v0 | 0 | - | - |" in block  # and the list's envs with none finished yet
    assert "over 2 envs (4 seeds each" in block
    assert "Not yet in it (runs to come): MountainCar-v0, Pendulum-v1." in block


def test_a_row_being_added_stays_out_of_the_aggregate(tmp_path, monkeypatch):
    """A method with runs still to come leaves the others' aggregate over every env as it was, and is named."""
    from benchmarks.harness import report

    monkeypatch.setattr(report, "random_policy_return", lambda env: 0.0)
    rng = np.random.default_rng(0)
    lines = []
    for prefix, env in (("cp", "CartPole-v1"), ("ac", "Acrobot-v1")):
        for algo, mean in (("reinforce", 100.0), ("ppo", 300.0)):
            write_synthetic_runs(tmp_path / "runs", f"{prefix}_{algo}", rng.normal(mean, 5.0, size=4))
            lines += [f"{prefix}_{algo}_s{seed} --algo {algo} --env {env} --seed {seed}" for seed in range(4)]
    write_synthetic_runs(tmp_path / "runs", "cp_a2c", rng.normal(200.0, 5.0, size=2))  # 2 of 4 seeds, one env so far
    lines += [f"cp_a2c_s{seed} --algo a2c --env CartPole-v1 --seed {seed}" for seed in range(4)]
    run_list = tmp_path / "runs.txt"
    run_list.write_text("\n".join(lines) + "\n")
    report.summarize(run_list, tmp_path, None, 100, reps=500, names={"a2c": "A2C (new)"})

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["normalised"]["scale"]) == {"CartPole-v1", "Acrobot-v1"}
    assert set(summary["normalised"]["iqm"]) == {"reinforce", "ppo"}
    table = (tmp_path / "summary.md").read_text()
    assert "Over envs (4 seeds each)" in table and "Not yet in it (runs to come): A2C (new)." in table
    # its first env finished, the next not yet listed: still named as not in it
    write_synthetic_runs(tmp_path / "runs", "cp_a2c", rng.normal(200.0, 5.0, size=4))
    report.summarize(run_list, tmp_path, None, 100, reps=500, names={"a2c": "A2C (new)"})
    assert "Not yet in it (runs to come): A2C (new)." in (tmp_path / "summary.md").read_text()


def test_summary_refuses_a_readme_without_its_block_or_an_unknown_name(tmp_path, monkeypatch):
    """Both are found out before the bootstrap's minutes, not after them."""
    from benchmarks.harness import report
    from benchmarks.harness.report import summarize

    def bootstrap(*args, **kwargs):
        raise AssertionError("the bootstrap started")

    monkeypatch.setattr(report, "interval", bootstrap)
    write_synthetic_runs(tmp_path / "runs", "cp_a2c", [100.0, 110.0])
    run_list = tmp_path / "runs.txt"
    run_list.write_text(
        "cp_a2c_s0 --algo a2c --env CartPole-v1 --seed 0\ncp_a2c_s1 --algo a2c --env CartPole-v1 --seed 1\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"<!-- /{tmp_path.name} -->\n<!-- {tmp_path.name} -->\n")  # end before start
    with pytest.raises(ValueError, match=f"--readme {readme}: needs one '<!-- {tmp_path.name} -->'"):
        summarize(run_list, tmp_path, None, 100, readmes=[readme])
    with pytest.raises(ValueError, match="no method labelled pp0"):
        summarize(run_list, tmp_path, None, 100, names={"pp0": "PPO"})


def test_tune_reports_bad_input_as_usage_and_keeps_other_errors(tmp_path, monkeypatch, capsys):
    """
    ``zoo_runs.py tune``: a malformed ``--fixed`` or a resumed study's other fixed parameters is a one-line usage
    error (exit 2); a ValueError raised while tuning is not the user's input and keeps its traceback.
    """
    from benchmarks import zoo_runs
    from benchmarks.harness import tuning

    storage = str(tmp_path / "study.log")
    study = tuning.create_study(storage, "mc", {"gae_lambda": 1.0})
    study.tell(study.ask(), 1.0)  # a study with a trial is resumed, and keeps its fixed parameters

    def tuned(*fixed: str) -> None:
        command = ["zoo_runs.py", "tune", "--algo", "reinforce_baseline", "--env", "Pendulum-v1", "--storage"]
        command += [storage, "--study-name", "mc", "--n-trials", "1", "--n-timesteps", "100", *fixed]
        monkeypatch.setattr(sys, "argv", command)
        zoo_runs.main()

    def boom(args) -> bool:  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    monkeypatch.setattr(zoo_runs, "tune", boom)
    for fixed, message in (([], "was run with --fixed {'gae_lambda': 1.0}, not {}"), (["--fixed", "x"], "NAME=VALUE")):
        with pytest.raises(SystemExit) as exit_:
            tuned(*fixed)
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(ValueError, match="boom"):
        tuned("--fixed", "gae_lambda=1.0")


def test_a_finished_study_is_left_as_it_is(tmp_path, monkeypatch, capsys):
    """
    Resuming a finished study (as ``whole_run.sh`` does for each row's first study) reports it and writes
    nothing: not its journal, not its definition, whose commit stays that of the last round that ran trials.
    """
    from benchmarks import zoo_runs
    from benchmarks.harness import tuning

    storage, results = tmp_path / "study.log", tmp_path / "tuning"
    study = tuning.create_study(str(storage), "done", {"gae_lambda": 1.0}, "whole-run")
    study.tell(study.ask(), 7.0)
    results.mkdir()
    (results / "done.json").write_text('{"commit": "the last round\'s"}\n')
    journal = storage.read_bytes()
    command = ["zoo_runs.py", "tune", "--algo", "reinforce_baseline", "--env", "Pendulum-v1", "--rule", "whole-run"]
    command += ["--storage", str(storage), "--study-name", "done", "--n-trials", "1", "--n-timesteps", "100"]
    command += ["--fixed", "gae_lambda=1.0"]
    monkeypatch.setattr(sys, "argv", [*command, "--results", str(results)])
    with pytest.raises(SystemExit) as exit_:
        zoo_runs.main()
    assert exit_.value.code == 0 and "1 of 1 trials finished; best value 7.0 (trial 0)" in capsys.readouterr().out
    assert storage.read_bytes() == journal
    assert (results / "done.json").read_text() == '{"commit": "the last round\'s"}\n'


def test_a_whole_run_study_scores_two_runs_by_their_second_halves(tmp_path, monkeypatch):
    """
    ``tune --rule whole-run``, through the zoo's own objective in a worker process: each trial trains two runs with
    the same settings, its value is the mean over the runs of their second half of evaluations, the pruner is given
    the running mean of the trial's evaluations, the space draws the learning rates' schedule and keeps a fixed
    parameter out, and a linear schedule is exported as the zoo's lin_ value for both learning rates, which sb3-pg's
    zoo reads back as schedules decaying to 0.
    """
    import argparse

    import optuna

    from benchmarks.harness import tuning
    from sb3_pg.zoo import ExperimentManager

    storage = str(tmp_path / "study.log")
    tuning.create_study(storage, "whole", {"gae_lambda": 1.0}, "whole-run")
    train = ["--algo", "reinforce_baseline", "--env", "CartPole-v1", "-optimize", "--n-jobs", "1", "-n", "2000"]
    train += ["--storage", storage, "--study-name", "whole", "--n-trials", "3", "--n-evaluations", "3"]
    train += ["--eval-episodes", "2", "--sampler", "random", "--pruner", "none", "--seed", "3"]
    worker = "from benchmarks.harness.tuning import tune_worker; import sys; "
    worker += "tune_worker(sys.argv[1:], None, 'reinforce_baseline', {'gae_lambda': 1.0}, 'whole-run')"
    subprocess.run([sys.executable, "-c", worker, *train], cwd=ROOT, check=True, timeout=600)

    study = tuning.open_study(storage, "whole")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 3
    for trial in trials:
        # sb3-pg train registers its samplers again: the worker's wrappers must survive it
        assert "lr_schedule" in trial.params and "gae_lambda" not in trial.params
        runs = trial.user_attrs["evaluations"]
        assert [len(run) for run in runs] == [3, 3]  # two runs, each its own 3 evaluations
        assert trial.value == pytest.approx((np.mean(runs[0][1:]) + np.mean(runs[1][1:])) / 2)
        seen = runs[0] + runs[1]
        assert trial.intermediate_values == {k: pytest.approx(np.mean(seen[:k])) for k in range(1, 7)}
    assert {trial.params["lr_schedule"] for trial in trials} == {"constant", "linear"}
    with pytest.raises(ValueError, match="was run with --rule whole-run, not last-evaluation"):
        tuning.create_study(storage, "whole", {"gae_lambda": 1.0})

    args = argparse.Namespace(algo="reinforce_baseline", env="CartPole-v1", storage=storage, study_name="whole")
    args.definition, args.conf_file = "d", None
    for trial in trials:  # each trial's entry, as export writes the best one
        best = SimpleNamespace(best_trial=trial, user_attrs=study.user_attrs, get_trials=study.get_trials)
        monkeypatch.setattr(tuning, "open_study", lambda *_, best=best: best)
        entry = yaml.safe_load(tuning.export(args))["CartPole-v1"]
        assert entry["gae_lambda"] == 1.0
        schedules = ExperimentManager._preprocess_schedules(dict(entry))
        for key in ("learning_rate", "critic_learning_rate"):
            value = trial.params[key]
            if trial.params["lr_schedule"] == "linear":
                assert entry[key] == f"lin_{value!r}" and schedules[key](0.5) == pytest.approx(value / 2)
            else:
                assert entry[key] == pytest.approx(value)  # a number: constant


def test_the_studies_table_counts_settings_searched_and_cost(tmp_path):
    """`zoo_runs.py studies`: trials by state, distinct settings (a replayed trial is not a new one), best, cost."""
    from optuna.trial import TrialState

    from benchmarks.harness import tuning

    storage = str(tmp_path / "s.log")
    study = tuning.create_study(storage, "s", {}, "whole-run")
    # x = 1 runs twice; the failed trial is not a setting searched
    for x, state in ((1, TrialState.COMPLETE), (2, TrialState.COMPLETE), (1, TrialState.COMPLETE),
                     (3, TrialState.PRUNED), (4, TrialState.FAIL)):  # fmt: skip
        trial = study.ask()
        value = trial.suggest_int("x", x, x) * 10.0
        study.tell(trial, value if state == TrialState.COMPLETE else None, state)
    header, _, row = tuning.study_table([storage]).splitlines()
    assert header.split(" | ")[2:5] == ["complete / pruned / failed", "settings", "best (trial)"]
    assert row.split(" | ")[:5] == ["| s", "whole-run", "3 / 1 / 1", "3", "20.0 (1)"]


def test_a_whole_run_trial_without_an_evaluation_in_its_budget_is_pruned():
    """A batch larger than the budget leaves a run nothing to score: the trial is pruned, not failed."""
    import optuna

    from benchmarks.harness import tuning

    class Manager:
        seed, n_timesteps = 0, 10

    objective = tuning.whole_run_objective(lambda manager, trial: None)  # its runs record no evaluation
    with pytest.raises(optuna.TrialPruned, match="no evaluation within its 10 steps"):
        objective(Manager(), optuna.create_study().ask())


def test_tuning_workers_share_a_postgresql_study(tmp_path, postgresql):
    """Two Ray workers on one optuna study in PostgreSQL finish the 4 trials asked for: none lost, none twice."""
    import optuna
    from optuna.trial import TrialState

    results = tmp_path / "tuning"
    tune = [sys.executable, "benchmarks/zoo_runs.py", "tune", "--algo", "reinforce", "--env", "CartPole-v1"]
    tune += ["--storage", postgresql, "--study-name", "shared", "--n-trials", "4", "--workers", "2"]
    tune += ["--n-timesteps", "1000", "--sampler", "tpe", "--pruner", "median", "--n-evaluations", "2"]
    tune += ["--eval-episodes", "2", "--results", str(results)]
    output = subprocess.run(tune, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "4 of 4 trials finished" in output

    from benchmarks.harness.tuning import with_driver

    # the tool was given the plain URL; here optuna needs psycopg 3 named too (SQLAlchemy 2.0 assumes psycopg2)
    study = optuna.load_study(storage=with_driver(postgresql), study_name="shared")
    assert sorted(trial.number for trial in study.trials) == [0, 1, 2, 3]
    assert all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in study.trials)
    assert len({json.dumps(trial.params, sort_keys=True) for trial in study.trials}) == 4  # no trial drawn twice
    definition = json.loads((results / "shared.json").read_text())
    assert definition["n_trials"] == 4 and definition["n_timesteps"] == 1000 and definition["seeds"] == [100, 101]
    assert (definition["sampler"], definition["pruner"]) == ("tpe", "median")

    # Resumed for one trial more, with the same command: its worker gets a seed of its own, not one that would
    # replay the first trials (the sampler's random start-up draws depend on its seed only)
    resume = [
        *tune[: tune.index("--n-trials")],
        "--n-trials",
        "5",
        "--workers",
        "1",
        *tune[tune.index("--n-timesteps") :],
    ]
    output = subprocess.run(resume, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "5 of 5 trials finished" in output
    study = optuna.load_study(storage=with_driver(postgresql), study_name="shared")
    assert len({json.dumps(trial.params, sort_keys=True) for trial in study.trials}) == 5
    assert json.loads((results / "shared.json").read_text())["seeds"] == [100, 101, 102]

    export = [sys.executable, "benchmarks/zoo_runs.py", "export", "--algo", "reinforce", "--env", "CartPole-v1"]
    export += ["--storage", postgresql, "--study-name", "shared", "--definition", "results/shared.json"]
    # An entry with policy_kwargs of its own: the trials' sampled ones replaced them, and so must the export's
    conf = tmp_path / "tuned_from.yml"
    conf.write_text(
        "CartPole-v1:\n  n_envs: 1\n  n_timesteps: 50000\n  policy: 'MlpPolicy'\n"
        "  policy_kwargs: 'dict(log_std_init=-1)'\n"
    )
    export += ["--conf-file", str(conf)]
    entry = subprocess.run(export, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert "# Tuned: optuna study shared" in entry and "results/shared.json" in entry
    keys = ("policy_kwargs", "learning_rate", "min_batch_steps", "n_episodes")
    assert all(entry.count(f"  {key}:") == 1 for key in keys)
    parsed = yaml.safe_load(entry)["CartPole-v1"]
    best = study.best_trial.params
    assert parsed["learning_rate"] == pytest.approx(best["learning_rate"])
    assert parsed["min_batch_steps"] == best["min_batch_steps"] and parsed["n_episodes"] is None
    assert parsed["n_timesteps"] == 50000  # the entry's budget, which training reads, not the trials' 1000


def test_runs_on_an_existing_cluster(tmp_path):
    """--address: a head started with `ray start` (authentication off, as on a private network) runs the list."""
    ray = str(Path(sys.executable).parent / "ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    port = str(6400 + os.getpid() % 500)
    head = subprocess.Popen(
        [ray, "start", "--head", "--port", port, "--num-cpus", "1", "--include-dashboard", "false", "--block"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run_list = tiny_run_list(tmp_path, seeds=(0,))
        command = run_command(tmp_path, run_list, "--address", f"127.0.0.1:{port}")
        for _ in range(60):  # the head takes a few seconds to come up
            result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            if "Failed to connect" not in result.stderr:
                break
            time.sleep(1.0)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "1 done, 0 running, 0 failed" in result.stdout
        assert (tmp_path / "results" / "runs" / "tiny_s0.csv").exists()
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def test_a_run_refuses_uncommitted_code_and_unpinned_versions(tmp_path, monkeypatch, capsys):
    """A run records the commit it ran: with changes HEAD lacks, or other versions than pinned, it does not start."""
    from benchmarks.harness import runner

    run_list = tiny_run_list(tmp_path)
    arguments = (run_list, tmp_path / "logs", tmp_path / "results", 1, False, None)
    monkeypatch.setattr(runner, "uncommitted_changes", lambda: ["sb3_pg/zoo.py"])
    assert runner.run(*arguments) is False
    assert "refusing to run: uncommitted changes in sb3_pg/zoo.py" in capsys.readouterr().out
    monkeypatch.setattr(runner, "uncommitted_changes", list)
    monkeypatch.setattr(runner, "installed_versions", lambda: {**runner.pinned_versions(), "mujoco": "3.17.0"})
    assert runner.run(*arguments) is False
    assert "refusing to run: mujoco 3.17.0 (pinned: 4.0.0)" in capsys.readouterr().out
    assert not (tmp_path / "results" / "runs" / "tiny_s0.csv").exists()


def test_uncommitted_changes_outside_the_results(tmp_path, monkeypatch):
    from benchmarks.harness.runner import uncommitted_changes

    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    assert uncommitted_changes() == []
    (tmp_path / "benchmarks" / "results" / "runs").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "runs" / "a_s0.csv").write_text("1\n")  # a finished run: not code
    assert uncommitted_changes() == []
    (tmp_path / "code.py").write_text("x = 2\n")
    (tmp_path / "new.yml").write_text("a: 1\n")
    assert sorted(uncommitted_changes()) == ["code.py", "new.yml"]


def test_the_pins_are_the_installed_versions():
    """The project's own environment is the pinned one (the Makefile installs it with benchmarks/constraints.txt)."""
    from benchmarks.harness.runner import installed_versions, version_mismatches

    assert version_mismatches(installed_versions()) == []


def test_summarize_refuses_to_pool_physics_versions(tmp_path):
    from benchmarks.harness.report import summarize

    write_synthetic_runs(tmp_path / "runs", "cp_reinforce", [100.0, 110.0])
    for seed, version in ((0, "4.0.0"), (1, "3.17.0")):
        path = tmp_path / "runs" / f"cp_reinforce_s{seed}.json"
        versions = {"mujoco": version, "gymnasium": "1.4.0"}
        path.write_text(json.dumps({"wall_time_s": 60.0, "versions": versions}))
    run_list = tmp_path / "runs.txt"
    run_list.write_text("".join(f"cp_reinforce_s{s} --algo reinforce --env CartPole-v1 --seed {s}\n" for s in (0, 1)))
    with pytest.raises(ValueError, match=r"different physics versions.*s0: mujoco 4.0.0.*s1: mujoco 3.17.0"):
        summarize(run_list, tmp_path, None, 100, pairs=[], reps=100, references={}, readmes=[], names={})
    # One version: the cell says which, in the table and in the JSON
    (tmp_path / "runs" / "cp_reinforce_s1.json").write_text((tmp_path / "runs" / "cp_reinforce_s0.json").read_text())
    summarize(run_list, tmp_path, None, 100, pairs=[], reps=100, references={}, readmes=[], names={})
    (row,) = [line for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith("| CartPole")]
    assert row.endswith("| mujoco 4.0.0, gymnasium 1.4.0 |")
    assert json.loads((tmp_path / "summary.json").read_text())["CartPole-v1/reinforce"]["physics"].startswith("mujoco")


def test_readme_examples_run_as_written_and_fail_below_the_threshold(tmp_path):
    """The README's block, seeded and evaluated after each learn(); a budget too small to solve CartPole fails."""
    import ast

    from benchmarks.readme_examples import ALGOS, first_python_block, learns

    block = first_python_block(ROOT / "README.md")
    calls = [statement for statement in ast.parse(block).body if learns(statement)]
    assert len(calls) == 3  # one learn() per algorithm: each is evaluated
    assert all(name in block for name in ALGOS)

    readme = tmp_path / "README.md"
    readme.write_text(
        '```python\nfrom sb3_pg import REINFORCE\n\nmodel = REINFORCE("MlpPolicy", "CartPole-v1").learn(300)\n```\n'
    )
    output = tmp_path / "examples.json"
    runs = []
    for _ in range(2):
        command = [sys.executable, "benchmarks/readme_examples.py", "--readme", str(readme), "--seeds", "3"]
        done = subprocess.run([*command, "--output", str(output)], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 1 and "below the task's threshold: REINFORCE on CartPole-v1, seed 3" in done.stdout
        (run,) = json.loads(output.read_text())["runs"]
        runs.append(run)
    assert runs[0]["timesteps"] >= 300 and runs[0]["threshold"] == 475 and not runs[0]["solved"]
    assert runs[0]["mean_return"] == runs[1]["mean_return"]  # the seed reached the constructor


def test_the_whole_run_script_adds_each_row_once(tmp_path):
    """
    benchmarks/whole_run.sh, with a stand-in for Python that records its commands: for each row, both studies, each
    winner exported once, the row's 20 runs added to comparison.txt and committed, then run; a second call (a resume)
    tunes and runs again (both skip what is done) but exports, adds and commits nothing more.
    """
    (tmp_path / "benchmarks" / "hyperparams").mkdir(parents=True)
    script = tmp_path / "benchmarks" / "whole_run.sh"
    script.write_text((ROOT / "benchmarks" / "whole_run.sh").read_text())
    script.chmod(0o755)
    (tmp_path / "benchmarks" / "comparison.txt").write_text("hc_ppo_s0 --algo ppo --env HalfCheetah-v5 --seed 0\n")
    python = tmp_path / "python"
    python.write_text(
        '#!/usr/bin/env bash\necho "$*" >> "$(dirname "$0")/commands"\n'
        'if [ "$2" = export ]; then printf "%s:\\n  n_timesteps: 1000000\\n" "$6"; fi\n'
    )
    python.chmod(0o755)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=tmp_path, check=True)
    env = {**os.environ, "PYTHON": str(python), "ROWS": "reinforce_baseline_lambda1 a2c"}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    for _ in range(2):
        subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, check=True, capture_output=True)
    commands = (tmp_path / "commands").read_text().splitlines()
    tunes = [line for line in commands if line.startswith("benchmarks/zoo_runs.py tune")]
    assert len(tunes) == 8 and sum("--fixed gae_lambda=1.0" in line for line in tunes) == 4
    assert "--study-name a2c-Hopper-v5-whole" in tunes[3] and "--n-timesteps 500000" in tunes[0]
    assert sum(" export " in line for line in commands) == 4
    assert sum(line.startswith("benchmarks/zoo_runs.py run benchmarks/comparison.txt") for line in commands) == 4
    conf = yaml.safe_load((tmp_path / "benchmarks/hyperparams/reinforce_baseline_lambda1_whole.yml").read_text())
    assert set(conf) == {"HalfCheetah-v5", "Hopper-v5"}
    runs = (tmp_path / "benchmarks" / "comparison.txt").read_text().splitlines()
    assert len(runs) == 41 and len(set(runs)) == 41
    assert (
        "ho_reinforce_baseline_lambda1_whole_s9 --algo reinforce_baseline --env Hopper-v5 "
        "--conf-file benchmarks/hyperparams/reinforce_baseline_lambda1_whole.yml --seed 9"
    ) in runs
    log = subprocess.run(["git", "log", "--format=%s"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 3  # start, and one commit a row
    status = subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True, text=True)
    assert status.stdout.strip() == "?? commands"  # the entries and the list committed: the runs can start
