"""Pipelined double binary tree (NCCL "Tree"): log-depth latency, each rank moves about
2S (all-reduce) or S (broadcast) per direction. Inside a node on switched or fully
connected fabrics; across nodes as NCCL does it: a chain in each node, a tree over nodes."""

from __future__ import annotations

from math import ceil, log2

from sim.comm.base import Group, algorithm
from sim.comm.links import direct_Bps, spanning_ring
from sim.system import SystemSpec

_PASSES = {"all_reduce": 2, "broadcast": 1}  # up and down, or down only


@algorithm("tree")
def tree(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if kind not in _PASSES or system.scale_up.is_grid:
        return None
    passes = _PASSES[kind]
    up = system.scale_up
    if group.nodes == 1:
        bandwidth = direct_Bps(system, group.size)
        latency = passes * ceil(log2(group.size)) * up.step_s
    else:
        bandwidth, intra_s, inter_s = spanning_ring(system, group)
        latency = passes * ((group.per_node - 1) * intra_s + ceil(log2(group.nodes)) * inter_s)
    return up.base_s + latency + passes * size_bytes / bandwidth
