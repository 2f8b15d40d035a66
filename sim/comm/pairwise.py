"""All-to-all by pairwise exchange, and send/recv to the next rank (nccl-tests sendrecv).

All-to-all: (n-1) messages per rank; bytes leave at the rank's injection bandwidth, and
no faster than the group's bisection allows (n*S/4 bytes cross it each way). Across
nodes the off-node share goes over the rank's NICs (a full-bisection fat tree assumed).
"""

from __future__ import annotations

from sim.comm.base import Group, algorithm
from sim.comm.grid import bisection_Bps, injection_Bps, sub_grid
from sim.comm.links import direct_Bps
from sim.system import SystemSpec
from sim.units import GB


@algorithm("pairwise")
def pairwise(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if kind != "all_to_all":
        return None
    n, local, up = group.size, group.per_node, system.scale_up
    latency = up.base_s + (local - 1) * up.step_s
    send_s = 0.0
    if local > 1:
        send_s = (local - 1) / n * size_bytes / _local_injection_Bps(system, local, group.stride)
    if group.nodes == 1:
        return latency + max(send_s, n * size_bytes / 4 / _bisection_Bps(system, n, group.stride))
    out = system.scale_out
    assert out is not None
    off_node_s = (n - local) / n * size_bytes / out.injection_Bps
    return latency + (n - local) * out.step_s + max(send_s, off_node_s)

def _local_injection_Bps(system: SystemSpec, size: int, stride: int) -> float:
    up = system.scale_up
    if up.is_grid:
        return injection_Bps(up, sub_grid(up, size, stride))
    return direct_Bps(system, size)


def _bisection_Bps(system: SystemSpec, size: int, stride: int) -> float:
    """The group's share of the domain's bisection, one way (inf where none is given)."""
    up = system.scale_up
    if up.is_grid:
        return bisection_Bps(up, sub_grid(up, size, stride))
    if up.bisection_bandwidth_GBps is None:
        return float("inf")
    share = min(1.0, size / system.chips_per_node)
    return up.bisection_bandwidth_GBps * GB * up.achievable_fraction * share


@algorithm("direct")
def direct(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    if kind != "send_recv":
        return None
    up = system.scale_up
    if group.nodes > 1:
        out = system.scale_out
        assert out is not None
        return up.base_s + out.step_s + size_bytes / out.injection_Bps
    if not up.is_grid:
        peer = direct_Bps(system, 2)
        return up.base_s + up.step_s + size_bytes / peer
    first = sub_grid(up, group.size, group.stride)[0]
    hops = first.spacing * (1 if first.wrap or first.extent == 2 else first.extent - 1)
    bandwidth = up.link_Bps / first.spacing
    return up.base_s + up.step_s + (hops - 1) * up.hop_s + size_bytes / bandwidth
