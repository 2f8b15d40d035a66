"""A module imports only from its own layer or lower (DESIGN.md), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import sim

ROOT = Path(sim.__file__).parent
LAYER = {
    "sim.validate": 6,
    "sim.units": 1, "sim.errors": 1, "sim.dtypes": 1, "sim.provenance": 1,
    "sim.parts": 2, "sim.workload": 2,
    "sim.chips": 3, "sim.system": 3, "sim.comm": 3,
    "sim.analytical": 4,
    "sim.des": 5,
    "sim.scenario": 6, "sim.catalog": 6, "sim.yaml_io": 6,
    "sim.report": 7,
    "sim.app": 8, "sim.cli": 8, "sim": 8,
}
ONLY_IN = {"simpy": ("sim.des",), "matplotlib": ("sim.report",), "yaml": ("sim.yaml_io", "sim.scenario.store", "sim.cli")}


def _layer(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYER:
            return LAYER[".".join(parts[:i])]
    raise AssertionError(f"{module} has no layer in the table")


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, ast.parse(path.read_text())


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_imports_point_down_the_layers():
    bad = []
    for name, tree in _modules():
        for target in _imports(tree):
            if (target == "sim" or target.startswith("sim.")) and _layer(target) > _layer(name):
                bad.append(f"{name} imports {target}")
    assert not bad, bad


def test_heavy_libraries_stay_in_their_package():
    bad = []
    for name, tree in _modules():
        for target in _imports(tree):
            root = target.split(".")[0]
            if root in ONLY_IN and not name.startswith(ONLY_IN[root]):
                bad.append(f"{name} imports {root}")
    assert not bad, bad
