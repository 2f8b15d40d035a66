"""In-switch reduction (NVLink SHARP, "NVLS"): each rank sends its buffer up once and the
switch returns the reduced shards, multicast; each rank moves S(n+1)/n per direction."""

from __future__ import annotations

from sim.comm.base import Group, algorithm
from sim.system import SystemSpec
from sim.units import GB, US


@algorithm("nvls")
def nvls(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    up = system.scale_up
    if kind != "all_reduce" or not up.in_network_reduction or group.nodes > 1:
        return None
    assert up.in_network_achievable_fraction is not None and up.in_network_latency_us is not None
    bandwidth = up.link_bandwidth_GBps * GB * up.links_per_chip * up.in_network_achievable_fraction
    n = group.size
    return up.in_network_latency_us * US + (n + 1) / n * size_bytes / bandwidth
