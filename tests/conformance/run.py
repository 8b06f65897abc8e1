"""
SB3's own test suite with each sb3-pg algorithm in A2C's place (``make conformance``).

Downloads the source distribution of the installed stable-baselines3 (its ``tests/`` are not in the wheel) from
the package index, unpacks its tests into a temporary folder, and runs the algorithm-generic ones once per
algorithm with :mod:`tests.conformance.plugin`, then the policy-related ones once per Monte Carlo algorithm with its
LSTM policies. No SB3 test code is kept in this repository. The last line is
``conformance: N passed, M failed`` (the allow-listed failures of the plugin are counted apart, as expected); the
exit status is 0 when nothing else failed.
"""

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import stable_baselines3

ROOT = Path(__file__).parents[2]
ALGORITHMS = ("REINFORCE", "REINFORCEBaseline", "OneStepAC")
# The Monte Carlo classes again, with their LSTM policies where a test names a feed-forward one
RECURRENT_ALGORITHMS = ("REINFORCE-LSTM", "REINFORCEBaseline-LSTM")
# SB3's tests of what an on-policy algorithm must do, whatever its update
TEST_FILES = (
    "test_run.py",
    "test_save_load.py",
    "test_predict.py",
    "test_spaces.py",
    "test_dict_env.py",
    "test_callbacks.py",
    "test_tensorboard.py",
    "test_train_eval_mode.py",
    "test_cnn.py",
    "test_custom_policy.py",
    "test_vec_normalize.py",
    "test_logger.py",
    "test_deterministic.py",
    "test_distributions.py",
    "test_buffers.py",
)


def sdist(cache: Path) -> Path:
    """The installed stable-baselines3's source distribution, downloaded once into ``cache``."""
    version = stable_baselines3.__version__
    found = sorted(cache.glob(f"stable_baselines3-{version}.tar.gz"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
        subprocess.run([*command, "--dest", str(cache), f"stable-baselines3=={version}"], check=True)
        found = sorted(cache.glob(f"stable_baselines3-{version}.tar.gz"))
    return found[0]


def unpack_tests(archive: Path, destination: Path) -> Path:
    """SB3's tests/ and pyproject.toml (its pytest settings: markers, warning filters) into ``destination``."""
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if re.match(r"[^/]+/(tests/|pyproject.toml$)", m.name) and m.isfile()]
        for member in members:
            member.name = member.name.split("/", 1)[1]
            tar.extract(member, destination, filter="data")
    return destination / "tests"


# With an LSTM policy: the files that test what a policy does for its algorithm (save/load, predict, spaces, Dict
# observations, callbacks, train/eval mode). The others test the same algorithm code with another policy, or
# SB3's own components (logger, distributions, CNN extractors), and sb3-contrib tests RecurrentPPO the same way.
RECURRENT_TEST_FILES = (
    "test_save_load.py",
    "test_predict.py",
    "test_spaces.py",
    "test_dict_env.py",
    "test_callbacks.py",
    "test_train_eval_mode.py",
)


def run(algorithm: str, tests: Path, pytest_args: list[str]) -> dict[str, int]:
    """Run the test files for one algorithm; the counts of pytest's summary line."""
    env = {**os.environ, "SB3_PG_CONFORMANCE_ALGO": algorithm, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    names = RECURRENT_TEST_FILES if algorithm.endswith("-LSTM") else TEST_FILES
    files = [str(tests / name) for name in names if (tests / name).exists()]
    command = [sys.executable, "-m", "pytest", "-p", "tests.conformance.plugin", "-p", "no:cacheprovider", "-q"]
    command += ["--rootdir", str(tests.parent), "-c", str(tests.parent / "pyproject.toml"), "--disable-warnings"]
    result = subprocess.run([*command, *pytest_args, *files], env=env, cwd=tests.parent, text=True, capture_output=True)
    output = result.stdout + result.stderr
    print(f"== {algorithm}\n{output.strip()}\n", flush=True)
    summary = next((line for line in reversed(output.splitlines()) if re.search(r" in [\d.]+s", line)), "")
    counts = {key: int(n) for n, key in re.findall(r"(\d+) (passed|failed|errors?|xfailed|xpassed|skipped)", summary)}
    if result.returncode not in (0, 1) or not counts:
        counts["failed"] = counts.get("failed", 0) + 1  # pytest itself broke: an error, never a pass
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    everything = ALGORITHMS + RECURRENT_ALGORITHMS
    parser.add_argument("--algos", nargs="+", default=everything, choices=everything)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache", help="where the sdist is kept")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="sb3-tests-") as folder:
        tests = unpack_tests(sdist(args.cache), Path(folder))
        for algorithm in args.algos:
            for key, n in run(algorithm, tests, args.pytest_args).items():
                key = "errors" if key == "error" else key
                totals[key] = totals.get(key, 0) + n
    failed = totals.get("failed", 0) + totals.get("errors", 0) + totals.get("xpassed", 0)
    print(
        f"stable-baselines3 {stable_baselines3.__version__}'s tests, {', '.join(args.algos)} in A2C's place: "
        f"{totals.get('xfailed', 0)} expected failures (allow-list in tests/conformance/plugin.py), "
        f"{totals.get('skipped', 0)} skipped"
    )
    print(f"conformance: {totals.get('passed', 0)} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
