"""Power and price of one chip, and the economics that turn seconds and joules into money."""

from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from sim.parts.memory import MemoryTier, MemoryType
from sim.spec import Spec
from sim.units import J_PER_KWH, S_PER_YEAR


class Power(Spec):
    """Board power: the limit (TDP, past which the chip throttles), the power drawn idle,
    and ``active_W``, what it draws above idle whenever it runs anything (clocks up,
    control and data paths busy) before the energy of its flops and bytes, watts."""

    tdp_W: PositiveFloat
    idle_W: PositiveFloat
    active_W: NonNegativeFloat

    @model_validator(mode="after")
    def _idle_below_tdp(self) -> "Power":
        if self.idle_W + self.active_W >= self.tdp_W:
            raise ValueError(f"idle_W + active_W ({self.idle_W} + {self.active_W}) must be below tdp_W ({self.tdp_W})")
        return self

    @property
    def busy_W(self) -> float:
        """Power drawn while running, before the energy of its work."""
        return self.idle_W + self.active_W


class Price(Spec):
    """What one chip costs: a purchase price (amortised) or a cloud rental rate per hour.

    A cloud rate already includes power, so no electricity is added on top of it.
    """

    purchase_USD: PositiveFloat | None = None
    cloud_USD_per_hour: PositiveFloat | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Price":
        if (self.purchase_USD is None) == (self.cloud_USD_per_hour is None):
            raise ValueError("give exactly one of purchase_USD or cloud_USD_per_hour")
        return self


class Economics(Spec):
    """How to turn seconds and joules into money.

    Chip prices are in USD; results are in ``currency`` at ``currency_per_USD``.
    """

    currency: str = "USD"
    currency_per_USD: PositiveFloat = 1.0
    electricity_price_per_kWh: PositiveFloat
    amortization_years: PositiveFloat
    # Share of the amortisation period the hardware does this work (owned hardware costs
    # the same whether busy or not); 1 = always busy.
    utilization: float = Field(default=1.0, gt=0, le=1)
    # Facility power over IT power (cooling, conversion): electricity is bought at the wall x PUE.
    pue: float = Field(default=1.0, ge=1)
    # Purchase price of memory by technology, USD per GB: what a chip's price moves by when
    # a what-if swaps its memory. On-die SRAM has no entry: it is priced with the die.
    memory_USD_per_GB: dict[MemoryType, PositiveFloat] = {}
    sources: dict[str, str] = {}

    def memory_cost_USD(self, tiers: dict[str, MemoryTier]) -> float:
        """Purchase price of a chip's off-die memory tiers, USD; an error names a priced-less type."""
        total = 0.0
        for name, tier in tiers.items():
            if tier.type == "SRAM":
                continue
            if tier.type not in self.memory_USD_per_GB:
                raise ValueError(f"memory tier '{name}' is {tier.type}, which has no price in economics "
                                 f"memory_USD_per_GB (priced: {', '.join(self.memory_USD_per_GB)})")
            total += tier.capacity_GB * self.memory_USD_per_GB[tier.type]
        return total

    def cost_per_s(self, price: Price) -> float:
        """Owning (amortised purchase) or renting (cloud rate) one chip, per second."""
        if price.cloud_USD_per_hour is not None:
            usd = price.cloud_USD_per_hour / 3600.0
        else:
            assert price.purchase_USD is not None
            usd = price.purchase_USD / (self.amortization_years * S_PER_YEAR)
        return usd * self.currency_per_USD

    def energy_cost(self, price: Price, energy_J: float) -> float:
        """Electricity for ``energy_J`` at the wall (times PUE); zero for a cloud rate,
        which already includes it."""
        if price.cloud_USD_per_hour is not None:
            return 0.0
        return energy_J * self.pue / J_PER_KWH * self.electricity_price_per_kWh

    def electricity_per_hour(self, power_W: float) -> float:
        """What drawing ``power_W`` (IT power) costs per hour at the wall x PUE, whoever pays it."""
        return power_W * 3600.0 * self.pue / J_PER_KWH * self.electricity_price_per_kWh

    def run_cost(self, price: Price, chips: int, node_price_USD: float, time_s: float, wall_J: float) -> float:
        """A run of ``time_s`` on ``chips`` chips (and nodes costing ``node_price_USD``) that
        draws ``wall_J`` at the wall: hardware (amortised over the busy share of its life,
        or rented) plus electricity."""
        hardware = chips * self.cost_per_s(price)
        if price.cloud_USD_per_hour is None:
            hardware += node_price_USD / (self.amortization_years * S_PER_YEAR) * self.currency_per_USD
            hardware /= self.utilization
        return hardware * time_s + self.energy_cost(price, wall_J)
