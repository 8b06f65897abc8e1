"""
The cost of the suite benchmark's cells before they run (issue 27): each algorithm trains 20k steps on each task
through ``sb3-pg train`` at its entry (one torch thread, no evaluation), one process at a time. The CPU seconds
of the process, scaled to the cell's budget, estimate a run. Writes ``benchmarks/results/suite/timing_20k.json``.

    python benchmarks/suite_timing.py --algos reinforce reinforce_baseline onestep_ac a2c ppo
"""

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root, so that benchmarks.harness imports
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.runner import option, read_run_list

ROOT = Path(__file__).parent.parent
STEPS = 20_000


def cpu_seconds_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["reinforce", "reinforce_baseline", "onestep_ac", "a2c", "ppo"])
    parser.add_argument("--envs", nargs="+", help="default: every task of benchmarks/suite.txt")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "suite" / "timing_20k.json")
    args = parser.parse_args()
    envs = args.envs or sorted({option(run, "--env") for _, run in read_run_list(ROOT / "benchmarks" / "suite.txt")})
    rows = json.loads(args.output.read_text()) if args.output.exists() else []
    done = {(row["algo"], row["env"]) for row in rows}
    for env in envs:
        for algo in args.algos:
            if (algo, env) in done:
                continue
            command = [sys.executable, "-m", "sb3_pg", "train", "--algo", algo, "--env", env, "-n", str(STEPS)]
            command += ["--eval-freq", "-1", "--log-interval", "-2", "-f", "/tmp/sb3_pg_suite_timing", "--seed", "0"]
            start = cpu_seconds_of_children()
            done_process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            cpu = cpu_seconds_of_children() - start
            row = {"algo": algo, "env": env, "steps": STEPS, "cpu_s": round(cpu, 1), "rc": done_process.returncode}
            if done_process.returncode:
                row["error"] = done_process.stderr.strip().splitlines()[-1][:300]
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(rows, indent=1) + "\n")  # each row as it lands: a re-run resumes


if __name__ == "__main__":
    main()
