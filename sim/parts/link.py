"""One level of interconnect (a scale-up domain or a scale-out network) as data.

Bandwidths are per link and per direction; a chip has ``links_per_chip`` such links into
the fabric. ``switch`` / ``pcie_switch`` connect every chip to every other through a
switch; ``fully_connected`` spreads each chip's links evenly over its peers; ``ring``,
``mesh2d``, ``torus2d`` and ``torus3d`` are grids with ``dims`` (a ring is a 1-D torus).
"""

from __future__ import annotations

from itertools import product
from math import prod
from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from sim.errors import ConfigError
from sim.spec import Spec
from sim.units import GB, US

Topology = Literal["switch", "pcie_switch", "ring", "mesh2d", "torus2d", "torus3d", "fully_connected"]
GRID_RANK = {"ring": 1, "mesh2d": 2, "torus2d": 2, "torus3d": 3}


class Protocol(Spec):
    """One way a collective library moves data on a fabric, as NCCL's LL, LL128 and Simple:
    a latency paid once per collective and per algorithm step, and the share of the
    fabric's sustained bandwidth it carries (LL sends a flag with every 4 bytes of data,
    LL128 one in every 128), optionally capped (``max_bandwidth_GBps``: per chip and
    direction, as NCCL's per-architecture LL ceiling). The library picks, per message,
    the protocol that finishes first: low latency for small messages, full bandwidth for
    large ones. A fabric names its protocols (``Fabric.protocols``). A tree may step and
    share bandwidth differently from a ring (``tree_*``; default: as the ring), and a
    ring's latency across nodes may grow by ``cross_node_latency_factor`` (NCCL's Simple
    all-reduce "plateau")."""

    base_latency_us: NonNegativeFloat = 0.0
    step_latency_us: NonNegativeFloat
    bandwidth_fraction: float = Field(gt=0, le=1)
    max_bandwidth_GBps: PositiveFloat | None = None
    tree_step_latency_us: NonNegativeFloat | None = None
    tree_bandwidth_fraction: float | None = Field(default=None, gt=0, le=1)
    cross_node_latency_factor: float = Field(default=1.0, ge=1)


