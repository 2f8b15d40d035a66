"""The smallest deployment of a system that fits an inference point: the fewest chips whose
memory holds the model's weights, KV cache and activations under some tensor x pipeline
plan, and among the plans of that size the one with the lowest latency. Model state is
first fitted into each chip's fastest tier (HBM, on-chip SRAM), as deployments are sized;
only when no count holds it there are slower tiers (DDR) counted too.

An SRAM-only LPU needs hundreds of chips for a 70B model, a wafer-scale engine a few
wafers, a GPU one or two: the count follows from capacity, not from a typed-in plan.
Tensor parallelism divides the attention heads and may cross scale-up domains (the
prediction prices the slower links, so a plan that crosses them wins only where those
links are fast enough); pipeline stages take the rest (at most one stage per layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sim.analytical.inference import Prediction, predict
from sim.analytical.memory import footprint, kv_budget_capacity
from sim.deployment import Deployment
from sim.errors import CapacityError, ConfigError
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.system import SystemSpec
from sim.units import GB
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Workload

# Chip counts tried before giving up (a 100k-card search is a configuration mistake).
MAX_CHIPS = 100_000


@dataclass(frozen=True)
class Chosen:
    """The deployment picked, its prediction, and how many plans of that size fit."""

    deployment: Deployment
    prediction: Prediction
    candidates: int

    tier: str

    @property
    def reason(self) -> str:
        d, p = self.deployment, self.prediction
        chips = f"{d.chips} chip{'s' if d.chips > 1 else ''}"
        return (f"smallest plan that fits: {chips} of {d.system.name if d.system else d.chip.name} as "
                f"{d.plan.label} ({p.memory_required_bytes / GB:.2f} GB per chip in {self.tier}; fastest of "
                f"{self.candidates} plans of that size)")


def chip_counts(system: SystemSpec) -> Iterator[int]:
    """Chip counts ``system.sized`` accepts, smallest first: every slice of one scale-up
    domain, then whole domains over the scale-out fabric."""
    domain = system.chips_per_node
    for n in range(1, domain + 1):
        try:
            system.sized(n)
        except ConfigError:
            continue
        yield n
    if system.scale_out is not None:
        yield from range(2 * domain, MAX_CHIPS + 1, domain)


def plans_of(chips: int, model: ModelSpec) -> list[Parallelism]:
    """Tensor x pipeline plans over exactly ``chips`` chips: tp divides the heads (and the
    chips), pp is at most the layer count."""
    out = []
    for tp in range(1, min(chips, model.heads) + 1):
        if chips % tp or model.heads % tp:
            continue
        pp = chips // tp
        if pp <= model.layers:
            out.append(Parallelism(tp=tp, pp=pp))
    return out


def _fits(chip_capacity: float, model: ModelSpec, wl: Workload, plan: Parallelism, stack: StackSpec) -> bool:
    need = footprint(model, wl, plan, stack.max_batched_tokens)
    return need.total <= kv_budget_capacity(chip_capacity, need, stack)


def smallest_fit(system: SystemSpec, model: ModelSpec, wl: Workload, econ: Economics,
                 stack: StackSpec | None = None) -> Chosen:
    """The fewest chips of ``system`` that hold ``wl`` for ``model`` in their fastest tier
    (or, failing that, in all the tiers inference uses), and the plan of that size with the
    lowest end-to-end latency. CapacityError when no count up to MAX_CHIPS fits."""
    chip = system.chip
    first = next(iter(chip.inference_memory))
    tiers = [(chip.inference_memory[first].capacity_bytes, first)]
    if len(chip.inference_memory) > 1:
        tiers.append((chip.inference_capacity_bytes, "all its memory tiers"))
    for capacity, where in tiers:
        chosen = _fewest(system, model, wl, econ, capacity, where, stack)
        if chosen is not None:
            return chosen
    raise CapacityError(f"{model.name} does not fit on any size of {system.name} up to {MAX_CHIPS} chips "
                        f"at batch {wl.batch}")


def _fewest(system: SystemSpec, model: ModelSpec, wl: Workload, econ: Economics, capacity: float,
            where: str, stack: StackSpec | None) -> Chosen | None:
    for chips in chip_counts(system):
        software = stack or system.chip.default_stack
        fitting = [p for p in plans_of(chips, model) if _fits(capacity, model, wl, p, software)]
        best: tuple[float, Deployment, Prediction] | None = None
        for plan in fitting:
            dep = Deployment.on_system(system, plan, stack=stack)
            try:
                pred = predict(dep, model, wl, econ)
            except (CapacityError, ConfigError):
                continue
            if best is None or pred.e2e_latency_s < best[0]:
                best = (pred.e2e_latency_s, dep, pred)
        if best is not None:
            return Chosen(best[1], best[2], len(fitting), where)
    return None
