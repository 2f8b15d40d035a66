"""Dimension-ordered rings on a grid (TPU-style 2-D/3-D all-reduce): reduce-scatter along
one dimension, then the next on the smaller shard, and all-gather back. The buffer is split
into one part per dimension, each starting on a different dimension, so every dimension's
links are busy in every phase. Wrapped dimensions run both ring directions; a mesh
dimension embeds a folded ring (twice the hops, half the bandwidth)."""

from __future__ import annotations

from math import prod

from sim.comm.base import Group, algorithm
from sim.comm.grid import RingPath, dim_ring, sub_grid
from sim.system import SystemSpec

_PASSES = {"all_reduce": 2, "reduce_scatter": 1, "all_gather": 1}


@algorithm("dimension_ordered")
def dimension_ordered(system: SystemSpec, group: Group, kind: str,
                      size_bytes: float) -> float | None:
    up = system.scale_up
    if not up.is_grid or group.nodes > 1 or kind not in _PASSES:
        return None
    dims = sub_grid(up, group.size, group.stride)
    rings = [dim_ring(up, d) for d in dims]
    extents = [d.extent for d in dims]
    return up.base_s + _PASSES[kind] * _reduce_scatter_s(rings, extents, size_bytes)


def _reduce_scatter_s(rings: list[RingPath], extents: list[int], size_bytes: float) -> float:
    """Phases of the reduce-scatter; part j visits dimensions j, j+1, ... (mod d)."""
    d = len(rings)
    total = 0.0
    for phase in range(d):
        slowest = 0.0
        for part in range(d):
            axis = (part + phase) % d
            done = [(part + k) % d for k in range(phase)]
            data = size_bytes / d / prod(extents[a] for a in done)
            e, path = extents[axis], rings[axis]
            slowest = max(slowest, (e - 1) * path.step_s + (e - 1) / e * data / path.bandwidth_Bps)
        total += slowest
    return total
