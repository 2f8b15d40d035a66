"""In-switch reduction (NVLink SHARP): "NVLS" inside one domain, each rank sends its buffer
up once and the switch returns the reduced shards, multicast (S(n+1)/n per direction); and
"NVLS tree" across domains (NCCL's NVLSTree): NVLS inside each node, pipelined with a
binary tree over nodes on the nodes' NICs. NCCL runs both on its Simple protocol only
(src/graph/tuning.cc), so a protocol view of another name does not offer them."""

from __future__ import annotations

from math import ceil, log2

from sim.comm.base import Group, algorithm
from sim.parts.link import Fabric
from sim.system import SystemSpec
from sim.units import GB, US

BULK_PROTOCOL = "Simple"  # the protocol NCCL's NVLS algorithms use


def _offered(up: Fabric, kind: str) -> bool:
    return kind == "all_reduce" and up.in_network_reduction and up.protocol in (None, BULK_PROTOCOL)


def _in_switch_s(up: Fabric, ranks: int, size_bytes: float) -> float:
    """Seconds the switch reduction takes to move ``size_bytes`` per rank (no latency)."""
    assert up.in_network_achievable_fraction is not None
    bandwidth = up.link_bandwidth_GBps * GB * up.links_per_chip * up.in_network_achievable_fraction
    return (ranks + 1) / ranks * size_bytes / bandwidth


@algorithm("nvls")
def nvls(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    up = system.scale_up
    if not _offered(up, kind) or group.nodes > 1:
        return None
    assert up.in_network_latency_us is not None
    return up.in_network_latency_us * US + _in_switch_s(up, group.size, size_bytes)


@algorithm("nvls_tree")
def nvls_tree(system: SystemSpec, group: Group, kind: str, size_bytes: float) -> float | None:
    """NVLS in each node, then each node's reduced buffer up and down a tree of nodes on its
    ``per_node`` NICs; NCCL counts the inter-node bandwidth twice for 2 nodes (each is the
    other's root). The two stages pipeline, so the slower sets the pace."""
    up, out = system.scale_up, system.scale_out
    if not _offered(up, kind) or group.nodes == 1 or group.per_node == 1 or out is None:
        return None
    assert up.in_network_latency_us is not None
    passes = 1 if group.nodes <= 2 else 2
    inter_s = passes * size_bytes / (group.per_node * out.injection_Bps)
    latency = up.in_network_latency_us * US + 2 * ceil(log2(group.nodes)) * out.in_network_tree_step_s
    return latency + max(_in_switch_s(up, group.per_node, size_bytes), inter_s)
