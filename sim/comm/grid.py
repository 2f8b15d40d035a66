"""Where a group lies on a grid (ring, mesh, torus), and the rings it can run there.

Ranks are numbered along dims[0] first. A group of ranks ``stride`` apart must form a
regular sub-grid: in each dimension an evenly spaced set of coordinates. A dimension of
the group wraps when the fabric's dimension wraps and the group covers it evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import prod

from sim.errors import UnsupportedError
from sim.parts.link import Fabric


@dataclass(frozen=True)
class Dim:
    """One dimension of a group on a grid: ``extent`` ranks ``spacing`` links apart."""

    extent: int
    spacing: int
    wrap: bool


@dataclass(frozen=True)
class RingPath:
    """A ring's sustained bandwidth per chip and direction (bytes/s) and latency per step (s)."""

    bandwidth_Bps: float
    step_s: float


def sub_grid(fabric: Fabric, size: int, stride: int) -> tuple[Dim, ...]:
    """The group's dimensions with more than one rank (see module doc)."""
    assert fabric.dims is not None
    return _sub_grid(fabric.dims, fabric.wraps, size, stride, fabric.name)


@lru_cache(maxsize=1024)
def _sub_grid(dims: tuple[int, ...], wraps: tuple[bool, ...], size: int, stride: int,
              name: str) -> tuple[Dim, ...]:
    coords: list[set[int]] = [set() for _ in dims]
    for i in range(size):
        rank = i * stride
        for axis, extent in enumerate(dims):
            coords[axis].add(rank % extent)
            rank //= extent
    out = []
    for axis, values in enumerate(coords):
        ordered = sorted(values)
        gaps = {ordered[k + 1] - ordered[k] for k in range(len(ordered) - 1)}
        if len(gaps) > 1:
            break
        spacing = gaps.pop() if gaps else 1
        wrap = wraps[axis] and len(ordered) * spacing == dims[axis]
        out.append(Dim(len(ordered), spacing, wrap))
    if len(out) < len(dims) or prod(d.extent for d in out) != size:
        shape = "x".join(map(str, dims))
        raise UnsupportedError(f"a group of {size} ranks {stride} apart is not a regular "
                               f"sub-grid of the {shape} {name}; pick a size and stride that "
                               "tile it")
    return tuple(d for d in out if d.extent > 1)


def dim_ring(fabric: Fabric, dim: Dim) -> RingPath:
    """Rings along one dimension: both directions of a wrapped ring; a line embeds one
    folded ring (two hops per step, half the bandwidth). Groups ``spacing`` apart share
    each link with ``spacing - 1`` other groups running at the same time."""
    folded = not dim.wrap and dim.extent > 2
    hops = dim.spacing * (2 if folded else 1)
    lanes = 2 if dim.wrap else 1
    return RingPath(lanes * fabric.link_Bps / dim.spacing, fabric.step_s + (hops - 1) * fabric.hop_s)


def hamiltonian_ring(fabric: Fabric, dims: tuple[Dim, ...]) -> RingPath:
    """One bidirectional ring through every rank of the group: neighbour hops when a
    Hamiltonian cycle exists (any wrapped or even-length dimension), folded otherwise."""
    if len(dims) == 1:
        return dim_ring(fabric, dims[0])
    cycle = any(d.wrap or d.extent % 2 == 0 for d in dims)
    spacing = max(d.spacing for d in dims)
    hops = spacing * (1 if cycle else 2)
    lanes = 2 if cycle else 1
    return RingPath(lanes * fabric.link_Bps / spacing, fabric.step_s + (hops - 1) * fabric.hop_s)


def injection_Bps(fabric: Fabric, dims: tuple[Dim, ...]) -> float:
    """Bandwidth a chip can send on the links of the group's dimensions, bytes/s."""
    return sum((2 if d.wrap or d.extent > 2 else 1) * fabric.link_Bps / d.spacing for d in dims)


def bisection_Bps(fabric: Fabric, dims: tuple[Dim, ...]) -> float:
    """Bandwidth across the cut that halves the group's longest dimension, one way, bytes/s."""
    size = prod(d.extent for d in dims)
    longest = max(dims, key=lambda d: d.extent)
    links = size // longest.extent * (2 if longest.wrap else 1)
    return links * fabric.link_Bps / longest.spacing
