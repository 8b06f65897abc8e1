"""
Every code block of the docs runs, at small budgets, so that no example rots. Python blocks are executed; a shell
block's commands are run (sb3-pg), checked against what they name (pip extras, make targets), or, for a study's
whole run list, checked to resume to completion from the committed results without training anything.
"""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from benchmarks.harness.report import group_runs

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(python|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)  # (text blocks are pictures)
# Budgets as written, and the small ones the tests run
SMALL = [
    (r"(\.learn\((?:total_timesteps=)?)[\d_]+", r"\g<1>300"),
    (r"(eval_freq=)[\d_]+", r"\g<1>200"),
    (r'("-n", ")\d+', r"\g<1>300"),
    (r"(-n )\d+", r"\g<1>300"),
    (r"(--n-trials )\d+", r"\g<1>2"),
    (r"(--eval-freq )\d+", r"\g<1>100"),
    (r"(--eval-episodes )\d+", r"\g<1>1"),
]


def blocks() -> list[tuple[Path, int, str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            found.append((page, text[: match.start()].count("\n") + 1, match.group(1), match.group(2)))
    return found


BLOCKS = blocks()


def small(code: str) -> str:
    for pattern, replacement in SMALL:
        code = re.sub(pattern, replacement, code)
    return code


def commands(code: str) -> list[list[str]]:
    lines = code.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def check_pip(args: list[str]) -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    (requirement,) = [arg for arg in args[2:] if not arg.startswith("-") and "://" not in arg]
    name, _, given = requirement.partition("[")
    if name == "torch":  # torch's CPU build, from its own index, before sb3-pg
        assert args[2:] == ["torch", "--index-url", "https://download.pytorch.org/whl/cpu"], args
        return
    assert name == "sb3-pg", requirement
    assert set(filter(None, given.rstrip("]").split(","))) <= extras, requirement


def check_make(args: list[str]) -> None:
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    assert set(args[1:]) <= targets, args


def check_study_resumes(args: list[str]) -> None:
    """``zoo_runs.py run LIST --results DIR``: the list's runs are in the committed results, so it resumes.

    A row whose runs are landing (benchmarks/whole_run.sh commits a row's entries before running them) may miss
    some; only one row at a time, the one being run.
    """
    assert args[:3] == ["python", "benchmarks/zoo_runs.py", "run"], args
    run_list, results = ROOT / args[3], ROOT / args[args.index("--results") + 1]
    groups = group_runs(run_list)  # the table's cells: (env, row label) -> run names
    missing = [
        (label, name)
        for (_, label), names in groups.items()
        for name in names
        if not (results / "runs" / f"{name}.json").is_file()
    ]
    rows = {label for label, _ in missing}
    assert groups and len(rows) <= 1, f"{args[3]}: no committed result for {[name for _, name in missing][:5]}"


def run_sb3_pg(args: list[str], cwd: Path) -> None:
    if args[1] == "train" and "-n" not in args:
        args = [*args, "-n", "300"]
    if "-optimize" in args and "--storage" in args:
        return  # distributed tuning: tests/test_zoo.py runs these commands against a real PostgreSQL
    result = subprocess.run([sys.executable, "-m", "sb3_pg", *args[1:]], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{shlex.join(args)}\n{result.stdout[-1500:]}\n{result.stderr[-1500:]}"


@pytest.mark.parametrize(
    "page, line, language, code", BLOCKS, ids=[f"{p.relative_to(ROOT)}:{n}" for p, n, _, _ in BLOCKS]
)
def test_docs_code_block_runs(page, line, language, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = small(code)
    if language == "python":
        monkeypatch.setattr(sys, "argv", ["docs"])
        exec(compile(code, f"{page}:{line}", "exec"), {"__name__": "__main__"})
        return
    for args in commands(code):
        if args[:2] == ["pip", "install"]:
            check_pip(args)
        elif args[0] == "make":
            check_make(args)
        elif args[0] == "sb3-pg":
            run_sb3_pg(args, tmp_path)
        elif args[:2] == ["optuna", "create-study"]:
            assert "dbhost" in shlex.join(args)  # tests/test_zoo.py runs it against a real PostgreSQL
        elif args[:2] == ["python", "benchmarks/zoo_runs.py"]:
            check_study_resumes(args)
        elif args[:2] == ["python", "benchmarks/aliasing.py"]:  # reads the committed models; writes to a copy
            results = tmp_path / "results"
            shutil.copytree(ROOT / args[args.index("--results") + 1], results)
            subprocess.run([sys.executable, str(ROOT / args[1]), "--results", str(results)], check=True, cwd=ROOT)
        else:
            pytest.fail(f"{page.name}:{line}: no test runs {shlex.join(args)!r}: add it to tests/test_docs.py")


def test_every_page_has_code_that_runs_or_none():
    assert len(BLOCKS) >= 10
    assert {page.name for page, *_ in BLOCKS} >= {"README.md", "install.md", "rl_zoo.md", "reinforce.md"}
