"""Sum a graph's op costs on one chip: time, what bounds it, energy, and time per category."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.workload.ops import Graph

CATEGORIES = ("embedding", "norm", "projection", "attention", "mlp", "moe", "lm_head", "optimizer")
BOUNDS = ("compute", "memory", "overhead", "communication", "bubble")


@dataclass
class PassCost:
    """One forward pass: total time and where it went."""

    time_s: float = 0.0
    flops: float = 0.0
    dram_bytes: float = 0.0
    dynamic_energy_J: float = 0.0
    by_bound: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BOUNDS, 0.0))
    by_category: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ops: list[OpCost] = field(default_factory=list)

    def add(self, other: PassCost, weight: float = 1.0) -> None:
        """Accumulate ``weight`` copies of ``other`` (e.g. many decode steps)."""
        self.time_s += weight * other.time_s
        self.flops += weight * other.flops
        self.dram_bytes += weight * other.dram_bytes
        self.dynamic_energy_J += weight * other.dynamic_energy_J
        for k, v in other.by_bound.items():
            self.by_bound[k] += weight * v
        for k, v in other.by_category.items():
            self.by_category[k] += weight * v

    def add_comm(self, seconds: float) -> None:
        """Time on the critical path spent in collectives."""
        self.time_s += seconds
        self.by_bound["communication"] += seconds

    def add_overhead(self, seconds: float) -> None:
        """Fixed time outside the ops (host work between steps)."""
        self.time_s += seconds
        self.by_bound["overhead"] += seconds

    def add_bubble(self, seconds: float) -> None:
        """Time a pipeline stage waits for work."""
        self.time_s += seconds
        self.by_bound["bubble"] += seconds


class EnergyModel:
    """Dynamic energy: a fixed energy per flop in each format (the compute share of the
    board's dynamic power at peak rate) plus the memory tiers' energy per byte moved."""

    def __init__(self, cost_model: ChipCostModel) -> None:
        spec = cost_model.spec
        memory_W = sum(t.peak_power_W for t in spec.memory.values())
        self._compute_W = spec.power.tdp_W - spec.power.idle_W - memory_W
        self._model = cost_model
        self._j_per_flop: dict[str, float] = {}

    def j_per_flop(self, dtype: str) -> float:
        if dtype not in self._j_per_flop:
            self._j_per_flop[dtype] = self._compute_W / self._model.peak_flops(dtype)
        return self._j_per_flop[dtype]

    def op_J(self, c: OpCost, pl: Placement) -> float:
        return (c.op.flops * self.j_per_flop(c.op.dtype) + c.weight_bytes * pl.weight_J_per_byte
                + c.kv_bytes * pl.kv_J_per_byte + c.act_bytes * pl.act_J_per_byte)


def evaluate(graph: Graph, model: ChipCostModel, energy: EnergyModel, pl: Placement,
             keep_ops: bool = False) -> PassCost:
    """Cost of one pass of ``graph``; identical blocks are costed once and multiplied."""
    out = PassCost()
    for c in model.graph_costs(graph, pl):
        n = c.count
        out.time_s += n * c.time_s
        out.flops += n * c.op.flops
        out.dram_bytes += n * (c.weight_bytes + c.kv_bytes + c.act_bytes)
        out.dynamic_energy_J += n * energy.op_J(c, pl)
        busy = c.time_s - c.overhead_s
        out.by_bound["compute" if c.compute_s >= c.memory_s else "memory"] += n * busy
        out.by_bound["overhead"] += n * c.overhead_s
        out.by_category[c.op.category] += n * c.time_s
        if keep_ops:
            out.ops.append(c)
    return out
