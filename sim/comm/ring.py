"""Ring (and pipelined chain for broadcast): 2(n-1) steps for all-reduce, n-1 otherwise.

Inside a domain the ring runs on the domain's links (every link of a switch, the group's
peer links when fully connected, a Hamiltonian ring on a grid). Across domains it is one
flat ring whose narrowest part is the scale-out NICs, as NCCL builds it.
"""

from __future__ import annotations

from sim.comm.base import Group, algorithm
from sim.comm.links import ring_path, spanning_ring
from sim.system import SystemSpec

# bytes each rank sends per byte of nccl-tests size, and steps, for n ranks
_TRAFFIC = {
    "all_reduce": lambda n: (2 * (n - 1) / n, 2 * (n - 1)),
    "reduce_scatter": lambda n: ((n - 1) / n, n - 1),
    "all_gather": lambda n: ((n - 1) / n, n - 1),
    "broadcast": lambda n: (1.0, n - 1),
}


@algorithm("ring")
def ring(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if kind not in _TRAFFIC:
        return None
    traffic, steps = _TRAFFIC[kind](group.size)
    base = system.scale_up.base_s
    if group.nodes == 1:
        path = ring_path(system, group.size, group.stride)
        return base + steps * path.step_s + traffic * size_bytes / path.bandwidth_Bps
    bandwidth, intra_s, inter_s = spanning_ring(system, group)
    inter = (2 if kind == "all_reduce" else 1) * (group.nodes - 1)
    latency = base + (steps - inter) * intra_s + inter * inter_s
    if kind == "all_reduce":
        latency *= system.scale_up.cross_node_latency_factor
    return latency + traffic * size_bytes / bandwidth
