"""Reconfigurable dataflow chips (SambaNova RDU, Tsingmicro RPU): a layer's ops are placed
spatially on the fabric and run as one fused pipeline.

- **Sections.** A block's ops are fused into sections; each op of a section is a pipeline
  stage with its own compute units (PCUs, shared out in proportion to its work: integer
  units cost balance) and at least one memory unit (PMU) buffering its input. A section
  ends when the tensors passed between its stages exceed the on-chip SRAM or the stages
  outnumber the units; each boundary spills its tensor off-chip and loads the next
  section's configuration (``reconfiguration_us``). A block that fits one section keeps
  its configuration across repetitions (kernel looping), loading once.
- **Stages in flight.** Rows (tokens) stream through a section's stages in tiles: with one
  row (batch-1 decode) each op waits for the previous one to finish (a dependency chain:
  the sum of the stage times, each on its own units); with many rows the stages overlap
  and the slowest one sets the pace (plus the fill of the first tile). Off-chip traffic
  (weights, KV cache, the section's input and output) shares the memory bandwidth either
  way; tensors between stages cross the on-chip network (``onchip_bandwidth_GBps``).
- **Where weights live.** When a pass's weights and its largest section's buffers fit in
  on-chip SRAM together (a model split over enough sockets), weights are read from SRAM at
  the on-chip bandwidth; otherwise from the memory tiers (HBM, then DDR: see
  ``ChipSpec.memory_hierarchy``).
"""

from __future__ import annotations

from itertools import accumulate
from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt, model_validator

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.spec import Spec
from sim.units import GB, US, MiB
from sim.workload.ops import Block, Graph, Op


class DataflowStructure(Spec):
    """Compute units (PCUs) and memory units (PMUs), the bandwidth of PMU reads and of the
    on-chip network that carries tensors between stages, and the time to load one
    section's configuration onto the fabric."""

    pcu_count: PositiveInt
    pmu_count: PositiveInt
    onchip_bandwidth_GBps: PositiveFloat
    reconfiguration_us: PositiveFloat


def split_sections(ops: tuple[Op, ...], budget_bytes: float, max_stages: int | None = None) -> list[tuple[Op, ...]]:
    """Greedy: extend a section while the tensors passed between its ops fit the budget and
    it has no more stages than ``max_stages`` (units to place them on)."""
    sections: list[list[Op]] = [[ops[0]]]
    interior = 0.0
    for op in ops[1:]:
        grown = interior + sections[-1][-1].act_out_bytes
        full = max_stages is not None and len(sections[-1]) >= max_stages
        if grown > budget_bytes or full:
            sections.append([op])
            interior = 0.0
        else:
            sections[-1].append(op)
            interior = grown
    return [tuple(s) for s in sections]


def allocate_units(work_s: list[float], units: int) -> list[int]:
    """Units per stage in proportion to its work (at least one each, largest remainders
    first); zero-work stages get one unit. Requires ``len(work_s) <= units``."""
    total = sum(work_s)
    if total == 0.0:
        return [1] * len(work_s)
    spare = units - len(work_s)
    share = [spare * w / total for w in work_s]
    alloc = [1 + int(s) for s in share]
    left = units - sum(alloc)
    for i in sorted(range(len(work_s)), key=lambda i: share[i] - int(share[i]), reverse=True)[:left]:
        alloc[i] += 1
    return alloc


def balanced_pipeline_s(work_s: list[float], units: int) -> float:
    """Time of a spatial pipeline whose stage i needs ``work_s[i]`` unit-seconds, after
    ``units`` compute units are shared out in proportion: the slowest stage sets the pace."""
    busy = [w for w in work_s if w > 0.0]
    if not busy:
        return 0.0
    if len(busy) > units:  # more stages than units: they time-share, no pipeline gain
        return sum(busy)
    return max(w / a for w, a in zip(busy, allocate_units(busy, units), strict=True))


def in_flight_s(stage_s: list[float], memory_s: float, tiles: int, weight_s: list[float] | None = None) -> float:
    """A section of stages over ``tiles`` row tiles, as a flow shop of identical tiles.

    ``stage_s`` is each stage's time for all rows (compute, on-chip hand-off, the rows' own
    off-chip traffic), so a tile takes stage_s / tiles there. ``weight_s`` is each stage's
    weight stream, read once per pass whatever the rows: the weights arrive over one shared
    interface in stage order, and a stage runs its first tile only once its weights are in.
    The critical path starts at some stage i when its weights are in, takes the first tile
    through the rest and every tile through the slowest stage after i; never less than all
    the off-chip traffic (``memory_s``). Without weight streams this is the first tile's
    chain plus (tiles - 1) of the slowest stage.
    """
    per_tile = [s / tiles for s in stage_s]
    ready = list(accumulate(weight_s or [0.0] * len(stage_s)))  # when each stage's weights are in
    path, rest, slowest = 0.0, 0.0, 0.0
    for i in range(len(per_tile) - 1, -1, -1):
        rest += per_tile[i]
        slowest = max(slowest, per_tile[i])
        path = max(path, ready[i] + rest + (tiles - 1) * slowest)
    return max(path, memory_s)


