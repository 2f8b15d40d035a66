"""Wafer-scale engines (Cerebras WSE): a 2-D mesh of cores with weights in on-wafer SRAM
when they fit, streamed from external memory (MemoryX) when they do not.

For now the roofline core with that memory model: tiers are placed fastest first, so a
model that overflows SRAM reads the rest at the external tier's bandwidth.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel
from sim.spec import Spec
from sim.units import US
from sim.workload.ops import Op


class WaferStructure(Spec):
    cores: PositiveInt
    op_overhead_us: PositiveFloat


class WaferCostModel(ChipCostModel):
    def op_overhead_s(self, op: Op) -> float:
        return self.spec.wafer.op_overhead_us * US


@chip_kind("wafer")
class WaferSpec(ChipSpec):
    kind: Literal["wafer"] = "wafer"
    tiny_structure: ClassVar[dict] = {"wafer": {"cores": 1000, "op_overhead_us": 1.0}}
    wafer: WaferStructure

    def cost_model(self) -> WaferCostModel:
        return WaferCostModel(self)
