"""Power and price of one chip, and the economics that turn seconds and joules into money."""

from pydantic import PositiveFloat, model_validator

from sim.spec import Spec
from sim.units import J_PER_KWH, S_PER_YEAR


class Power(Spec):
    """Board power limit (TDP) and power drawn when idle, watts."""

    tdp_W: PositiveFloat
    idle_W: PositiveFloat

    @model_validator(mode="after")
    def _idle_below_tdp(self) -> "Power":
        if self.idle_W >= self.tdp_W:
            raise ValueError(f"idle_W ({self.idle_W}) must be below tdp_W ({self.tdp_W})")
        return self


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
    sources: dict[str, str] = {}

    def cost_per_s(self, price: Price) -> float:
        """Owning (amortised purchase) or renting (cloud rate) one chip, per second."""
        if price.cloud_USD_per_hour is not None:
            usd = price.cloud_USD_per_hour / 3600.0
        else:
            assert price.purchase_USD is not None
            usd = price.purchase_USD / (self.amortization_years * S_PER_YEAR)
        return usd * self.currency_per_USD

    def energy_cost(self, price: Price, energy_J: float) -> float:
        """Electricity for ``energy_J``; zero for a cloud rate, which already includes it."""
        if price.cloud_USD_per_hour is not None:
            return 0.0
        return energy_J / J_PER_KWH * self.electricity_price_per_kWh
