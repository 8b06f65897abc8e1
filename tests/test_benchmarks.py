"""Smoke tests: each benchmark study runs end to end on a tiny budget (numbers are not checked here)."""

import json
import subprocess
import sys
from pathlib import Path

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
    run_list.write_text("# a comment\ntiny --algo reinforce --env CartPole-v1 -n 1000 --eval-freq 500 --seed 0\n")
    logs = tmp_path / "logs"
    script = [sys.executable, "benchmarks/zoo_runs.py"]
    subprocess.run([*script, "run", str(run_list), "--log-folder", str(logs)], cwd=ROOT, check=True)
    assert (logs / "tiny.done").exists()
    marker_time = (logs / "tiny.done").stat().st_mtime_ns
    subprocess.run([*script, "run", str(run_list), "--log-folder", str(logs)], cwd=ROOT, check=True)
    assert (logs / "tiny.done").stat().st_mtime_ns == marker_time  # finished runs are skipped

    out = tmp_path / "summary"
    subprocess.run([*script, "summarize", "--log-folder", str(logs), "--out", str(out)], cwd=ROOT, check=True)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["tiny"]["timesteps"][-1] == 1000
    assert len(summary["tiny"]["mean_return"]) == 2
