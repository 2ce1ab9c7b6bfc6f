"""Every third-party module the code, tests and benchmarks import is declared in pyproject.toml.

A package that happens to be on the machine (exabgp once was) must not hide a missing install step:
the README's test command installs exactly the project with the extras it names, so anything
imported has to come from ``dependencies`` or one of those extras.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bgpd", "tests", "bench", "tools")
LOCAL = frozenset({"bgpd", "tests", "bench", "tools", "conftest"})


def _requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", spec)
    assert match is not None, spec
    return match.group(0).lower().replace("_", "-")


def _readme_extras() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = readme.split("# 2. run the tests", 1)[1].splitlines()[1]
    match = re.search(r"\.\[([^\]]+)\]", command)
    return set(match.group(1).split(",")) if match else set()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in _readme_extras():
        specs += project["optional-dependencies"][extra]
    return {_requirement_name(s) for s in specs}


def _third_party_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in LOCAL}


def test_readme_test_command_names_the_extras() -> None:
    assert "test" in _readme_extras()


def test_every_imported_package_is_declared() -> None:
    declared = _declared()
    providers = packages_distributions()
    missing: dict[str, str] = {}
    for folder in SCANNED:
        for path in (ROOT / folder).rglob("*.py"):
            for module in _third_party_imports(path):
                dists = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
                if not dists & declared:
                    missing[module] = str(path.relative_to(ROOT))
    assert not missing, f"imported but not declared for the README's test command: {missing}"


def test_every_declared_package_has_a_reason_in_the_docs() -> None:
    reasons = (ROOT / "docs" / "dependencies.md").read_text(encoding="utf-8")
    listed = {
        _requirement_name(name)
        for row in re.findall(r"^\| (`[^|]+`) \|", reasons, flags=re.MULTILINE)
        for name in re.findall(r"`([^`]+)`", row)
    }
    assert _declared() - listed == set()
