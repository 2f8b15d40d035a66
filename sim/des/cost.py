"""The iteration cost of one chip, or of one model instance on a multi-card system, for a
scheduler and a request set."""

from __future__ import annotations

from sim.analytical.iteration import ChipIterationCost, SystemIterationCost
from sim.analytical.multicard import SystemComm
from sim.chips.base import ChipSpec
from sim.des.policies import token_budget
from sim.des.request import Request
from sim.des.spec import Scheduler
from sim.errors import UnsupportedError
from sim.system import SystemSpec
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision


def _check_context(model: ModelSpec, requests: list[Request]) -> None:
    longest = max((r.max_context for r in requests), default=1)
    if longest > model.max_context:
        raise UnsupportedError(f"{model.name} supports {model.max_context} tokens of context; "
                               f"a request reaches {longest}")


def chip_cost(chip: ChipSpec, model: ModelSpec, precision: Precision, scheduler: Scheduler,
              requests: list[Request]) -> ChipIterationCost:
    """``ChipIterationCost`` whose activation workspace covers the scheduler's largest
    iteration; UnsupportedError if a request outgrows the model's context window."""
    _check_context(model, requests)
    return ChipIterationCost(chip, model, precision, max_batched_tokens=token_budget(scheduler, requests),
                             max_seqs=scheduler.max_seqs, memory_fraction=scheduler.memory_fraction)


def system_cost(system: SystemSpec, model: ModelSpec, precision: Precision, plan: Parallelism,
                scheduler: Scheduler, requests: list[Request]) -> ChipIterationCost:
    """One model instance over ``plan.tp * plan.pp`` chips of ``system`` (dp = 1: copies
    are replicas), collectives priced on the system sized to those chips. A plan of one
    chip is ``chip_cost`` of the system's chip."""
    if plan.chips == 1:
        return chip_cost(system.chip, model, precision, scheduler, requests)
    _check_context(model, requests)
    return SystemIterationCost(system.chip, model, precision, plan, SystemComm(system.sized(plan.chips)),
                               max_batched_tokens=token_budget(scheduler, requests),
                               max_seqs=scheduler.max_seqs, memory_fraction=scheduler.memory_fraction)
