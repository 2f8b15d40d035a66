"""What a point runs on, built in one place: a chip, a resolved parallelism plan, and the
system sized to the plan's chips (none for one card), with the links that price its
collectives and the node power and price the system adds.

Every engine takes a ``Deployment``: ``predict``, ``predict_training``, the serving
simulation's iteration cost and the training timeline. Scenarios, ``sim predict``,
``sim serve`` and ``sim validate`` build theirs here (``plan_for`` turns a scenario's
partial plan into a full one for a card count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import PositiveInt, ValidationError

from sim.chips.base import ChipSpec
from sim.comm.pricing import CommCost, FreeLinks, SystemComm
from sim.errors import ConfigError
from sim.parts.stack import StackSpec
from sim.spec import Spec
from sim.system import SystemSpec
from sim.workload.parallel import Parallelism

Mode = Literal["inference", "training", "serving", "collective"]


class PlanEntry(Spec):
    """A parallelism layout for a card count, partly given. Left out, ``tp`` fills the
    scale-up domain (inference and serving) or is 1 (training), ``pp`` and ``cp`` are 1,
    and ``dp`` takes the remaining cards."""

    tp: PositiveInt | None = None
    cp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt | None = None
    ep: PositiveInt = 1
    sequence_parallel: bool = False
    schedule: Literal["gpipe", "1f1b", "interleaved"] = "1f1b"
    vpp: PositiveInt = 1
    micro_batch: PositiveInt = 1
    zero: Literal[0, 1, 2, 3] = 0
    recompute: Literal["none", "selective", "full"] = "none"
    overlap_dp_comm: bool = True


def plan_for(entry: PlanEntry, cards: int, system: SystemSpec | None, mode: Mode) -> Parallelism:
    """``entry`` completed for ``cards`` cards of ``system``. Raises ConfigError when the
    layout does not use exactly ``cards``."""
    data = entry.model_dump()
    if data["tp"] is None:
        domain = system.chips_per_node if system is not None else 1
        data["tp"] = min(cards, domain) if mode in ("inference", "serving") else 1
    if data["dp"] is None:
        data["dp"] = max(1, cards // (data["tp"] * data["cp"] * data["pp"]))
    if data["tp"] * data["cp"] * data["pp"] * data["dp"] != cards:
        cp = f" x cp={data['cp']}" if data["cp"] > 1 else ""
        raise ConfigError(f"tp={data['tp']}{cp} x pp={data['pp']} x dp={data['dp']} does not use {cards} cards")
    try:
        return Parallelism.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"parallelism: {err.errors()[0]['msg']}") from None


@dataclass(frozen=True)
class Deployment:
    """``plan.chips`` of ``chip``: one card (no system), a ``system`` sized to the plan's
    chips whose links price the collectives, or free links (``ideal``). ``comm`` may be
    given to share one cache of collective times between plans on the same system."""

    chip: ChipSpec
    plan: Parallelism = field(default_factory=Parallelism)
    system: SystemSpec | None = None
    comm: CommCost = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    stack: StackSpec | None = None  # the software; None: the chip's default for the mode

    def __post_init__(self) -> None:
        if self.system is not None:
            if self.system.total_chips != self.plan.chips:
                raise ConfigError(f"{self.system.name} is sized to {self.system.total_chips} chips; "
                                  f"plan {self.plan.label} uses {self.plan.chips}")
            if self.system.chip != self.chip:
                raise ConfigError(f"{self.system.name} holds {self.system.chip.name}, not {self.chip.name}")
        if self.comm is None:
            object.__setattr__(self, "comm", SystemComm(self.system) if self.system is not None else FreeLinks())

    @classmethod
    def one_chip(cls, chip: ChipSpec, stack: StackSpec | None = None) -> Deployment:
        """One card of ``chip``: no links, no plan."""
        return cls(chip, stack=stack)

    @classmethod
    def on_system(cls, system: SystemSpec, plan: Parallelism, comm: CommCost | None = None,
                  stack: StackSpec | None = None) -> Deployment:
        """``plan`` on ``system`` sized to its chips (part of a node, or whole nodes)."""
        sized = system if system.total_chips == plan.chips else system.sized(plan.chips)
        return cls(sized.chip, plan, sized, comm, stack)  # type: ignore[arg-type]

    @classmethod
    def ideal(cls, chip: ChipSpec, plan: Parallelism, stack: StackSpec | None = None) -> Deployment:
        """``plan`` over ``plan.chips`` of ``chip`` on free links (infinite bandwidth, no
        latency): the compute split alone."""
        return cls(chip, plan, stack=stack)

    def with_chip(self, chip: ChipSpec) -> Deployment:
        """The same deployment with ``chip`` in place of its chip (a what-if, or a fit)."""
        system = self.system.model_copy(update={"chip": chip}) if self.system is not None else None
        return Deployment(chip, self.plan, system, stack=self.stack)

    def with_stack(self, stack: StackSpec | None) -> Deployment:
        """The same hardware and plan under another software stack."""
        return replace(self, stack=stack)

    def software(self, mode: Mode) -> StackSpec:
        """The stack this deployment runs ``mode`` under: its own, or the chip's default
        (serving stack for inference and serving, training framework for training)."""
        if self.stack is not None:
            return self.stack
        return self.chip.default_training_stack if mode == "training" else self.chip.default_stack

    @property
    def chips(self) -> int:
        return self.plan.chips

    @property
    def nodes(self) -> int:
        """Scale-up domains (nodes) in use; one card is one node."""
        return self.system.nodes if self.system is not None else 1

    @property
    def node_power_W(self) -> float:
        """Power the nodes draw beyond their chips (hosts, switches, NICs), watts; NaN where
        it is not known (a chip without a system, a system file without ``node.power_W``)."""
        return self.system.extra_power_W if self.system is not None else math.nan

    @property
    def node_price_USD(self) -> float:
        """Purchase price the nodes add beyond their chips, dollars."""
        return self.system.extra_price_USD if self.system is not None else 0.0

    @property
    def label(self) -> str:
        """``H100-SXM5-80GB`` for one card, ``HGX-H100-8GPU x16 tp8-dp2`` on a system."""
        if self.system is None and self.plan.chips == 1:
            return self.chip.name
        where = self.system.name if self.system is not None else f"{self.chip.name} (free links)"
        return f"{where} x{self.chips} {self.plan.label}"


def as_deployment(hardware: Deployment | ChipSpec) -> Deployment:
    """A deployment, or one card of a chip."""
    return hardware if isinstance(hardware, Deployment) else Deployment.one_chip(hardware)
