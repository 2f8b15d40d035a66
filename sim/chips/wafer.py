"""Wafer-scale engines (Cerebras WSE): a 2-D mesh of cores, each with its own SRAM, on one
wafer. A pass is laid out spatially, as the hardware runs it:

- **Regions.** When the weights (and KV cache) fit in the wafer's SRAM, every layer of the
  pass gets its own region of cores, sized by its weights; within a layer the
  weight matrices share the region by their bytes, the attention takes the share (from
  fixed halvings, its KV cache fitting) that makes the layer fastest, and pointwise ops
  use the whole region, where the activations are. An op runs on its region: compute at the
  region's share of the peak, SRAM at the region's share of the bandwidth, activations in
  and out across the region's edge (sqrt(R) fabric links), and a broadcast of the input
  along one mesh dimension and a reduction of partial sums along the other (2 sqrt(R)
  hops at the fabric's per-hop latency; sqrt(R) for a pointwise op passing through).
- **Pipeline across regions.** At batch 1 a token visits the layers one after another (a
  dependency chain: the sum of the layer times). With m sequences in flight they stream
  through the regions as m micro-batches: the sum at one micro-batch, plus (m - 1) times
  the slowest layer.
- **Weight streaming.** When the weights do not fit, the wafer runs one layer at a time
  on all its cores with weights streamed from external memory (MemoryX) at that tier's
  bandwidth: the roofline on the blended placement, plus the mesh latency of the whole wafer.

Several wafers split a model into pipeline stages over their Ethernet links (a system).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar, Literal

from pydantic import PositiveFloat, PositiveInt

from sim.chips.base import ChipSpec, chip_kind
from sim.chips.costing import ChipCostModel, OpCost, Placement
from sim.spec import Spec
from sim.units import GB
from sim.workload.ops import Graph, Op


class WaferStructure(Spec):
    """The core mesh: ``cores`` cores clocked at ``clock_GHz``, each fabric link moving
    ``fabric_link_GBps`` per direction, and ``hop_latency_cycles`` per core a message
    crosses (router plus any software forwarding)."""

    cores: PositiveInt
    clock_GHz: PositiveFloat
    fabric_link_GBps: PositiveFloat
    hop_latency_cycles: PositiveFloat


def scaled(op: Op, share: float) -> Op:
    """``op`` for ``share`` of its sequences (a micro-batch): flops, activations and KV
    traffic scale; the weights are read whole again."""
    if share >= 1.0:
        return op
    return replace(op, flops=op.flops * share, act_in_bytes=op.act_in_bytes * share,
                   act_out_bytes=op.act_out_bytes * share, kv_read_bytes=op.kv_read_bytes * share,
                   kv_write_bytes=op.kv_write_bytes * share)


class WaferCostModel(ChipCostModel):
    additive = False

    def __init__(self, spec: WaferSpec) -> None:
        super().__init__(spec)
        w = spec.wafer
        self.cores = w.cores
        self.hop_s = w.hop_latency_cycles / (w.clock_GHz * 1e9)
        self.link_Bps = w.fabric_link_GBps * GB
        self.sram_Bps = spec.main_tier.sustained_bandwidth_Bps

    def mesh_latency_s(self, op: Op, cores: float) -> float:
        """Broadcast the input along one side of a sqrt(R) x sqrt(R) region and reduce
        partial sums along the other (matmul, attention); pass through (pointwise)."""
        side = math.sqrt(max(cores, 1.0))
        return (2.0 if op.kind in ("matmul", "attention") else 1.0) * side * self.hop_s

    def region_cost(self, op: Op, count: int, cores: float) -> OpCost:
        """``op`` on ``cores`` cores of the wafer, its bytes resident in their SRAM."""
        share = cores / self.cores
        compute = self.compute_s(op) / share
        sram = op.bytes / (self.sram_Bps * share)
        fabric = op.act_bytes / (math.sqrt(max(cores, 1.0)) * self.link_Bps)
        latency = self.mesh_latency_s(op, cores)
        memory = max(sram, fabric)
        return OpCost(op, count, max(compute, memory) + latency, compute, memory, latency, 0.0, 0.0, 0.0)

    def graph_costs(self, graph: Graph, pl: Placement) -> list[OpCost]:
        if pl.weight_Bps < self.sram_Bps * (1 - 1e-9):
            return self._streamed(graph, pl)
        return self._placed(graph)

    def _streamed(self, graph: Graph, pl: Placement) -> list[OpCost]:
        """Weight streaming: each op on the whole wafer, weights from external memory."""
        out = []
        for block in graph.blocks:
            for op in block.ops:
                c = self.op_cost(op, block.count, pl)
                lat = self.mesh_latency_s(op, self.cores)
                out.append(replace(c, time_s=c.time_s + lat, overhead_s=c.overhead_s + lat))
        return out

    def _placed(self, graph: Graph) -> list[OpCost]:
        """Layers on regions by their weights, pipelined over the sequences in flight. The
        regions are the fixed layout of the weights, so a growing cache never moves cores
        from one layer to another; each layer's cache is placed inside its region."""
        resident = sum(b.count * sum(op.weight_bytes for op in b.ops) for b in graph.blocks)
        layers = sum(b.count for b in graph.blocks)
        micro = max(1, min(graph.tokens_out, layers))
        costs: list[tuple[Op, OpCost]] = []
        layer_s: list[tuple[float, int]] = []
        for block in graph.blocks:
            held = sum(op.weight_bytes for op in block.ops)
            region = self.cores * (held / resident if resident else 1.0 / layers)
            mine = self._layer(block.ops, block.count, region, micro)
            costs += mine
            layer_s.append((sum(c.time_s for _, c in mine), block.count))
        chain = sum(t * n for t, n in layer_s)
        wall = chain + (micro - 1) * max(t for t, _ in layer_s)
        k = wall / chain if chain > 0 else 1.0
        return [OpCost(op, c.count, c.time_s * k, c.compute_s * k, c.memory_s * k, c.overhead_s * k,
                       op.weight_bytes * micro, op.kv_bytes, op.act_bytes) for op, c in costs]

    def _layer(self, ops: tuple[Op, ...], count: int, region: float, micro: int) -> list[tuple[Op, OpCost]]:
        """One layer's ops on its region, the attention's share placed for the fastest layer.

        The weight matrices split the rest of the region by their bytes; pointwise ops use
        the whole region. The attention (its KV cache and the queries it gathers) takes the
        share of the region, from a fixed set of fractions, that makes the layer fastest
        while each side's bytes fit in its cores' SRAM, as a placing compiler would; a
        larger cache can only remove choices, so the layer never gets faster as the cache
        grows. When no fraction fits both, the shares follow the bytes held.
        """
        per_core = self.spec.main_tier.capacity_bytes / self.cores
        weights = sum(op.weight_bytes for op in ops if op.kind == "matmul")
        cache = sum(op.kv_bytes for op in ops if op.kind == "attention")
        if not any(op.kind == "attention" for op in ops):
            return self._shares(ops, count, region, micro, None)
        fits = [f for f in ATTENTION_SHARES
                if f * region * per_core >= cache and (1 - f) * region * per_core >= weights]
        if not fits:
            return self._shares(ops, count, region, micro, None)
        options = [self._shares(ops, count, region, micro, f) for f in fits]
        return min(options, key=lambda mine: sum(c.time_s for _, c in mine))

    def _shares(self, ops: tuple[Op, ...], count: int, region: float, micro: int,
                attention: float | None) -> list[tuple[Op, OpCost]]:
        """Costs of ``ops`` with the attention on ``attention`` of the region (None: every
        matrix op, attention included, shares the region by the bytes it holds)."""
        kinds = ("matmul",) if attention is not None else ("matmul", "attention")
        rest = region * (1 - attention) if attention is not None else region
        matrix = sum(op.weight_bytes + op.kv_bytes for op in ops if op.kind in kinds)
        attentions = [op for op in ops if op.kind == "attention"]
        cache = sum(op.kv_bytes for op in attentions)
        mine = []
        for op in ops:
            own = op.weight_bytes + op.kv_bytes
            if attention is not None and op.kind == "attention":
                cores = region * attention * (op.kv_bytes / cache if cache > 0 else 1.0 / len(attentions))
            elif op.kind in kinds and own > 0 and matrix > 0:
                cores = rest * own / matrix
            else:
                cores = region
            mine.append((op, self.region_cost(scaled(op, 1.0 / micro), count, cores)))
        return mine


# Fractions of a layer's region the attention may take (halvings down to 1/65,536).
ATTENTION_SHARES = tuple(2.0 ** -k for k in range(1, 17))


@chip_kind("wafer")
class WaferSpec(ChipSpec):
    kind: Literal["wafer"] = "wafer"
    tiny_structure: ClassVar[dict] = {"wafer": {"cores": 10000, "clock_GHz": 1.0, "fabric_link_GBps": 4.0,
                                                "hop_latency_cycles": 1.0}}
    wafer: WaferStructure

    def cost_model(self) -> WaferCostModel:
        return WaferCostModel(self)
