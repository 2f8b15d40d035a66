"""Sum a graph's op costs on one chip: time, what bounds it, energy, and time per category.

Energy of an op = its flops x the chip's energy per flop in that format + its bytes x the
energy per byte of the tier they move in. While it runs the chip also draws idle_W +
active_W. When that makes the op draw more than the chip's TDP, the chip throttles: the
op's dynamic energy is spent at TDP - (idle + active) and its time grows to match (the
extra time is the ``power`` share)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.workload.ops import Graph

CATEGORIES = ("embedding", "norm", "projection", "attention", "mlp", "moe", "lm_head", "optimizer")
BOUNDS = ("compute", "memory", "overhead", "communication", "bubble", "power")


@dataclass
class PassCost:
    """One forward pass: total time and where it went."""

    time_s: float = 0.0
    flops: float = 0.0
    dram_bytes: float = 0.0
    dynamic_energy_J: float = 0.0
    comm_energy_J: float = 0.0  # the links' share of dynamic_energy_J
    by_bound: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BOUNDS, 0.0))
    by_category: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ops: list[OpCost] = field(default_factory=list)

    def add(self, other: PassCost, weight: float = 1.0) -> None:
        """Accumulate ``weight`` copies of ``other`` (e.g. many decode steps)."""
        self.time_s += weight * other.time_s
        self.flops += weight * other.flops
        self.dram_bytes += weight * other.dram_bytes
        self.dynamic_energy_J += weight * other.dynamic_energy_J
        self.comm_energy_J += weight * other.comm_energy_J
        for k, v in other.by_bound.items():
            self.by_bound[k] += weight * v
        for k, v in other.by_category.items():
            self.by_category[k] += weight * v

    def add_comm(self, seconds: float, joules: float = 0.0) -> None:
        """Time on the critical path spent in collectives, and the links' energy."""
        self.time_s += seconds
        self.by_bound["communication"] += seconds
        self.dynamic_energy_J += joules
        self.comm_energy_J += joules

    def add_overhead(self, seconds: float) -> None:
        """Fixed time outside the ops (host work between steps)."""
        self.time_s += seconds
        self.by_bound["overhead"] += seconds

    def add_bubble(self, seconds: float) -> None:
        """Time a pipeline stage waits for work."""
        self.time_s += seconds
        self.by_bound["bubble"] += seconds


class EnergyModel:
    """Dynamic energy: each format's energy per flop (``Compute.energy_pJ_per_flop``) plus the
    memory tiers' energy per byte moved; and the power headroom above a running chip's
    busy floor before its TDP throttles it."""

    def __init__(self, cost_model: ChipCostModel) -> None:
        spec = cost_model.spec
        self._compute = spec.compute
        self.headroom_W = spec.power.tdp_W - spec.power.busy_W
        self._j_per_flop: dict[str, float] = {}

    def j_per_flop(self, dtype: str) -> float:
        if dtype not in self._j_per_flop:
            self._j_per_flop[dtype] = self._compute.energy_J_per_flop(dtype)
        return self._j_per_flop[dtype]

    def op_J(self, c: OpCost, pl: Placement) -> float:
        return (c.op.flops * self.j_per_flop(c.op.dtype) + c.weight_bytes * pl.weight_J_per_byte
                + c.kv_bytes * pl.kv_J_per_byte + c.act_bytes * pl.act_J_per_byte)

    def throttled_s(self, dynamic_J: float, time_s: float) -> float:
        """Time an op of ``dynamic_J`` takes under the power cap (its own time when under it)."""
        return max(time_s, dynamic_J / self.headroom_W)


def evaluate(graph: Graph, model: ChipCostModel, energy: EnergyModel, pl: Placement,
             keep_ops: bool = False) -> PassCost:
    """Cost of one pass of ``graph``; identical blocks are costed once and multiplied. The
    power cap applies op by op, or to the whole pass where ops run fused or placed
    together (a cost model that is not ``additive``)."""
    out = PassCost()
    per_op = model.additive
    for c in model.graph_costs(graph, pl):
        n = c.count
        joules = energy.op_J(c, pl)
        time_s = energy.throttled_s(joules, c.time_s) if per_op else c.time_s
        out.time_s += n * time_s
        out.flops += n * c.op.flops
        out.dram_bytes += n * (c.weight_bytes + c.kv_bytes + c.act_bytes)
        out.dynamic_energy_J += n * joules
        busy = c.time_s - c.overhead_s
        out.by_bound["compute" if c.compute_s >= c.memory_s else "memory"] += n * busy
        out.by_bound["overhead"] += n * c.overhead_s
        out.by_bound["power"] += n * (time_s - c.time_s)
        out.by_category[c.op.category] += n * time_s
        if keep_ops:
            out.ops.append(c)
    if not per_op:
        slower = energy.throttled_s(out.dynamic_energy_J, out.time_s) - out.time_s
        out.time_s += slower
        out.by_bound["power"] += slower
    return out
