"""Reconfigurable dataflow chips (SambaNova RDU, Tsingmicro RPU): a layer's ops are laid
out spatially on the compute units and run as one fused pipeline.

Intermediates between fused ops stay in on-chip SRAM, so off-chip traffic is weights, KV
cache and each section's input and output. When a block's intermediates do not fit in
SRAM it is cut into sections; each section boundary spills its tensor off-chip and pays
one reconfiguration. Compute is the slowest pipeline stage after compute units are
shared out in proportion to each op's work (integer units: the balance loss).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt, model_validator

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.spec import Spec
from sim.units import US, MiB
from sim.workload.ops import Block, Op


class DataflowStructure(Spec):
    """Compute units (PCUs) and memory units (PMUs), and the time to load one section's
    configuration onto the fabric."""

    pcu_count: PositiveInt
    pmu_count: PositiveInt
    reconfiguration_us: PositiveFloat


def split_sections(ops: tuple[Op, ...], budget_bytes: float) -> list[tuple[Op, ...]]:
    """Greedy: extend a section while the tensors passed between its ops fit the budget."""
    sections: list[list[Op]] = [[ops[0]]]
    interior = 0.0
    for op in ops[1:]:
        grown = interior + sections[-1][-1].act_out_bytes
        if grown > budget_bytes:
            sections.append([op])
            interior = 0.0
        else:
            sections[-1].append(op)
            interior = grown
    return [tuple(s) for s in sections]


def balanced_pipeline_s(work_s: list[float], units: int) -> float:
    """Time of a spatial pipeline whose stage i needs ``work_s[i]`` unit-seconds, after
    ``units`` compute units are shared out in proportion (at least one each, largest
    remainders first): the slowest stage sets the pace."""
    total = sum(work_s)
    if total == 0.0:
        return 0.0
    busy = [w for w in work_s if w > 0.0]
    if len(busy) > units:  # more stages than units: they time-share, no pipeline gain
        return total
    spare = units - len(busy)
    share = [spare * w / total for w in busy]
    alloc = [1 + int(s) for s in share]
    left = units - sum(alloc)
    for i in sorted(range(len(busy)), key=lambda i: share[i] - int(share[i]), reverse=True)[:left]:
        alloc[i] += 1
    return max(w / a for w, a in zip(busy, alloc, strict=True))


class DataflowCostModel(ChipCostModel):
    additive = False

    def __init__(self, spec: DataflowSpec) -> None:
        super().__init__(spec)
        self._units = spec.dataflow.pcu_count
        self._budget = (spec.onchip_sram_MiB or 0.0) * MiB
        self._reconfig_s = spec.dataflow.reconfiguration_us * US

    def block_costs(self, block: Block, pl: Placement) -> list[OpCost]:
        """A block that fits in one section keeps its configuration across all ``count``
        repetitions (kernel looping), so it loads once; a block cut into sections reloads
        each section on every repetition."""
        sections = split_sections(block.ops, self._budget)
        reconfig = self._reconfig_s / block.count if len(sections) == 1 else self._reconfig_s
        costs: list[OpCost] = []
        for section in sections:
            costs.extend(self._section_costs(section, block.count, pl, reconfig))
        return costs

    def _section_costs(self, ops: tuple[Op, ...], count: int, pl: Placement,
                       reconfig_s: float) -> list[OpCost]:
        """One fused section: shared pipeline time, apportioned to its ops by their own
        roofline time (for per-op reporting)."""
        last = len(ops) - 1
        acts = [(op.act_in_bytes if i == 0 else 0.0) + (op.act_out_bytes if i == last else 0.0)
                for i, op in enumerate(ops)]
        mem = [op.weight_bytes / pl.weight_Bps + op.kv_bytes / pl.kv_Bps + a / pl.act_Bps
               for op, a in zip(ops, acts, strict=True)]
        # unit-seconds of each op on one compute unit at full efficiency
        work = [self.compute_s(op) * self._units for op in ops]
        compute = balanced_pipeline_s(work, self._units)
        time = max(compute, sum(mem)) + reconfig_s
        own = [max(w / self._units, m) for w, m in zip(work, mem, strict=True)]
        total_own = sum(own) or 1.0
        return [
            OpCost(op, count, time * o / total_own, w / self._units, m, reconfig_s * o / total_own,
                   op.weight_bytes, op.kv_bytes, a)
            for op, a, m, w, o in zip(ops, acts, mem, work, own, strict=True)
        ]


@chip_kind("dataflow")
class DataflowSpec(ChipSpec):
    kind: Literal["dataflow"] = "dataflow"
    tiny_structure: ClassVar[dict] = {"dataflow": {"pcu_count": 64, "pmu_count": 64, "reconfiguration_us": 5.0}}
    dataflow: DataflowStructure

    @model_validator(mode="after")
    def _needs_sram(self) -> DataflowSpec:
        if self.onchip_sram_MiB is None:
            raise ValueError("a dataflow chip needs onchip_sram_MiB (where fused intermediates live)")
        return self

    def cost_model(self) -> DataflowCostModel:
        return DataflowCostModel(self)
