"""The iteration cost of one chip for a scheduler and a request set."""

from __future__ import annotations

from sim.analytical.iteration import ChipIterationCost
from sim.chips.base import ChipSpec
from sim.des.policies import token_budget
from sim.des.request import Request
from sim.des.spec import Scheduler
from sim.errors import UnsupportedError
from sim.workload.model import ModelSpec
from sim.workload.spec import Precision


def chip_cost(chip: ChipSpec, model: ModelSpec, precision: Precision, scheduler: Scheduler,
              requests: list[Request]) -> ChipIterationCost:
    """``ChipIterationCost`` whose activation workspace covers the scheduler's largest
    iteration; UnsupportedError if a request outgrows the model's context window."""
    longest = max((r.max_context for r in requests), default=1)
    if longest > model.max_context:
        raise UnsupportedError(f"{model.name} supports {model.max_context} tokens of context; "
                               f"a request reaches {longest}")
    return ChipIterationCost(chip, model, precision, max_batched_tokens=token_budget(scheduler, requests),
                             max_seqs=scheduler.max_seqs, memory_fraction=scheduler.memory_fraction)