class Fabric(Spec):
    """Links, topology and latencies of one interconnect level.

    ``achievable_fraction`` is the share of link bandwidth a ring/tree collective reaches;
    ``in_network_achievable_fraction`` the same for in-switch reduction (NVLS/SHARP).
    ``base_latency_us`` is paid once per collective, ``step_latency_us`` per algorithm step
    to a neighbour, ``hop_latency_us`` per extra link a grid message crosses; a tree may
    have its own step latency and achievable fraction (``tree_*``; default: the ring's),
    and a ring all-reduce across nodes its latency times ``cross_node_latency_factor``. A
    fabric whose library has several protocols lists them in ``protocols`` instead of the
    latencies (``as_protocol`` gives the fabric as one of them sees it).
    """

    name: str
    topology: Topology
    link_bandwidth_GBps: PositiveFloat
    links_per_chip: PositiveInt
    achievable_fraction: float = Field(gt=0, le=1)
    base_latency_us: NonNegativeFloat | None = None
    step_latency_us: NonNegativeFloat | None = None
    protocols: dict[str, Protocol] | None = None
    # The protocol this fabric is seen as (set by as_protocol); None: as described.
    protocol: str | None = None
    tree_step_latency_us: NonNegativeFloat | None = None
    tree_achievable_fraction: float | None = Field(default=None, gt=0, le=1)
    cross_node_latency_factor: float = Field(default=1.0, ge=1)
    hop_latency_us: NonNegativeFloat = 0.0
    # Latency the network's transport adds to every algorithm step that crosses it, beyond
    # the collective library's own constants: a transport its tuner does not know (AWS EFA's
    # SRD through libfabric, GPUDirect-TCPXO). Every protocol and algorithm pays it.
    transport_latency_us: NonNegativeFloat = 0.0
    dims: tuple[PositiveInt, ...] | None = None
    wrap: tuple[bool, ...] | None = None
    torus_min_extent: PositiveInt | None = None
    in_network_reduction: bool = False
    in_network_achievable_fraction: float | None = Field(default=None, gt=0, le=1)
    in_network_latency_us: NonNegativeFloat | None = None
    # One step between nodes of a tree fed by in-switch reduction (NCCL's NVLSTree); on a
    # scale-out network. None: the network's own tree step.
    in_network_tree_step_latency_us: NonNegativeFloat | None = None
    bisection_bandwidth_GBps: PositiveFloat | None = None
    # Energy to move one bit from chip to chip over this level (SerDes, switch, optics).
    energy_pJ_per_bit: PositiveFloat

    @model_validator(mode="after")
    def _shape_matches_topology(self) -> Fabric:
        rank = GRID_RANK.get(self.topology)
        if rank is None and self.dims is not None:
            raise ValueError(f"dims apply only to grid topologies, not '{self.topology}'")
        if rank is not None and (self.dims is None or len(self.dims) != rank):
            raise ValueError(f"topology '{self.topology}' needs dims with {rank} extent(s)")
        if self.wrap is not None and (self.dims is None or len(self.wrap) != len(self.dims)):
            raise ValueError("wrap needs one flag per entry of dims")
        if self.in_network_reduction and (self.in_network_achievable_fraction is None
                                          or self.in_network_latency_us is None):
            raise ValueError("in_network_reduction needs in_network_achievable_fraction "
                             "and in_network_latency_us")
        if self.protocols is None and self.step_latency_us is None:
            raise ValueError("a fabric needs step_latency_us (and base_latency_us) or protocols")
        if self.protocols is not None:
            beside = [f for f in ("base_latency_us", "step_latency_us", "tree_step_latency_us",
                                  "tree_achievable_fraction") if getattr(self, f) is not None]
            if beside or self.cross_node_latency_factor != 1.0:
                raise ValueError("give the latencies in each of protocols, not beside them "
                                 f"({', '.join(beside) or 'cross_node_latency_factor'})")
            if not self.protocols:
                raise ValueError("protocols, when given, name at least one")
        return self

    @property
    def protocol_names(self) -> tuple[str, ...]:
        """The protocols this fabric's library chooses among (none: one, as given)."""
        return tuple(self.protocols) if self.protocols else ()

    def as_protocol(self, name: str) -> Fabric | None:
        """This fabric as protocol ``name`` sees it: its latencies, and the achievable
        fraction scaled by its share (and cut to its cap); None if it has no such
        protocol; the fabric itself if it lists none."""
        if self.protocols is None:
            return self
        chosen = self.protocols.get(name)
        if chosen is None:
            return None
        ceiling = 1.0
        if chosen.max_bandwidth_GBps is not None:
            ceiling = chosen.max_bandwidth_GBps / (self.link_bandwidth_GBps * self.links_per_chip)
        tree_share = chosen.tree_bandwidth_fraction or chosen.bandwidth_fraction
        return self.model_copy(update={
            "protocols": None, "protocol": name, "base_latency_us": chosen.base_latency_us,
            "step_latency_us": chosen.step_latency_us,
            "tree_step_latency_us": chosen.tree_step_latency_us,
            "achievable_fraction": min(self.achievable_fraction * chosen.bandwidth_fraction, ceiling),
            "tree_achievable_fraction": min(self.achievable_fraction * tree_share, ceiling),
            "cross_node_latency_factor": chosen.cross_node_latency_factor})

    @property
    def is_grid(self) -> bool:
        return self.topology in GRID_RANK

    @property
    def link_Bps(self) -> float:
        """Sustained bandwidth of one link in one direction, bytes/s."""
        return self.link_bandwidth_GBps * GB * self.achievable_fraction

    @property
    def injection_Bps(self) -> float:
        """Sustained bandwidth of all a chip's links in one direction, bytes/s."""
        return self.link_Bps * self.links_per_chip

    @property
    def energy_J_per_byte(self) -> float:
        return self.energy_pJ_per_bit * 1e-12 * 8

    @property
    def base_s(self) -> float:
        """Latency paid once per collective, seconds (a fabric with ``protocols`` is asked
        through ``as_protocol``)."""
        assert self.protocols is None, "ask a fabric with protocols through as_protocol"
        return (self.base_latency_us or 0.0) * US

    @property
    def transport_s(self) -> float:
        """What the transport adds to each step, seconds (``transport_latency_us``)."""
        return self.transport_latency_us * US

    @property
    def step_s(self) -> float:
        assert self.step_latency_us is not None, "ask a fabric with protocols through as_protocol"
        return self.step_latency_us * US + self.transport_s

    @property
    def tree_step_s(self) -> float:
        """Latency of one tree step, seconds (the ring's step where none is given)."""
        return self.step_s if self.tree_step_latency_us is None else self.tree_step_latency_us * US + self.transport_s

    @property
    def in_network_tree_step_s(self) -> float:
        """One step between nodes of NCCL's NVLSTree on this network, seconds (its own
        constant where given, else the network's tree step)."""
        if self.in_network_tree_step_latency_us is None:
            return self.tree_step_s
        return self.in_network_tree_step_latency_us * US + self.transport_s

    @property
    def tree_injection_Bps(self) -> float:
        """What a tree sustains on all a chip's links in one direction, bytes/s."""
        share = self.tree_achievable_fraction or self.achievable_fraction
        return self.link_bandwidth_GBps * GB * share * self.links_per_chip

    @property
    def hop_s(self) -> float:
        return self.hop_latency_us * US

    @property
    def wraps(self) -> tuple[bool, ...]:
        """Per grid dimension: does it have wrap-around links (a ring) or not (a line)?"""
        if self.dims is None:
            return ()
        if self.wrap is not None:
            return self.wrap
        return tuple(self.topology != "mesh2d" for _ in self.dims)

    def slice_of(self, chips: int) -> Fabric:
        """This grid cut to a slice of ``chips`` chips: the most even shape that fits."""
        assert self.dims is not None
        shape = _slice_shape(chips, self.dims)
        if shape is None:
            raise ConfigError(f"{self.name}: {chips} chips do not form a slice of the "
                              f"{'x'.join(map(str, self.dims))} {self.topology}")
        wrap = tuple(self._wraps_at(shape, i) for i in range(len(shape)))
        return self.model_copy(update={"dims": shape, "wrap": wrap})

    def _wraps_at(self, shape: tuple[int, ...], i: int) -> bool:
        """A slice dimension wraps when it spans the full extent, or when every extent is a
        multiple of ``torus_min_extent`` (TPU v5p: any slice of whole 4x4x4 cubes)."""
        if self.topology == "mesh2d" or shape[i] == 1:
            return False
        assert self.dims is not None
        if shape[i] == self.dims[i] and (self.wrap is None or self.wrap[i]):
            return True
        block = self.torus_min_extent
        return block is not None and all(e % block == 0 for e in shape)


def _slice_shape(chips: int, dims: tuple[int, ...]) -> tuple[int, ...] | None:
    """Extents e_i <= dims[i] with product ``chips``, as even as possible (None if none)."""
    options = [s for s in product(*(range(1, d + 1) for d in dims)) if prod(s) == chips]
    if not options:
        return None
    return min(options, key=lambda s: (max(s), -min(s), s))
