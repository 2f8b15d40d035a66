"""GPUs: streaming multiprocessors running tiled GEMM kernels, one kernel per op.

Efficiency comes from tile padding and wave quantisation over the SMs; every op pays a
kernel overhead (launch plus ramp-up/tail), which dominates small decode steps.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel
from sim.chips.tiling import gpu_tile_efficiency
from sim.spec import Spec
from sim.units import US
from sim.workload.ops import Op


class GpuStructure(Spec):
    """SM count, the CTA tiles (m, n, k) its GEMM library picks from, and the fixed
    cost of one kernel."""

    sm_count: PositiveInt
    cta_tiles: tuple[tuple[PositiveInt, PositiveInt, PositiveInt], ...] = Field(min_length=1)
    kernel_overhead_us: PositiveFloat


class GpuCostModel(ChipCostModel):
    def __init__(self, spec: GpuSpec) -> None:
        super().__init__(spec)
        self._sms = spec.gpu.sm_count
        self._tiles = spec.gpu.cta_tiles
        self._overhead_s = spec.gpu.kernel_overhead_us * US

    def matmul_efficiency(self, op: Op) -> float:
        return self.matmul_ceiling(op.dtype) * gpu_tile_efficiency(op.batch, op.m, op.n, op.k, self._sms, self._tiles)

    def op_overhead_s(self, op: Op) -> float:
        return self._overhead_s


@chip_kind("gpu")
class GpuSpec(ChipSpec):
    kind: Literal["gpu"] = "gpu"
    tiny_structure: ClassVar[dict] = {"gpu": {"sm_count": 16, "cta_tiles": [[128, 128, 32], [64, 64, 32]], "kernel_overhead_us": 3.0}}
    gpu: GpuStructure

    def cost_model(self) -> GpuCostModel:
        return GpuCostModel(self)
