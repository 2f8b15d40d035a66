"""Bandwidth and latency a group sees on each level: inside one scale-up domain (any
topology) and across domains (a ring whose narrowest part is the scale-out NICs)."""

from __future__ import annotations

from sim.comm.base import Group
from sim.comm.grid import RingPath, hamiltonian_ring, sub_grid
from sim.system import SystemSpec


def direct_Bps(system: SystemSpec, size: int) -> float:
    """Per-chip bandwidth (bytes/s, one way) a group of ``size`` ranks in one domain gets on
    a switch (every link) or a fully connected fabric (the links to its peers in the group)."""
    up = system.scale_up
    if up.topology == "fully_connected":
        per_peer = up.links_per_chip // max(system.chips_per_node - 1, 1)
        return (size - 1) * per_peer * up.link_Bps
    return up.injection_Bps


def ring_path(system: SystemSpec, size: int, stride: int) -> RingPath:
    """The ring a group of ``size`` ranks ``stride`` apart runs inside one domain."""
    up = system.scale_up
    if up.is_grid:
        return hamiltonian_ring(up, sub_grid(up, size, stride))
    return RingPath(direct_Bps(system, size), up.step_s)


def spanning_ring(system: SystemSpec, group: Group) -> tuple[float, float, float]:
    """A ring across nodes, one exit per node per ring, ``per_node`` rings in parallel (one
    per local rank's NIC): (bandwidth bytes/s, intra-node step s, inter-node step s)."""
    out = system.scale_out
    assert out is not None
    nics = group.per_node * out.injection_Bps
    if group.per_node == 1:
        return nics, out.step_s, out.step_s
    intra = ring_path(system, group.per_node, group.stride)
    share = group.per_node / (group.per_node - 1)  # an intra hop carries (g-1)/g of the rings
    return min(intra.bandwidth_Bps * share, nics), intra.step_s, out.step_s