class DataflowCostModel(ChipCostModel):
    additive = False

    def __init__(self, spec: DataflowSpec) -> None:
        super().__init__(spec)
        d = spec.dataflow
        self._units = min(d.pcu_count, d.pmu_count)  # a stage needs a PCU and a PMU
        self._pcus = d.pcu_count
        self._budget = (spec.onchip_sram_MiB or 0.0) * MiB
        self._onchip_Bps = d.onchip_bandwidth_GBps * GB
        self._reconfig_s = d.reconfiguration_us * US
        self._weights_Bps: float | None = None  # on-chip weight bandwidth when a pass's weights are resident
        self._rows: int | None = None  # tokens the pass streams through each section

    def graph_costs(self, graph: Graph, pl: Placement) -> list[OpCost]:
        """Weights are SRAM-resident when they fit beside the largest section's buffers."""
        sections = [split_sections(b.ops, self._budget, self._units) for b in graph.blocks]
        buffers = max((_interior(s) for secs in sections for s in secs), default=0.0)
        resident = graph.weight_bytes + buffers <= self._budget
        self._weights_Bps = self._onchip_Bps if resident else None
        self._rows = max(1, graph.tokens_in)
        out = []
        for block, secs in zip(graph.blocks, sections, strict=True):
            out += self._block(block, secs, pl)
        self._weights_Bps = self._rows = None
        return out

    def block_costs(self, block: Block, pl: Placement) -> list[OpCost]:
        return self._block(block, split_sections(block.ops, self._budget, self._units), pl)

    def _block(self, block: Block, sections: list[tuple[Op, ...]], pl: Placement) -> list[OpCost]:
        reconfig = self._reconfig_s / block.count if len(sections) == 1 else self._reconfig_s
        costs: list[OpCost] = []
        for section in sections:
            costs.extend(self._section_costs(section, block.count, pl, reconfig))
        return costs

    def _section_costs(self, ops: tuple[Op, ...], count: int, pl: Placement,
                       reconfig_s: float) -> list[OpCost]:
        """One fused section: its time from the stages in flight, apportioned to its ops by
        their own stage times (for per-op reporting)."""
        last = len(ops) - 1
        weight_Bps = self._weights_Bps or pl.weight_Bps
        acts = [(op.act_in_bytes if i == 0 else 0.0) + (op.act_out_bytes if i == last else 0.0)
                for i, op in enumerate(ops)]
        weights = [op.weight_bytes / weight_Bps for op in ops]
        rows_mem = [op.kv_bytes / pl.kv_Bps + a / pl.act_Bps for op, a in zip(ops, acts, strict=True)]
        mem = [w + r for w, r in zip(weights, rows_mem, strict=True)]
        net = [op.act_out_bytes / self._onchip_Bps if i < last else 0.0 for i, op in enumerate(ops)]
        work = [self.compute_s(op) * self._pcus for op in ops]  # unit-seconds at full efficiency
        alloc = allocate_units(work, self._pcus) if len(ops) <= self._pcus else [1] * len(ops)
        compute = [w / a for w, a in zip(work, alloc, strict=True)]
        stage = [max(c, n) for c, n in zip(compute, net, strict=True)]
        tiles = self._rows or max(1, max(op.m for op in ops))
        per_rows = [max(s, r) for s, r in zip(stage, rows_mem, strict=True)]
        time = in_flight_s(per_rows, sum(mem), tiles, weights) + reconfig_s
        own = [max(s, m) for s, m in zip(stage, mem, strict=True)]
        total_own = sum(own) or 1.0
        off_chip = 0.0 if self._weights_Bps else 1.0  # resident weights never leave the PMUs
        return [
            OpCost(op, count, time * o / total_own, c, m, reconfig_s * o / total_own,
                   op.weight_bytes * off_chip, op.kv_bytes, a)
            for op, a, m, c, o in zip(ops, acts, mem, compute, own, strict=True)
        ]


def _interior(section: tuple[Op, ...]) -> float:
    """Bytes the section's stages hand each other (its on-chip buffers)."""
    return sum(op.act_out_bytes for op in section[:-1])


@chip_kind("dataflow")
class DataflowSpec(ChipSpec):
    kind: Literal["dataflow"] = "dataflow"
    tiny_structure: ClassVar[dict] = {"dataflow": {"pcu_count": 64, "pmu_count": 64, "onchip_bandwidth_GBps": 50000,
                                                   "reconfiguration_us": 5.0}}
    dataflow: DataflowStructure

    @model_validator(mode="after")
    def _needs_sram(self) -> DataflowSpec:
        if self.onchip_sram_MiB is None:
            raise ValueError("a dataflow chip needs onchip_sram_MiB (where fused intermediates live)")
        return self

    def cost_model(self) -> DataflowCostModel:
        return DataflowCostModel(self)
