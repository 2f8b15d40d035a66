"""Pipelined double binary tree (NCCL "Tree"): each rank moves about 2S (all-reduce) or S
(broadcast) per direction; built as NCCL builds it (src/graph/tuning.cc latency: 2 x
((ranks per node - 1) x intra step + log2(nodes) x inter step)): a chain inside each node,
a binary tree over nodes, so one node alone is a chain of its ranks. On switched or fully
connected fabrics, at each fabric's tree step latency and achievable share."""

from __future__ import annotations

from math import ceil, log2

from sim.comm.base import Group, algorithm
from sim.comm.links import direct_Bps
from sim.parts.link import Fabric
from sim.system import SystemSpec

_PASSES = {"all_reduce": 2, "broadcast": 1}  # up and down, or down only

# NCCL's own correction of its tree bandwidth at medium sizes ("trees are not perfectly
# sticking to the model for medium sizes"), per protocol, for all-reduce sizes of 64 B x
# 2^i, i = 0..22 (NVIDIA/nccl src/graph/tuning.cc @5067397, treeCorrectionFactor); 1 above.
TREE_CORRECTION = {
    "LL": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0),
    "LL128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0),
    "Simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9),
}


def size_correction(protocol: str | None, size_bytes: float) -> float:
    """NCCL's tree bandwidth factor for an all-reduce of ``size_bytes`` (1 for a protocol
    it has none for, or sizes outside its table)."""
    table = TREE_CORRECTION.get(protocol or "")
    if table is None or size_bytes < 64:
        return 1.0
    index = int(size_bytes // 64).bit_length() - 1
    return table[index] if index < len(table) else 1.0


def _tree_share(fabric: Fabric) -> float:
    """What a tree sustains on ``fabric`` per byte a ring sustains."""
    return fabric.tree_injection_Bps / fabric.injection_Bps


@algorithm("tree")
def tree(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if kind not in _PASSES or system.scale_up.is_grid:
        return None
    passes = _PASSES[kind]
    up = system.scale_up
    chain = direct_Bps(system, group.per_node) * _tree_share(up) if group.per_node > 1 else float("inf")
    latency = (group.per_node - 1) * up.tree_step_s
    bandwidth = chain
    if group.nodes > 1:
        out = system.scale_out
        assert out is not None
        # a chain link carries (g-1)/g of the node's g trees (as the spanning ring)
        shared = chain * group.per_node / (group.per_node - 1) if group.per_node > 1 else chain
        bandwidth = min(shared, group.per_node * out.tree_injection_Bps)
        latency += ceil(log2(group.nodes)) * out.tree_step_s
    if kind == "all_reduce":
        bandwidth *= size_correction(up.protocol, size_bytes)
    return up.base_s + passes * latency + passes * size_bytes / bandwidth
