"""The algorithm packages stand side by side on sb3_pg.common: none imports another."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "sb3_pg"
ALGORITHMS = ("reinforce", "reinforce_baseline", "onestep_ac")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_algorithm_package_imports_no_other(algorithm):
    others = {f"sb3_pg.{other}" for other in ALGORITHMS if other != algorithm}
    for path in (PACKAGE / algorithm).glob("*.py"):
        bad = {m for m in imported_modules(path) if m in others or any(m.startswith(f"{o}.") for o in others)}
        assert not bad, f"{path.name} imports {bad}"
    # and the common base imports none of them
    for path in (PACKAGE / "common").glob("*.py"):
        assert not {m for m in imported_modules(path) if m.startswith(f"sb3_pg.{algorithm}")}, path.name


def test_the_package_imports_only_its_core_dependencies():
    """`import sb3_pg` and training need torch, stable-baselines3, gymnasium and numpy; the rest are extras."""
    core = {"torch", "stable_baselines3", "gymnasium", "numpy", "sb3_pg"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("zoo.py", "__main__.py"):  # the sb3-pg command: the zoo extra
            continue
        third_party = {m.split(".")[0] for m in imported_modules(path)} - set(sys.stdlib_module_names)
        assert third_party <= core, f"{path.relative_to(PACKAGE)} imports {third_party - core}"
