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
