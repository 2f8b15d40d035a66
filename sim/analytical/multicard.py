"""One pipeline stage on one chip of a multi-card job: its sharded ops, its collectives,
and how micro-batches fill the pipeline. Shared by inference and training."""

from __future__ import annotations

from sim.analytical.evaluate import EnergyModel, PassCost, evaluate
from sim.chips.costing import ChipCostModel, Placement
from sim.comm.pricing import CommCost, comm_energy_J, comm_time_s
from sim.parts.stack import StackSpec
from sim.units import US
from sim.workload.model import ModelSpec
from sim.workload.ops import Graph
from sim.workload.parallel import (
    CommCall,
    Parallelism,
    forward_collectives,
    shard_graph,
)

# The GEMMs a tensor-parallel collective can hide under (the all-gather before a column-
# parallel projection, the reduce-scatter after a row-parallel one: Megatron's userbuffer
# overlap pipelines each collective with the GEMM chunks next to it).
OVERLAPPED_GEMMS = ("projection", "mlp", "moe")


def p2p_call(model: ModelSpec, tokens: int, act_bytes: float) -> CommCall:
    """The activations one stage hands the next for ``tokens`` tokens."""
    return CommCall("pp_send_recv", "send_recv", tokens * model.hidden * act_bytes, "pp", 1)


class StageModel:
    """Costs one stage's share of a pass on one chip, collectives included. Inference
    engines issue the tensor-parallel all-reduce on the critical path between a layer's
    two GEMMs; a training stack with ``tp_comm_overlap`` runs its collectives under the
    GEMMs that produce and consume them, so only the part longer than those GEMMs shows.
    Inference adds the stack's host work per pass and per sampled sequence."""

    def __init__(self, model: ModelSpec, plan: Parallelism, cost_model: ChipCostModel, energy: EnergyModel,
                 pl: Placement, comm: CommCost, mode: str, stack: StackSpec, keep_ops: bool = False) -> None:
        self.model, self.plan, self.cm, self.energy, self.pl = model, plan, cost_model, energy, pl
        self.comm, self.mode, self.stack, self.keep_ops = comm, mode, stack, keep_ops

    def forward(self, graph: Graph, tokens: int, act_bytes: float) -> PassCost:
        """One stage's forward over ``tokens`` tokens (one micro-batch)."""
        plan = self.plan
        cost = self.forward_ops(graph)
        calls = forward_collectives(self.model, tokens, act_bytes, plan, plan.stage_layers(self.model))
        comm_s = comm_time_s(calls, plan, self.comm, self.mode)
        if self.mode == "training" and self.stack.tp_comm_overlap:
            comm_s = max(0.0, comm_s - sum(cost.by_category[c] for c in OVERLAPPED_GEMMS))
        cost.add_comm(comm_s, comm_energy_J(calls, plan, self.comm, self.mode))
        if self.mode == "inference":  # the serving stack's host work per pass and per sampled sequence
            cost.add_overhead(self.stack.pass_overhead_us(plan.tp, graph.tokens_out) * US)
        return cost

    def forward_ops(self, graph: Graph) -> PassCost:
        """The stage's share of ``graph``'s ops alone (no collectives, no host work)."""
        plan = self.plan
        stage = shard_graph(graph, plan.tp, plan.pp, plan.ep if self.mode == "inference" else 1,
                            plan.sequence_parallel)
        return evaluate(stage, self.cm, self.energy, self.pl, self.keep_ops)

    def p2p_s(self, tokens: int, act_bytes: float) -> float:
        if self.plan.pp == 1:
            return 0.0
        return comm_time_s([p2p_call(self.model, tokens, act_bytes)], self.plan, self.comm, self.mode)

    def p2p_J(self, tokens: int, act_bytes: float) -> float:
        """Energy of one stage-to-stage send of ``tokens`` tokens' activations."""
        if self.plan.pp == 1:
            return 0.0
        return comm_energy_J([p2p_call(self.model, tokens, act_bytes)], self.plan, self.comm, self.mode)


def pipelined(stages: list[tuple[PassCost, int, float, float]], slots: int) -> PassCost:
    """A chip's view of micro-batches passing through the pipeline in ``slots`` stage
    times (m + p - 1 to fill and drain for a whole pass; p per decode round).

    ``stages`` holds (stage cost, micro-batches of that size, p2p seconds, p2p joules), the
    largest micro-batches first: a batch that does not divide into m equal micro-batches
    runs some one sequence larger. Its own work is every micro-batch's stage pass; the slots
    beyond the micro-batches (fill and drain) take the largest one's stage time; the rest
    of the wall time is bubble."""
    out = PassCost()
    largest = stages[0]
    micro = sum(count for _, count, _, _ in stages)
    wall = (slots - micro) * (largest[0].time_s + largest[2])
    for stage, count, p2p_s, p2p_J in stages:
        out.add(stage, count)
        out.add_comm(count * p2p_s, count * p2p_J)
        wall += count * (stage.time_s + p2p_s)
    out.ops = largest[0].ops
    out.add_bubble(wall - out.time_s)
    return out
