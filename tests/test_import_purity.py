"""The protocol core stays pure: no I/O, clocks, logging or validation frameworks below the speaker.

Walks every module's import statements with ``ast`` so a forbidden import fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "bgpd"
PURE_PACKAGES = ("wire", "fsm", "rib")
FORBIDDEN = frozenset(
    {"asyncio", "socket", "time", "logging", "structlog", "pydantic", "uvloop", "selectors", "threading"}
)


def _imported_top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _pure_modules() -> list[Path]:
    return sorted(p for pkg in PURE_PACKAGES for p in (PACKAGE_ROOT / pkg).rglob("*.py"))


def test_pure_packages_have_modules() -> None:
    assert any(p.parent.name == "wire" for p in _pure_modules())


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_pure_module_imports_nothing_forbidden(path: Path) -> None:
    bad = _imported_top_level_names(path) & FORBIDDEN
    assert not bad, f"{path} imports {sorted(bad)}"


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom asyncio import sleep\nimport time as t\n")
    assert _imported_top_level_names(sample) & FORBIDDEN == {"asyncio", "time"}
