"""A module imports only from its own layer or lower (docs/architecture.md), with rules
inside a layer too; checked on the source of every module in ``sim/``."""

from __future__ import annotations

import ast
from pathlib import Path

import sim

ROOT = Path(sim.__file__).parent

# Every module of the package belongs to exactly one entry (the longest matching prefix).
LAYER = {
    "sim.units": 1, "sim.errors": 1, "sim.dtypes": 1, "sim.spec": 1,
    "sim.parts": 2, "sim.workload": 2,
    "sim.chips": 3, "sim.comm": 3, "sim.system": 3, "sim.deployment": 3,
    "sim.analytical": 4,
    "sim.des": 5,
    "sim.report": 6,
    "sim.catalog": 7, "sim.scenario": 7, "sim.validate": 7,
    "sim.studies": 8, "sim.cli": 8, "sim": 8,
}
# Imports forbidden although they point down or sideways: (importer prefix, imported prefix).
FORBIDDEN = [
    ("sim.workload", "sim.parts"),        # the op graph knows no hardware
    ("sim.parts", "sim.workload"),        # hardware parts know no workload
    ("sim.chips", "sim.comm"), ("sim.chips", "sim.system"), ("sim.chips", "sim.deployment"),
    ("sim.comm", "sim.deployment"),
    # figures and tables are functions of result rows: no hardware, workload, engine or scenario
    *(("sim.report", p) for p in ("sim.parts", "sim.workload", "sim.chips", "sim.comm", "sim.system",
                                  "sim.deployment", "sim.analytical", "sim.des")),
    ("sim.catalog", "sim.scenario"), ("sim.catalog", "sim.validate"),
]
ONLY_IN = {"simpy": ("sim.des",), "matplotlib": ("sim.report",), "markdown": ("sim.report",), "yaml": ("sim.catalog",),
           "tqdm": ("sim.scenario.runner", "sim.scenario.ray_backend"), "ray": ("sim.scenario.ray_backend",)}


def _entry(module: str) -> str | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in LAYER:
            return ".".join(parts[:i])
    return None


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _modules() -> list[tuple[str, str]]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path.read_text(encoding="utf-8")))
    return out


def _imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def violations(module: str, source: str) -> list[str]:
    """Every rule ``module`` (with this source) breaks, one line each."""
    bad = []
    here = _entry(module)
    if here is None or (here == "sim" and module != "sim"):
        return [f"{module} has no entry in the layer table"]
    for target in _imports(source):
        root = target.split(".")[0]
        if root in ONLY_IN and not any(_within(module, p) for p in ONLY_IN[root]):
            bad.append(f"{module} imports {root} (only {', '.join(ONLY_IN[root])} may)")
        if root != "sim":
            continue
        there = _entry(target)
        if there is None:
            bad.append(f"{module} imports {target}, which has no layer")
        elif LAYER[there] > LAYER[here]:
            bad.append(f"{module} (layer {LAYER[here]}) imports {target} (layer {LAYER[there]})")
        bad += [f"{module} imports {target}: {a} must not use {b}" for a, b in FORBIDDEN
                if _within(module, a) and _within(target, b)]
    return bad


def test_every_module_has_a_layer():
    missing = [m for m, _ in _modules() if _entry(m) is None or (_entry(m) == "sim" and m != "sim")]
    assert not missing, missing


def test_imports_respect_the_layers_and_the_rules_inside_them():
    bad = [line for module, source in _modules() for line in violations(module, source)]
    assert not bad, bad


def test_the_checker_catches_what_it_forbids():
    """A forbidden import in a made-up module is reported (the test above can fail)."""
    assert violations("sim.workload.graph", "from sim.analytical import inference")  # upward
    assert violations("sim.workload.graph", "from sim.parts.memory import MemoryTier")  # sideways
    assert violations("sim.report.plots", "import sim.workload.ops")  # report reads rows only
    assert violations("sim.analytical.evaluate", "import simpy")
    assert violations("sim.newthing", "")  # not in the table
    assert not violations("sim.analytical.evaluate", "from sim.chips.base import ChipSpec")
