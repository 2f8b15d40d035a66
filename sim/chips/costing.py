"""The roofline core every architecture class builds on.

Op time = max(flops / (peak[dtype] * efficiency), bytes / sustained bandwidth) + overhead.
A class overrides ``matmul_efficiency`` (derived from its structure), ``op_overhead_s``,
or, for spatial / fused execution, ``block_costs`` (a block's ops together) or
``graph_costs`` (the whole pass at once: placement of every layer on the chip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sim.workload.ops import Block, Graph, Op


@dataclass(frozen=True, slots=True)
class Placement:
    """Where each kind of bytes lives: sustained bandwidth (bytes/s) and access energy
    (J/byte) of the tier(s) holding weights, KV cache and activations."""

    weight_Bps: float
    kv_Bps: float
    act_Bps: float
    weight_J_per_byte: float
    kv_J_per_byte: float
    act_J_per_byte: float


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one execution of ``op``; the block repeats it ``count`` times.

    ``*_bytes`` are the off-chip bytes actually moved (a fused schedule moves fewer
    activation bytes than ``op.act_bytes``).
    """

    op: Op
    count: int
    time_s: float
    compute_s: float
    memory_s: float
    overhead_s: float
    weight_bytes: float
    kv_bytes: float
    act_bytes: float

    @property
    def bound(self) -> str:
        """'compute' or 'memory', whichever of the two limits this op."""
        return "compute" if self.compute_s >= self.memory_s else "memory"


class ChipCostModel:
    """Roofline cost of ops on one chip. Subclasses refine efficiency and overheads.

    ``additive``: a pass costs the sum of its ops' costs priced one by one (false when
    ops are fused or placed together, so pieces of a pass cannot be priced apart)."""

    additive: ClassVar[bool] = True

    def __init__(self, spec) -> None:
        self.spec = spec
        self._peak: dict[str, float] = {}
        self._ceiling: dict[str, float] = {}
        self._attention = (spec.compute.attention_fraction(False), spec.compute.attention_fraction(True))

    def peak_flops(self, dtype: str) -> float:
        """Peak flop/s the chip reaches in ``dtype`` (after format fallback)."""
        if dtype not in self._peak:
            self._peak[dtype] = self.spec.compute.peak_flops(dtype)
        return self._peak[dtype]

    def matmul_ceiling(self, dtype: str) -> float:
        """The chip's measured large-GEMM fraction of peak in ``dtype``."""
        if dtype not in self._ceiling:
            self._ceiling[dtype] = self.spec.compute.matmul_fraction(dtype)
        return self._ceiling[dtype]

    def matmul_efficiency(self, op: Op) -> float:
        """Fraction of peak a matmul / attention op reaches; the roofline core uses the
        chip's measured ceiling for large GEMMs."""
        return self.matmul_ceiling(op.dtype)

    def op_overhead_s(self, op: Op) -> float:
        """Fixed time per op execution (kernel launch, op dispatch)."""
        return 0.0

    def compute_s(self, op: Op) -> float:
        if op.flops == 0.0:
            return 0.0
        eff = 1.0 if op.kind in ("elementwise", "embedding") else self.matmul_efficiency(op)
        if op.kind == "attention":
            eff *= self._attention[op.backward]
        return op.flops * op.padding / (self.peak_flops(op.dtype) * eff)

    def op_cost(self, op: Op, count: int, pl: Placement) -> OpCost:
        """Unfused: every byte the op touches crosses the off-chip interface."""
        compute = self.compute_s(op)
        memory = op.weight_bytes / pl.weight_Bps + op.kv_bytes / pl.kv_Bps + op.act_bytes / pl.act_Bps
        overhead = self.op_overhead_s(op)
        return OpCost(op, count, max(compute, memory) + overhead, compute, memory, overhead,
                      op.weight_bytes, op.kv_bytes, op.act_bytes)

    def block_costs(self, block: Block, pl: Placement) -> list[OpCost]:
        """Costs of the block's ops, each run as its own kernel."""
        return [self.op_cost(op, block.count, pl) for op in block.ops]

    def graph_costs(self, graph: Graph, pl: Placement) -> list[OpCost]:
        """Costs of a whole pass: its blocks one after another."""
        return [c for block in graph.blocks for c in self.block_costs(block, pl)]
