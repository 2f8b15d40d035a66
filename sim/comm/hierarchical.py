"""Hierarchical: reduce-scatter inside each node, the collective across nodes on 1/g of the
data (one rank per node, each on its own NIC), all-gather inside each node. Each stage is
the fastest algorithm for that stage, run one after the other."""

from __future__ import annotations

from sim.comm.base import Group, algorithm, best_time_s
from sim.system import SystemSpec


@algorithm("hierarchical")
def hierarchical(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if group.nodes == 1 or group.per_node == 1:
        return None
    local, s = group.per_node, group.stride
    across = s * local  # the same local rank in every node

    def stage(what: str, size: float, ranks: int, stride: int) -> float:
        return best_time_s(system, what, size, ranks, stride)

    if kind == "all_reduce":
        return (stage("reduce_scatter", size_bytes, local, s)
                + stage("all_reduce", size_bytes / local, group.nodes, across)
                + stage("all_gather", size_bytes, local, s))
    if kind == "reduce_scatter":
        return (stage("reduce_scatter", size_bytes, local, s)
                + stage("reduce_scatter", size_bytes / local, group.nodes, across))
    if kind == "all_gather":
        return (stage("all_gather", size_bytes / local, group.nodes, across)
                + stage("all_gather", size_bytes, local, s))
    return None
