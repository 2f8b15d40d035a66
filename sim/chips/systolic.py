"""Systolic-array ASICs (TPU-like): matmuls on fixed rows x cols arrays.

Efficiency comes from padding each GEMM to the array, fill/drain per fold, and the
streaming operand chunked to what on-chip SRAM can stage.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel
from sim.chips.tiling import systolic_efficiency
from sim.dtypes import DTYPE_BYTES
from sim.spec import Spec
from sim.units import US, MiB
from sim.workload.ops import Op


class SystolicStructure(Spec):
    """The matrix units: ``array_count`` arrays of ``array_rows x array_cols`` PEs, and the
    fixed dispatch cost of one (fused) op."""

    array_rows: PositiveInt
    array_cols: PositiveInt
    array_count: PositiveInt
    op_overhead_us: PositiveFloat


class SystolicCostModel(ChipCostModel):
    def __init__(self, spec: SystolicSpec) -> None:
        super().__init__(spec)
        s = spec.systolic
        self._shape = (s.array_rows, s.array_cols, s.array_count)
        self._overhead_s = s.op_overhead_us * US
        self._sram_bytes = (spec.onchip_sram_MiB or 0.0) * MiB

    def _m_chunk(self, op: Op) -> int:
        """Rows of the streaming operand one array can stage: double-buffered input rows
        (array_rows wide) and output rows (array_cols wide) in its share of SRAM."""
        rows, cols, arrays = self._shape
        if not self._sram_bytes:
            return 1 << 30
        per_row = 2 * (rows + cols) * DTYPE_BYTES[op.dtype]
        return max(1, int(self._sram_bytes / arrays / per_row))

    def matmul_efficiency(self, op: Op) -> float:
        rows, cols, arrays = self._shape
        eff = systolic_efficiency(op.batch, op.m, op.n, op.k, rows, cols, arrays, self._m_chunk(op))
        return self.matmul_ceiling(op.dtype) * eff

    def op_overhead_s(self, op: Op) -> float:
        return self._overhead_s


@chip_kind("systolic")
class SystolicSpec(ChipSpec):
    kind: Literal["systolic"] = "systolic"
    tiny_structure: ClassVar[dict] = {"systolic": {"array_rows": 64, "array_cols": 64, "array_count": 4, "op_overhead_us": 1.0}}
    systolic: SystolicStructure

    def cost_model(self) -> SystolicCostModel:
        return SystolicCostModel(self)
