"""A memory tier: where weights, KV cache and activations live, and how fast it streams."""

from typing import Literal

from pydantic import Field, PositiveFloat

from sim.spec import Spec
from sim.units import BITS_PER_BYTE, GB, PJ

MemoryType = Literal[
    "HBM2", "HBM2e", "HBM3", "HBM3e", "HBM4", "GDDR6", "GDDR6X", "GDDR7",
    "LPDDR5", "LPDDR5X", "DDR4", "DDR5", "SRAM",
]


class MemoryTier(Spec):
    """One tier of memory that can hold model state (weights, KV cache, activations).

    ``achievable_bandwidth_fraction`` is the measured share of peak a streaming kernel
    reaches (e.g. STREAM triad); ``energy_pJ_per_bit`` is the access energy per bit moved.
    """

    type: MemoryType
    capacity_GB: PositiveFloat
    bandwidth_GBps: PositiveFloat
    achievable_bandwidth_fraction: float = Field(gt=0, le=1)
    energy_pJ_per_bit: PositiveFloat
    # False for a tier only training's weight streaming reads (Cerebras MemoryX): inference
    # keeps the model in the other tiers.
    serves_inference: bool = True

    @property
    def capacity_bytes(self) -> float:
        return self.capacity_GB * GB

    @property
    def bandwidth_Bps(self) -> float:
        """Peak bandwidth, bytes/s."""
        return self.bandwidth_GBps * GB

    @property
    def sustained_bandwidth_Bps(self) -> float:
        """Bandwidth a streaming kernel reaches, bytes/s."""
        return self.bandwidth_GBps * GB * self.achievable_bandwidth_fraction

    @property
    def energy_J_per_byte(self) -> float:
        return self.energy_pJ_per_bit * PJ * BITS_PER_BYTE

    @property
    def peak_power_W(self) -> float:
        """Power drawn streaming at peak bandwidth."""
        return self.bandwidth_Bps * self.energy_J_per_byte
