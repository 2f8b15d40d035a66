"""Money: electricity price, currency, amortisation. Defaults live in configs/economics.yaml."""

from __future__ import annotations

from pydantic import PositiveFloat

from sim.chips.base import ChipSpec
from sim.parts.base import Spec
from sim.units import J_PER_KWH, S_PER_YEAR


class Economics(Spec):
    """How to turn seconds and joules into money.

    Chip prices are in USD; results are in ``currency`` at ``currency_per_USD``.
    """

    currency: str = "USD"
    currency_per_USD: PositiveFloat = 1.0
    electricity_price_per_kWh: PositiveFloat
    amortization_years: PositiveFloat
    sources: dict[str, str] = {}

    def chip_cost_per_s(self, chip: ChipSpec) -> float:
        """Owning (amortised purchase) or renting (cloud rate) one chip, per second."""
        price = chip.price
        if price.cloud_USD_per_hour is not None:
            usd = price.cloud_USD_per_hour / 3600.0
        else:
            assert price.purchase_USD is not None
            usd = price.purchase_USD / (self.amortization_years * S_PER_YEAR)
        return usd * self.currency_per_USD

    def energy_cost(self, chip: ChipSpec, energy_J: float) -> float:
        """Electricity for ``energy_J``; zero for a cloud rate, which already includes it."""
        if chip.price.cloud_USD_per_hour is not None:
            return 0.0
        return energy_J / J_PER_KWH * self.electricity_price_per_kWh
