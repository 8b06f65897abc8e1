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


def module_level_imports(path: Path) -> set[str]:
    """What importing the module imports (not the imports inside its functions, made when they are called)."""
    modules = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_the_package_imports_only_its_core_dependencies():
    """
    `import sb3_pg` and training need torch, stable-baselines3 (and sb3-contrib), gymnasium, numpy; not the extras.
    An analysis function may import an extra's package when it is called (the aliased gridworld's optimiser: scipy).
    """
    core = {"torch", "stable_baselines3", "sb3_contrib", "gymnasium", "numpy", "sb3_pg"}
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("zoo.py", "__main__.py"):  # the sb3-pg command: the zoo extra
            continue
        third_party = {m.split(".")[0] for m in module_level_imports(path)} - set(sys.stdlib_module_names)
        assert third_party <= core, f"{path.relative_to(PACKAGE)} imports {third_party - core}"


def test_every_subpackage_is_installed():
    """setuptools installs the packages pyproject.toml lists: a new folder of sb3_pg/ must be among them."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(PACKAGE.parent).parts) for path in PACKAGE.rglob("__init__.py")}
    assert found <= listed, found - listed
