"""Power and price of one chip."""

from pydantic import PositiveFloat, model_validator

from sim.parts.base import Spec


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
