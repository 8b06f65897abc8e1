"""Smoke tests: each benchmark study runs end to end on a tiny budget (numbers are not checked here)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sb3_pg.common.callbacks import PHI_FORMS

ROOT = Path(__file__).parent.parent


def test_throughput_study(tmp_path):
    out = tmp_path / "throughput"
    args = ["--methods", "reinforce", "onestep_ac", "a2c", "env_only", "--steps", "300", "--repeats", "1"]
    subprocess.run([sys.executable, "benchmarks/throughput.py", *args, "--out", str(out)], cwd=ROOT, check=True)
    rates = json.loads(out.with_suffix(".json").read_text())["rates"]
    assert set(rates) == {f"CartPole-v1|1|{m}" for m in ["reinforce", "onestep_ac", "a2c", "env_only"]}
    assert all(rate["median"] > 0 for rate in rates.values())
    table = out.with_suffix(".md").read_text().splitlines()
    assert len(table) == 2 + 4
    assert any("| a2c | " in row and "| 1.00 |" in row for row in table)


def test_zoo_runs_resume_and_summarize(tmp_path):
    run_list = tmp_path / "runs.txt"
    args = "--algo reinforce --env CartPole-v1 -n 1000 --eval-freq 500"
    lines = [f"tiny_s{seed} {args} --seed {seed}" for seed in (0, 1)]
    run_list.write_text("# a comment\n" + "\n".join(lines) + "\n")
    logs, results = tmp_path / "logs", tmp_path / "results"
    script = [sys.executable, "benchmarks/zoo_runs.py"]
    run = [*script, "run", str(run_list), "--logs", str(logs), "--results", str(results), "--episodes"]
    # What a killed run leaves: a lock of a dead runner and a half-written log folder
    (logs / "tiny_s1" / "reinforce" / "CartPole-v1_1").mkdir(parents=True)
    (logs / "tiny_s1.lock").write_text("999999999")
    subprocess.run(run, cwd=ROOT, check=True)
    runs = results / "runs"
    evaluations = (runs / "tiny_s1.csv").read_text().splitlines()
    assert evaluations[0] == "timesteps," + ",".join(f"return_{i}" for i in range(10))
    assert [row.split(",")[0] for row in evaluations[1:]] == ["500", "1000"]
    assert (runs / "tiny_s0_episodes.csv").exists() and not (logs / "tiny_s1.lock").exists()
    finished = (runs / "tiny_s0.csv").stat().st_mtime_ns
    subprocess.run(run, cwd=ROOT, check=True)
    assert (runs / "tiny_s0.csv").stat().st_mtime_ns == finished  # finished runs are skipped

    summary = [*script, "summarize", str(run_list), "--results", str(results)]
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


@pytest.mark.parametrize("study", ["mujoco", "cartpole"])
def test_run_results_are_not_gitignored(study):
    """The committed runs are what a re-run on a fresh clone resumes from: git must not ignore them."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    probe = f"benchmarks/results/{study}/runs/any_s0.json"
    assert subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT).returncode == 1


def test_first_reaching_counts_episodes_and_steps(tmp_path):
    from benchmarks.zoo_runs import first_reaching

    path = tmp_path / "episodes.csv"
    rows = [(10, 10.0), (30, 20.0), (60, 30.0), (100, 40.0)]
    path.write_text("timesteps,return,length\n" + "".join(f"{t},{r},0\n" for t, r in rows))
    assert first_reaching(path, 25.0, window=2) == (3, 60)  # mean of 20 and 30
    assert first_reaching(path, 35.0, window=2) == (4, 100)
    assert first_reaching(path, 50.0, window=2) is None


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
