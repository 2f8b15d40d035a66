"""Systolic-array ASICs (TPU-like): matmuls on fixed rows x cols weight-stationary arrays.

Efficiency comes from padding each GEMM to the array, fill/drain per fold, and the
streaming operand chunked to what on-chip SRAM can stage. A fold cannot finish faster
than its weights load into the array (``weight_load_cycles``, the array's rows by
default: one row of weights per cycle, as the TPU's weight FIFO feeds it). When few rows
stream through each fold (batch-1 decode: one row), the array waits on that weight load,
so such an op is reported as bound by moving weights (memory), not by the MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.chips.tiling import systolic_efficiency
from sim.dtypes import DTYPE_BYTES
from sim.spec import Spec
from sim.units import US, MiB
from sim.workload.ops import Op


class SystolicStructure(Spec):
    """The matrix units: ``array_count`` arrays of ``array_rows x array_cols`` PEs, the
    cycles to load one fold's weights (default: ``array_rows``, one row per cycle; fewer
    where the unit loads several rows a cycle, an average that need not be whole), and
    the fixed dispatch cost of one (fused) op."""

    array_rows: PositiveInt
    array_cols: PositiveInt
    array_count: PositiveInt
    weight_load_cycles: PositiveFloat | None = None
    op_overhead_us: PositiveFloat


@dataclass(frozen=True)
class Arrays:
    """The weight-stationary arrays an op runs on, and where its streaming rows are staged."""

    rows: int
    cols: int
    count: int
    load_cycles: float
    overhead_s: float
    sram_bytes: float


class WeightStationaryCostModel(ChipCostModel):
    """Roofline core with a weight-stationary array's efficiency (``systolic_efficiency``)
    and its weight-load bound; used by systolic ASICs and by the LPU's matrix unit."""

    def __init__(self, spec: ChipSpec, arrays: Arrays) -> None:
        super().__init__(spec)
        self.arrays = arrays

    def _m_chunk(self, op: Op) -> int:
        """Rows of the streaming operand one array can stage: double-buffered input rows
        (array_rows wide) and output rows (array_cols wide) in its share of SRAM."""
        a = self.arrays
        if not a.sram_bytes:
            return 1 << 30
        per_row = 2 * (a.rows + a.cols) * DTYPE_BYTES[op.dtype]
        return max(1, int(a.sram_bytes / a.count / per_row))

    def matmul_efficiency(self, op: Op) -> float:
        a = self.arrays
        eff = systolic_efficiency(op.batch, op.m, op.n, op.k, a.rows, a.cols, a.count, self._m_chunk(op),
                                  a.load_cycles)
        return self.matmul_ceiling(op.dtype) * eff

    def op_overhead_s(self, op: Op) -> float:
        return self.arrays.overhead_s

    def weight_load_bound(self, op: Op) -> bool:
        """Fewer rows stream through each fold than its weights take to load."""
        if op.kind not in ("matmul", "attention"):
            return False
        return min(op.m, op.n, self._m_chunk(op)) < self.arrays.load_cycles

    def op_cost(self, op: Op, count: int, pl: Placement) -> OpCost:
        """As the roofline core; an array waiting on weight loads counts as memory time."""
        cost = super().op_cost(op, count, pl)
        if not self.weight_load_bound(op) or cost.compute_s <= cost.memory_s:
            return cost
        macs_s = op.flops * op.padding / (self.peak_flops(op.dtype) * self.matmul_ceiling(op.dtype))
        return OpCost(op, count, cost.time_s, macs_s, cost.compute_s, cost.overhead_s, cost.weight_bytes,
                      cost.kv_bytes, cost.act_bytes)


@chip_kind("systolic")
class SystolicSpec(ChipSpec):
    kind: Literal["systolic"] = "systolic"
    tiny_structure: ClassVar[dict] = {"systolic": {"array_rows": 64, "array_cols": 64, "array_count": 4, "op_overhead_us": 1.0}}
    systolic: SystolicStructure

    def cost_model(self) -> WeightStationaryCostModel:
        s = self.systolic
        return WeightStationaryCostModel(self, Arrays(s.array_rows, s.array_cols, s.array_count,
                                                      s.weight_load_cycles or s.array_rows, s.op_overhead_us * US,
                                                      (self.onchip_sram_MiB or 0.0) * MiB))
