"""SRAM-only language processing units (Groq LPU / TSP): a compiler-scheduled streaming
processor with every weight in on-chip SRAM and no DRAM at all.

For now the roofline core with that memory model: capacity is SRAM only, so large
models need many chips (the memory-fit error says how many).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel
from sim.spec import Spec
from sim.units import US
from sim.workload.ops import Op


class LpuStructure(Spec):
    mxm_rows: PositiveInt
    mxm_cols: PositiveInt
    op_overhead_us: PositiveFloat


class LpuCostModel(ChipCostModel):
    def op_overhead_s(self, op: Op) -> float:
        return self.spec.lpu.op_overhead_us * US


@chip_kind("lpu")
class LpuSpec(ChipSpec):
    kind: Literal["lpu"] = "lpu"
    tiny_structure: ClassVar[dict] = {"lpu": {"mxm_rows": 64, "mxm_cols": 64, "op_overhead_us": 1.0}}
    lpu: LpuStructure

    def cost_model(self) -> LpuCostModel:
        return LpuCostModel(self)
