"""SRAM-only language processing units (Groq LPU / TSP): a compiler-scheduled streaming
processor with every weight in on-chip SRAM and no DRAM at all.

The matrix unit is weight-stationary (``mxm_count`` planes of ``mxm_rows x mxm_cols``),
so its efficiency is the systolic array's (padding, fill/drain, a fold no shorter than
its weight load: batch-1 decode waits on weights streaming from SRAM into the planes).
Every instruction and chip-to-chip transfer is scheduled by the compiler ahead of time:
there is no kernel launch and no per-op dispatch cost beyond the array's fill and drain.
Capacity is SRAM only, so a model is sharded over many chips (tensor and pipeline
parallel over the C2C network, see the Groq systems).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.systolic import Arrays, WeightStationaryCostModel
from sim.spec import Spec


class LpuStructure(Spec):
    """The matrix unit: ``mxm_count`` weight-stationary planes of ``mxm_rows x mxm_cols``,
    and the cycles one plane takes to load a tile of weights (default: ``mxm_rows``)."""

    mxm_rows: PositiveInt
    mxm_cols: PositiveInt
    mxm_count: PositiveInt
    weight_load_cycles: PositiveInt | None = None


@chip_kind("lpu")
class LpuSpec(ChipSpec):
    kind: Literal["lpu"] = "lpu"
    tiny_structure: ClassVar[dict] = {"lpu": {"mxm_rows": 64, "mxm_cols": 64, "mxm_count": 4}}
    lpu: LpuStructure

    def cost_model(self) -> WeightStationaryCostModel:
        s = self.lpu
        return WeightStationaryCostModel(self, Arrays(s.mxm_rows, s.mxm_cols, s.mxm_count,
                                                      s.weight_load_cycles or s.mxm_rows, 0.0, 0.0))
