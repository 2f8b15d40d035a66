"""The iteration cost of one model instance (a deployment: one chip, or a tensor- and
pipeline-parallel plan on a system) for a scheduler and a request set."""

from __future__ import annotations

from sim.analytical.iteration import ChipIterationCost, SystemIterationCost
from sim.analytical.memory import model_as_sharded
from sim.chips.base import ChipSpec
from sim.deployment import Deployment, as_deployment
from sim.des.policies import token_budget
from sim.des.request import Request
from sim.des.spec import Scheduler
from sim.errors import UnsupportedError
from sim.workload.model import ModelSpec
from sim.workload.spec import Precision


def _check_context(model: ModelSpec, requests: list[Request]) -> None:
    longest = max((r.max_context for r in requests), default=1)
    if longest > model.max_context:
        raise UnsupportedError(f"{model.name} supports {model.max_context} tokens of context; "
                               f"a request reaches {longest}")


def iteration_cost(hardware: Deployment | ChipSpec, model: ModelSpec, precision: Precision, scheduler: Scheduler,
                   requests: list[Request]) -> ChipIterationCost:
    """The cost of one model instance on ``hardware`` (dp = 1: copies are replicas) whose
    activation workspace covers the scheduler's largest iteration; UnsupportedError if a
    request outgrows the model's context window."""
    dep = as_deployment(hardware)
    model = model_as_sharded(model, dep.software("serving"), dep.plan.tp)
    _check_context(model, requests)
    budget = token_budget(scheduler, requests)
    if dep.chips == 1:
        return ChipIterationCost(dep.chip, model, precision, max_batched_tokens=budget, max_seqs=scheduler.max_seqs,
                                 memory_fraction=scheduler.memory_fraction, stack=dep.software("serving"))
    return SystemIterationCost(dep.chip, model, precision, dep.plan, dep.comm, max_batched_tokens=budget,
                               max_seqs=scheduler.max_seqs, memory_fraction=scheduler.memory_fraction,
                               stack=dep.software("serving"))
