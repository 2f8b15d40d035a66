"""The physics invariants on 10,000 random points across every chip class.

Each point is a random (hardware, model, phase, batch, length, format) on one card of any
shipped chip or on a multi-card plan of a system of each class. It must obey the compute
and memory bounds (never faster than the roofline), draw no more than its chips' TDP, and
one perturbation chosen in turn must not make it faster: twice the memory bandwidth, twice
the compute, twice the memory capacity, twice the link bandwidth (multi-card points), one
more sequence or one more token per step (per-step latency is non-decreasing in batch and
context). The points are drawn from a fixed seed, so a failure names a point that can be
rerun.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from sim.analytical.inference import Prediction, predict
from sim.catalog import load_chip, load_economics, load_model, load_system, names
from sim.chips.base import ChipSpec
from sim.deployment import Deployment
from sim.errors import SimError
from sim.system import SystemSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision, Workload

POINTS = 10_000
SEED = 20261202
ECON = load_economics({})
MODELS = ["Llama-3.1-8B", "Qwen3-30B-A3B", "Mistral-7B-v0.1", "Mixtral-8x7B", "gpt-oss-20b"]
# (system, plan): a multi-card plan on a system of each chip class
PLANS = [("HGX-H100-8GPU", dict(tp=8)), ("MI300X-8GPU", dict(tp=4)), ("B30-8GPU", dict(tp=4)),
         ("TPU-v5p-Pod", dict(tp=4)), ("Trn2-16", dict(tp=8)), ("Gaudi3-8x", dict(tp=8)),
         ("SN40L-Node-8", dict(tp=8)), ("Cerebras-CS3-Cluster", dict(pp=4)),
         ("Groq-LPU-Cluster", dict(tp=8, pp=16))]
PERTURBATIONS = ["bandwidth", "compute", "capacity", "links", "batch", "length"]


@dataclass(frozen=True)
class Point:
    hardware: str
    plan: dict
    model: str
    phase: str
    batch: int
    input_len: int
    fmt: str

    def workload(self, batch: int | None = None, input_len: int | None = None) -> Workload:
        return Workload(phase=self.phase, batch=batch or self.batch, input_len=input_len or self.input_len,
                        precision=Precision.uniform(self.fmt))


def _points() -> list[Point]:
    rng = np.random.default_rng(SEED)
    chips = names("chip")
    out = []
    for _ in range(POINTS):
        multi = rng.random() < 0.3
        hardware, plan = PLANS[rng.integers(len(PLANS))] if multi else (chips[rng.integers(len(chips))], {})
        out.append(Point(hardware, plan, MODELS[rng.integers(len(MODELS))], ["prefill", "decode"][rng.integers(2)],
                         int(rng.integers(1, 65)), int(np.exp(rng.uniform(0, np.log(8192)))),
                         ["bf16", "fp8", "int8"][rng.integers(3)]))
    return out


_SYSTEMS: dict[str, SystemSpec] = {}
_CHIPS: dict[str, ChipSpec] = {}


def _deployment(point: Point, chip: ChipSpec | None = None, link_factor: float = 1.0) -> Deployment:
    if not point.plan:
        return Deployment.one_chip(chip or _CHIPS.setdefault(point.hardware, load_chip(point.hardware)))
    system = _SYSTEMS.setdefault(point.hardware, load_system(point.hardware))
    dep = Deployment.on_system(system, Parallelism(**point.plan))
    if link_factor != 1.0 and dep.system is not None:
        up = dep.system.scale_up
        faster = up.model_copy(update={"link_bandwidth_GBps": up.link_bandwidth_GBps * link_factor})
        return Deployment(dep.chip, dep.plan, dep.system.model_copy(update={"scale_up": faster}))
    return dep.with_chip(chip) if chip is not None else dep


def _scaled(chip: ChipSpec, what: str) -> ChipSpec:
    if what == "compute":
        peaks = {k: 2 * v for k, v in chip.compute.peak_dense_TFLOPS.items()}
        return chip.model_copy(update={"compute": chip.compute.model_copy(update={"peak_dense_TFLOPS": peaks})})
    field = {"bandwidth": "bandwidth_GBps", "capacity": "capacity_GB"}[what]
    mem = {k: t.model_copy(update={field: getattr(t, field) * 2}) for k, t in chip.memory.items()}
    return chip.model_copy(update={"memory": mem})


def _step_s(p: Prediction, phase: str) -> float:
    return p.ttft_s if phase == "prefill" else p.tpot_s


def _check(point: Point, turn: int) -> str:
    """Check one point; returns the perturbation it was held to, or '' when it does not fit."""
    model = load_model(point.model)
    dep = _deployment(point)
    try:
        base = predict(dep, model, point.workload(), ECON)
    except SimError:
        return ""
    chip = dep.chip
    peak = max(chip.compute.peak_flops(f) for f in chip.compute.peak_dense_TFLOPS)  # its fastest format
    bandwidth = sum(t.bandwidth_Bps for t in chip.memory.values())
    at = f"{point} -> {base.e2e_latency_s}"
    assert base.e2e_latency_s * (1 + 1e-9) >= base.flops / (base.chips * peak), at
    assert base.e2e_latency_s * (1 + 1e-9) >= base.dram_bytes / (base.chips * bandwidth), at
    assert base.avg_power_W <= chip.power.tdp_W * (1 + 1e-9), at
    what = PERTURBATIONS[turn % len(PERTURBATIONS)]
    if what == "links" and not point.plan:
        what = "bandwidth"
    if what in ("bandwidth", "compute", "capacity", "links"):
        other = _deployment(point, link_factor=2.0) if what == "links" else _deployment(point, _scaled(chip, what))
        assert predict(other, model, point.workload(), ECON).e2e_latency_s <= base.e2e_latency_s * (1 + 1e-9), \
            (what, at)
        return what
    bigger = point.workload(batch=point.batch + 1) if what == "batch" else point.workload(input_len=point.input_len + 1)
    try:
        grown = predict(dep, model, bigger, ECON)
    except SimError:
        return what  # one more sequence or token no longer fits: nothing to compare
    assert _step_s(grown, point.phase) >= _step_s(base, point.phase) * (1 - 1e-9), (what, at, _step_s(grown, point.phase))
    return what


@pytest.mark.parametrize("part", range(4))
def test_invariants_hold_on_random_points_across_every_chip_class(part):
    """A quarter of the 10,000 points per test (so the suite's workers share them)."""
    points = _points()[part::4]
    held: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for i, point in enumerate(points):
        what = _check(point, i)
        if what:
            held[what] += 1
            kinds[_deployment(point).chip.kind] += 1
    assert sum(held.values()) >= 0.6 * len(points), held  # most random points fit somewhere
    assert set(kinds) == {"gpu", "systolic", "dataflow", "wafer", "lpu"}, kinds
    assert all(held[w] > 100 for w in PERTURBATIONS), held


@pytest.mark.parametrize("chip,model,plan,batch", [
    ("H100", "Llama-2-70B", Parallelism(tp=4, pp=2), 24), ("H200", "DeepSeek-V3", Parallelism(tp=8), 8),
    ("B200", "Qwen3-30B-A3B", Parallelism(tp=2, ep=2), 64), ("TPU v6e", "Llama-3.1-8B", Parallelism(), 8),
    ("H100", "Llama-2-70B", Parallelism(tp=2, pp=4), 7)])
def test_generate_prices_the_shared_decode_ops_once_and_gives_the_whole_steps_result(chip, model, plan, batch):
    """A generate point prices the ops its decode samples share once and each sample's
    attention on its own; that equals pricing every sample's whole step (the path
    keep_ops takes) to rounding: dense, MLA, expert-parallel, pipelined with an uneven
    last micro-batch, a systolic chip."""
    from sim.catalog import load_deployment
    dep = load_deployment(plan, chip=chip)
    wl = Workload(phase="generate", batch=batch, input_len=1000, output_len=300, precision=Precision.uniform("fp8"))
    split = predict(dep, load_model(model), wl, load_economics({}))
    whole = predict(dep, load_model(model), wl, load_economics({}), keep_ops=True)
    ours, theirs = split.metrics(), whole.metrics()
    assert ours.keys() == theirs.keys()
    for name, a in ours.items():
        b = theirs[name]
        if isinstance(a, float) and not (np.isnan(a) and np.isnan(b)):
            assert a == pytest.approx(b, rel=1e-12, abs=1e-15), name
