"""A multi-chip system: chips in scale-up domains (nodes) joined by a scale-out fabric.

``SystemSpec.chip`` is the loaded ``ChipSpec`` (the YAML names a catalog chip;
``sim.catalog.load_system`` resolves it). Ranks are numbered so that consecutive ranks
share a node. ``sized(n)`` returns the system cut or grown to ``n`` chips.
"""

from __future__ import annotations

import math
from math import ceil, prod

from pydantic import NonNegativeFloat, PositiveInt, model_validator

from sim.chips import ChipSpec
from sim.chips.base import ConfigStatus
from sim.errors import ConfigError
from sim.parts.link import Fabric
from sim.spec import Spec


class NodeExtras(Spec):
    """What a node adds beyond its chips (host CPUs, switches, NICs, fans): watts drawn and
    purchase dollars per node. No ``power_W`` means not known (no power at the wall is
    reported); a zero price means not counted."""

    power_W: NonNegativeFloat | None = None
    price_USD: NonNegativeFloat = 0.0


class SystemSpec(Spec):
    """Chips, the size of a scale-up domain, its fabric, and an optional scale-out network.

    ``chips_per_node`` is the scale-up domain size (8 on an HGX board, 72 in an NVL72, the
    whole torus on a TPU pod). ``total_chips`` is None until the system is ``sized``.
    """

    name: str
    aliases: tuple[str, ...] = ()
    status: ConfigStatus
    chip: ChipSpec
    chips_per_node: PositiveInt
    scale_up: Fabric
    scale_out: Fabric | None = None
    node: NodeExtras = NodeExtras()
    # A rack-scale domain a job may take part of in whole trays of this many chips (NVL72:
    # 4 GPUs per compute tray), so a job of any multiple of it spans several domains.
    slice_chips: PositiveInt | None = None
    total_chips: PositiveInt | None = None
    notes: str = ""
    sources: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> SystemSpec:
        up = self.scale_up
        if up.dims is not None and prod(up.dims) != self.chips_per_node:
            raise ValueError(f"scale_up.dims {list(up.dims)} hold {prod(up.dims)} chips, "
                             f"not chips_per_node ({self.chips_per_node})")
        if up.topology == "fully_connected" and up.links_per_chip % max(self.chips_per_node - 1, 1):
            raise ValueError("fully_connected needs links_per_chip to be a multiple of "
                             f"chips_per_node - 1 ({self.chips_per_node - 1})")
        if self.scale_out is not None and self.scale_out.topology not in ("switch", "pcie_switch"):
            raise ValueError("scale_out must be a switched network (switch or pcie_switch)")
        return self

    @property
    def nodes(self) -> int:
        """Scale-up domains in use (a partly used node counts as one)."""
        return ceil((self.total_chips or self.chips_per_node) / self.chips_per_node)

    @property
    def extra_power_W(self) -> float:
        """Power the nodes draw beyond their chips, watts; NaN where the file gives none."""
        return math.nan if self.node.power_W is None else self.node.power_W * self.nodes

    @property
    def extra_price_USD(self) -> float:
        """Purchase price the nodes add beyond their chips, dollars."""
        return self.node.price_USD * self.nodes

    def _slice_of_domain(self, chips: int) -> int | None:
        """Chips a job uses in each domain when it spans several and the domain takes any
        whole number of ``slice_chips`` (a rack's trays): the largest such share of the
        domain that divides ``chips``; None when the domain takes only whole nodes."""
        if self.slice_chips is None:
            return None
        for used in range(self.chips_per_node - self.chips_per_node % self.slice_chips, 0, -self.slice_chips):
            if chips % used == 0:
                return used
        return None

    def sized(self, chips: int) -> SystemSpec:
        """This system with ``chips`` chips: part of one node, or whole nodes over the
        scale-out fabric; a grid domain is cut to the most even slice that fits."""
        c = self.chips_per_node
        if chips < 1:
            raise ConfigError(f"system {self.name}: chip count must be at least 1 (got {chips})")
        if chips > c and self.scale_out is None:
            raise ConfigError(f"system {self.name} has no scale-out fabric: at most {c} chips "
                              f"(asked for {chips})")
        update: dict = {"total_chips": chips}
        if chips > c and chips % c:
            used = self._slice_of_domain(chips)
            if used is None:
                raise ConfigError(f"system {self.name}: {chips} chips is not a whole number of "
                                  f"{c}-chip nodes (try {chips // c * c} or {(chips // c + 1) * c})")
            update["chips_per_node"] = used
        if self.scale_up.is_grid and chips < c:
            update["scale_up"] = self.scale_up.slice_of(chips)
            update["chips_per_node"] = chips
        return self.model_copy(update=update)

