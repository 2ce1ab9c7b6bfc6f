"""The protocol core stays pure, and the layers only ever import downward.

Walks every module's import statements with ``ast`` so a forbidden import fails here, not in review:
- below the speaker (wire, fsm, rib) nothing imports I/O, clocks, logging or validation frameworks;
- the packages form one order, wire ← fsm ← rib ← logs ← manifests ← plan ← speaker ← control ←
  daemon ← cli, and a module imports only from its own layer or those before it.
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


LAYERS = ("wire", "fsm", "rib", "logs", "manifests", "plan", "speaker", "control", "daemon", "cli")
"""bgpd's layers, lowest first. ``logs`` is the one shared helper above the pure core."""


def _layer_of(path: Path) -> str | None:
    """The layer a module belongs to: its top-level package or module under ``bgpd/``."""
    first = path.relative_to(PACKAGE_ROOT).parts[0].removesuffix(".py")
    return first if first in LAYERS else None


def _imported_bgpd_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    layers: set[str] = set()
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] if node.module != "bgpd" else [f"bgpd.{a.name}" for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "bgpd" and len(parts) > 1:
                layers.add(parts[1])
    return layers


def _upward_imports(path: Path) -> set[str]:
    layer = _layer_of(path)
    if layer is None:
        return set()
    rank = LAYERS.index(layer)
    return {other for other in _imported_bgpd_layers(path) if other in LAYERS and LAYERS.index(other) > rank}


def test_every_package_has_a_layer() -> None:
    packages = {p.name.removesuffix(".py") for p in PACKAGE_ROOT.iterdir() if not p.name.startswith("__")}
    assert packages <= set(LAYERS), f"unplaced: {sorted(packages - set(LAYERS))}"


@pytest.mark.parametrize(
    "path", sorted(PACKAGE_ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE_ROOT))
)
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    upward = _upward_imports(path)
    assert not upward, f"{path.relative_to(PACKAGE_ROOT)} imports higher layers {sorted(upward)}"


def test_layer_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = PACKAGE_ROOT / "rib" / "_probe_for_test.py"
    assert _layer_of(module) == "rib"
    sample = tmp_path / "sample.py"
    sample.write_text("from bgpd.speaker import Speaker\nfrom bgpd import plan\nimport bgpd.wire.update\n")
    assert _imported_bgpd_layers(sample) == {"speaker", "plan", "wire"}
