"""The chip spec every architecture class extends, and the registry of classes.

A class is one module in ``sim/chips/`` that defines a ``ChipSpec`` subclass decorated with
``@chip_kind("name")``; importing ``sim.chips`` registers every module found there, so the
loader accepts the new ``kind:`` with no other edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, PositiveFloat, model_validator

from sim.parts.compute import Compute
from sim.parts.economics import Power, Price
from sim.parts.memory import MemoryTier
from sim.parts.stack import StackSpec
from sim.spec import Spec

if TYPE_CHECKING:
    from sim.chips.costing import ChipCostModel

ConfigStatus = Literal["confirmed", "partly_assumed", "assumed"]

_CHIP_KINDS: dict[str, type[ChipSpec]] = {}


def chip_kind(name: str):
    """Class decorator: register a ChipSpec subclass under its ``kind`` tag."""

    def register(cls: type[ChipSpec]) -> type[ChipSpec]:
        _CHIP_KINDS[name] = cls
        return cls

    return register


def registered_chip_kinds() -> dict[str, type[ChipSpec]]:
    """kind tag -> spec class, for every architecture class module in ``sim/chips``."""
    return dict(_CHIP_KINDS)


class ChipSpec(Spec):
    """What every accelerator has: compute, memory tiers, power, price, and sources.

    ``memory`` lists the tiers that hold model state, fastest-preferred first; weights,
    then KV cache, then activations are placed in that order. ``sources`` maps a dotted
    field path (or a prefix of it) to where the number comes from; every number needs one.
    """

    kind: str
    name: str
    vendor: str
    status: ConfigStatus
    aliases: tuple[str, ...] = ()
    compute: Compute
    onchip_sram_MiB: PositiveFloat | None = None
    memory: dict[str, MemoryTier] = Field(min_length=1)
    # How bytes that spill past the first tier are read: "overflow" reads them where they
    # lie (tier by tier); "prefetch" copies them up into the first tier ahead of use while
    # it serves every read (SN40L: DDR -> HBM, as Composition of Experts runs).
    memory_hierarchy: Literal["overflow", "prefetch"] = "overflow"
    power: Power
    price: Price
    # The software it runs under unless a point names another (a catalog stack: the chip
    # file names it; the loader puts the stack's spec here).
    default_stack: StackSpec
    default_training_stack: StackSpec
    notes: str = ""
    sources: dict[str, str]

    # The kind's structure block for a tiny test instance (contract tests use ``tiny``).
    tiny_structure: ClassVar[dict] = {}

    @model_validator(mode="after")
    def _power_covers_memory(self) -> ChipSpec:
        memory_W = sum(t.peak_power_W for t in self.memory.values())
        if memory_W + self.power.idle_W >= self.power.tdp_W:
            raise ValueError(
                f"idle_W + memory power at peak bandwidth ({self.power.idle_W:.0f} + "
                f"{memory_W:.0f} W) must stay below tdp_W ({self.power.tdp_W:.0f} W); "
                "check energy_pJ_per_bit"
            )
        return self

    @property
    def capacity_bytes(self) -> float:
        """Total capacity of the tiers that hold model state."""
        return sum(t.capacity_bytes for t in self.memory.values())

    @property
    def inference_memory(self) -> dict[str, MemoryTier]:
        """The tiers an inference deployment keeps model state in (all but training-only ones)."""
        return {k: t for k, t in self.memory.items() if t.serves_inference}

    @property
    def inference_capacity_bytes(self) -> float:
        return sum(t.capacity_bytes for t in self.inference_memory.values())

    @property
    def main_tier(self) -> MemoryTier:
        """The first-preferred tier (HBM on a GPU, SRAM on an LPU)."""
        return next(iter(self.memory.values()))

    @classmethod
    def tiny(cls, **overrides: object) -> ChipSpec:
        """A small valid chip of this kind (fictional numbers) for contract tests."""
        data = {
            "name": f"tiny-{cls.model_fields['kind'].default}", "vendor": "test", "status": "assumed",
            "compute": {"peak_dense_TFLOPS": {"bf16": 100.0, "fp8": 200.0}, "max_matmul_fraction": 0.8,
                        "energy_pJ_per_flop": {"bf16": 1.0, "fp8": 0.5}},
            "onchip_sram_MiB": 64.0,
            "memory": {"main": {"type": "HBM3", "capacity_GB": 64.0, "bandwidth_GBps": 1000.0,
                                "achievable_bandwidth_fraction": 0.9, "energy_pJ_per_bit": 4.0}},
            "power": {"tdp_W": 300.0, "idle_W": 50.0, "active_W": 50.0}, "price": {"purchase_USD": 10000.0},
            "default_stack": StackSpec.tiny(), "default_training_stack": StackSpec.tiny(),
            "sources": {"*": "fictional test chip"}, **cls.tiny_structure,
        }
        data.update(overrides)
        return cls.model_validate(data)

    def cost_model(self) -> ChipCostModel:
        """This class's cost model for one op / block on this chip."""
        raise NotImplementedError

