"""Energy and money of a run on a deployment, from one chip's pass costs.

Chip energy = dynamic energy (flops, bytes, links) + idle_W x wall time + active_W x the
time the chip runs (all but pipeline bubbles). At the wall, the nodes' non-chip parts
(hosts, NICs, switches, fans: the system file's ``node.power_W``) draw all the time; where
that is not known the wall energy is NaN and electricity is paid for the chips alone (the
cost basis says so).
Money = owning (purchase of chips and nodes amortised over the economics' years and
utilisation) or renting (a cloud rate, which includes power) + electricity at the wall
times the facility's PUE."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.analytical.evaluate import PassCost
from sim.deployment import Deployment
from sim.parts.economics import Economics


@dataclass(frozen=True)
class RunEnergy:
    """Joules of a run: the chips alone, and at the wall (chips + node extras)."""

    chips_J: float
    wall_J: float
    cost: float
    basis: str  # "owned" or "rented"
    electricity_per_hour: float  # the power drawn (at the wall where known) as money per hour, any owner


def run_energy(dep: Deployment, total: PassCost, time_s: float, econ: Economics) -> RunEnergy:
    """Energy and cost of ``time_s`` of ``total`` (one chip's pass costs) on every chip of ``dep``."""
    p = dep.chip.power
    running_s = time_s - total.by_bound["bubble"]
    chips_J = dep.chips * (total.dynamic_energy_J + p.idle_W * time_s + p.active_W * running_s)
    wall_J = chips_J + dep.node_power_W * time_s
    billed_J = chips_J if math.isnan(wall_J) else wall_J
    basis = "rented" if dep.chip.price.cloud_USD_per_hour is not None else "owned"
    if basis == "owned" and math.isnan(wall_J):
        basis = "owned, chips' electricity only"
    return RunEnergy(chips_J, wall_J, econ.run_cost(dep.chip.price, dep.chips, dep.node_price_USD, time_s, billed_J),
                     basis, econ.electricity_per_hour(billed_J / time_s))
