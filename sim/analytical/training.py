"""Predict one training step on a multi-card plan: step time and where it goes, MFU and
HFU, memory per chip, energy and cost.

Step = pipeline time (micro-batches through the stages, with the schedule's bubble)
     + exposed data-parallel communication (gradient reduction overlapped with the last
       micro-batch's backward when ``overlap_dp_comm``; ZeRO-3 parameter gathers
       overlapped with each micro-batch's forward and backward)
     + optimizer step (Adam over this chip's shard of fp32 state, memory-bound).
Tensor-parallel collectives and pipeline sends sit on the critical path of each stage.
MFU counts the model's flops the PaLM way (Chowdhery et al. 2022, arXiv:2204.02311, App. B:
6N per token plus 6·L·H·(d_qk+d_v)·s attention, no causal halving, no recomputation);
HFU counts what the chips execute (recomputation and causal attention as run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from sim.analytical.energy import run_energy
from sim.analytical.evaluate import BOUNDS, EnergyModel, PassCost, evaluate
from sim.analytical.memory import LOGIT_BYTES, Footprint, place
from sim.analytical.multicard import StageModel
from sim.chips.base import ChipSpec
from sim.comm.pricing import CommCost, comm_energy_J, comm_time_s
from sim.deployment import Deployment, as_deployment
from sim.errors import CapacityError, ConfigError
from sim.parts.economics import Economics
from sim.units import GB
from sim.workload.model import ModelSpec
from sim.workload.ops import Block, Graph
from sim.workload.parallel import CommCall, Parallelism, forward_collectives, shard_graph
from sim.workload.training import (
    GRAD_BYTES,
    OPTIMIZER_BYTES_PER_PARAM,
    TrainingJob,
    backward_graph,
    forward_graph,
    layer_activation_bytes,
    optimizer_op,
)


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes one chip holds during a step (the first pipeline stage, which keeps the most
    micro-batches in flight)."""

    weights: float
    grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.optimizer + self.activations


@dataclass
class TrainingPrediction:
    step_time_s: float
    tokens_per_s: float
    mfu: float
    hfu: float
    memory: TrainingMemory
    memory_available_bytes: float
    micro_batches: int
    sequences_per_step: int
    energy_j_per_step: float
    avg_power_W: float
    cost_per_million_tokens: float
    currency: str
    chips: int
    wall_energy_j_per_step: float = math.nan
    system_power_W: float = math.nan
    cost_basis: str = "owned"
    stack: str = ""  # the training framework the step ran under
    compute_format: str = ""  # the GEMMs' format, saying so when the chip falls back
    breakdown_s: dict[str, float] = field(default_factory=dict)

    SCALARS: ClassVar[tuple[str, ...]] = (
        "step_time_s", "throughput_tokens_per_s", "throughput_tokens_per_s_per_chip", "mfu", "hfu",
        "memory_required_bytes", "memory_available_bytes", "memory_weights_bytes", "memory_grads_bytes",
        "memory_optimizer_bytes", "memory_activations_bytes", "sequences_per_step", "micro_batches",
        "energy_j_per_step", "wall_energy_j_per_step", "avg_power_W", "system_power_W", "cost_per_million_tokens",
        "currency", "cost_basis", "stack", "compute_format", "chips")
    SHARES: ClassVar[tuple[str, ...]] = (*BOUNDS, "optimizer")

    @property
    def throughput_tokens_per_s(self) -> float:
        return self.tokens_per_s

    @property
    def throughput_tokens_per_s_per_chip(self) -> float:
        return self.tokens_per_s / self.chips

    @property
    def memory_required_bytes(self) -> float:
        return self.memory.total

    @property
    def memory_weights_bytes(self) -> float:
        return self.memory.weights

    @property
    def memory_grads_bytes(self) -> float:
        return self.memory.grads

    @property
    def memory_optimizer_bytes(self) -> float:
        return self.memory.optimizer

    @property
    def memory_activations_bytes(self) -> float:
        return self.memory.activations

    @classmethod
    def columns(cls) -> list[str]:
        """The metric columns ``metrics`` gives, in order."""
        return [*cls.SCALARS, *(f"share_{k}" for k in cls.SHARES)]

    def metrics(self) -> dict[str, float | str]:
        """Flat metric columns (for CSV and JSON)."""
        row: dict[str, float | str] = {k: getattr(self, k) for k in self.SCALARS}
        row.update({f"share_{k}": self.breakdown_s[k] / self.step_time_s for k in self.SHARES})
        return row


def stage_params(model: ModelSpec, plan: Parallelism) -> float:
    """Parameters one chip holds: its stage's share, split over tensor ranks (experts also
    over expert ranks)."""
    expert = 0.0
    if model.moe is not None:
        expert = model.moe_layers * model.moe.experts * model.mlp_params(model.moe.expert_ffn)
    return ((model.params - expert) + expert / plan.ep) * plan.stage_share(model) / plan.tp


def training_memory(model: ModelSpec, job: TrainingJob, plan: Parallelism,
                    grad_bytes: float = GRAD_BYTES) -> TrainingMemory:
    """Weights (16-bit working copy), gradients (fp32 unless the stack keeps them in 16
    bits: ``grad_bytes``) and Adam state, sharded by ZeRO stage
    over data- (and context-) parallel ranks; activations (a context-parallel rank's share
    of each sequence) of the micro-batches in flight on the first
    stage: pp for 1F1B (Korthikanti et al. 2022 §4.2.3: as if the whole model's layers for
    one micro-batch), times 1 + (p-1)/(p·v) when interleaved, m for GPipe."""
    n = stage_params(model, plan)
    dp, shards = plan.dp, plan.dp_cp
    weights = n * 2.0 / (shards if plan.zero >= 3 else 1)
    grads = n * grad_bytes / (shards if plan.zero >= 2 else 1)
    optimizer = n * OPTIMIZER_BYTES_PER_PARAM / (shards if plan.zero >= 1 else 1)
    tokens = plan.micro_batch * job.seq_len // plan.cp
    act_bytes = job.compute_precision.act_bytes
    per_layer = layer_activation_bytes(model, tokens, plan.tp, plan.sequence_parallel, plan.recompute, act_bytes)
    layers_per_stage = plan.stage_layers(model)
    m = job.global_batch // (dp * plan.micro_batch)
    in_flight: float
    if plan.schedule == "gpipe":
        in_flight = m * layers_per_stage
    else:
        in_flight = min(m, plan.pp) * layers_per_stage
        if plan.schedule == "interleaved":
            in_flight *= 1 + (plan.pp - 1) / (plan.pp * plan.vpp)
    logits = tokens * model.vocab / plan.tp * LOGIT_BYTES  # the last stage's fp32 logits for the loss
    return TrainingMemory(weights, grads, optimizer, in_flight * per_layer + logits)


def model_flops_per_token(model: ModelSpec, seq_len: int) -> float:
    """PaLM's model flops per trained token: 6N (N = parameters a token computes with, the
    embedding lookup excluded) + 6·L·H·(d_qk + d_v)·s for attention."""
    if model.mla is not None:
        d = model.mla.qk_nope_head_dim + model.mla.qk_rope_head_dim + model.mla.v_head_dim
    else:
        d = 2 * model.head_dim
    return 6.0 * model.active_params + 6.0 * model.layers * model.heads * d * seq_len


def predict_training(hardware: Deployment | ChipSpec, model: ModelSpec, job: TrainingJob,
                     econ: Economics) -> TrainingPrediction:
    """One optimizer step of ``job`` on a deployment (its plan's chips, collectives priced
    by its links; a chip alone is one card)."""
    dep = as_deployment(hardware)
    plan = dep.plan
    c = step_components(dep, model, job)
    micro = PassCost()
    micro.add(c.forward)
    micro.add(c.backward)
    # activations forward, their gradients back; the interleaved schedule sends once per model chunk
    micro.add_comm(2 * plan.vpp * c.p2p_s, 2 * plan.vpp * c.p2p_J)
    step = PassCost()
    step.add(micro, c.micro_batches)
    idle = (plan.pp - 1) / (plan.vpp if plan.schedule == "interleaved" else 1)
    step.add_bubble(idle * micro.time_s)
    step.add_comm(_exposed_dp_comm(plan, c), c.dp_J)  # the links work whether or not the time is hidden
    step.add(c.optimizer)
    return _prediction(dep, model, job, econ, step, c.micro_batches, c.memory)


def _micro_batches(model: ModelSpec, job: TrainingJob, plan: Parallelism) -> int:
    try:
        plan.check_model(model, "training")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if job.seq_len % (2 * plan.cp):
        raise ConfigError(f"cp={plan.cp} splits a sequence into {2 * plan.cp} chunks; seq_len {job.seq_len} "
                          f"is not a multiple of {2 * plan.cp}")
    per_step = plan.dp * plan.micro_batch
    if job.global_batch % per_step:
        raise ConfigError(f"global batch {job.global_batch} is not a multiple of dp x micro_batch = {per_step}")
    return job.global_batch // per_step


def _optimizer_params(model: ModelSpec, plan: Parallelism) -> float:
    return stage_params(model, plan) / (plan.dp_cp if plan.zero >= 1 else 1)


def _exposed_dp_comm(plan: Parallelism, c: StepComponents) -> float:
    """Data-parallel time left on the critical path after overlap: the gradient reduction
    hides behind the last micro-batch's backward, the ZeRO parameter gather behind the next
    forward; ZeRO-3 gathers parameters for every micro-batch's forward and backward."""
    if plan.dp_cp == 1:
        return 0.0
    hide_fwd = c.forward_s if plan.overlap_dp_comm else 0.0
    hide_bwd = c.backward_s if plan.overlap_dp_comm else 0.0
    if plan.zero < 3:
        return max(0.0, c.dp_reduce_s - hide_bwd) + max(0.0, c.dp_gather_s - hide_fwd)
    per_micro = max(0.0, c.dp_gather_s - hide_fwd) + max(0.0, c.dp_gather_s + c.dp_reduce_s - hide_bwd)
    return c.micro_batches * per_micro


def _prediction(dep: Deployment, model: ModelSpec, job: TrainingJob, econ: Economics, step: PassCost, m: int,
                mem: TrainingMemory) -> TrainingPrediction:
    chip, chips = dep.chip, dep.chips
    t = step.time_s
    peak = chip.cost_model().peak_flops(job.compute_precision.matmul)
    mfu = job.tokens * model_flops_per_token(model, job.seq_len) / (t * chips * peak)
    hfu = step.flops * chips / (t * chips * peak)
    run = run_energy(dep, step, t, econ)
    energy, cost = run.chips_J, run.cost
    breakdown = {k: step.by_bound[k] for k in BOUNDS}
    breakdown["optimizer"] = step.by_category.get("optimizer", 0.0)
    return TrainingPrediction(
        step_time_s=t, tokens_per_s=job.tokens / t, mfu=mfu, hfu=hfu, memory=mem,
        memory_available_bytes=chip.capacity_bytes, micro_batches=m, sequences_per_step=job.global_batch,
        energy_j_per_step=energy, wall_energy_j_per_step=run.wall_J,
        avg_power_W=energy / t / chips, system_power_W=run.wall_J / t,
        cost_per_million_tokens=cost / job.tokens * 1e6, currency=econ.currency, cost_basis=run.basis,
        stack=dep.software("training").name, compute_format=chip.compute.format_used(job.compute_precision.matmul),
        chips=chips, breakdown_s=breakdown,
    )


def _does_not_fit(chip: ChipSpec, model: ModelSpec, plan: Parallelism, mem: TrainingMemory) -> str:
    have = chip.capacity_bytes
    hints = []
    if plan.zero < 3:
        over = "" if plan.dp > 1 else " over data-parallel ranks"
        hints.append(f"ZeRO stage {plan.zero + 1}{over} (shards optimizer state, then gradients, then weights)")
    if plan.recompute != "full":
        hints.append("recompute: full")
    if plan.micro_batch > 1:
        hints.append("a smaller micro_batch")
    hints.append(f"more tensor/pipeline parallelism (tp*pp = {plan.tp * plan.pp}; "
                 f"about {math.ceil(mem.total * plan.tp * plan.pp / have)} chips' memory for this stage layout)")
    return (f"{model.name} training does not fit on {chip.name} with {plan.label}: needs {mem.total / GB:.1f} GB per chip "
            f"(weights {mem.weights / GB:.1f} + grads {mem.grads / GB:.1f} + optimizer {mem.optimizer / GB:.1f} + "
            f"activations {mem.activations / GB:.1f}), has {have / GB:.1f} GB, short by {(mem.total - have) / GB:.1f} GB. "
            f"Try: {'; '.join(hints)}.")


@dataclass
class StepComponents:
    """The per-micro-batch pieces ``predict_training`` adds up, for a simulator that
    schedules them itself (``sim.des.pipeline``). Times in seconds, for one chip of the
    slowest (uniform) pipeline stage.

    ``forward`` / ``backward``: one micro-batch through the stage's whole share of layers
    (all its model chunks), tensor-parallel collectives included; the backward carries
    each forward collective's twin and, with full recomputation, a second forward.
    ``p2p_s``: one send of a micro-batch's activations (or of their gradients) to the
    neighbouring stage. ``dp_reduce_s``: the data-parallel gradient reduction (all-reduce
    without ZeRO, reduce-scatter under ZeRO) before overlap; ``dp_gather_s``: the parameter
    all-gather under ZeRO (after the optimizer for 1-2, per micro-batch pass for 3); both 0
    at dp = 1.
    """

    micro_batches: int
    forward: PassCost
    backward: PassCost
    p2p_s: float
    optimizer: PassCost
    dp_reduce_s: float
    dp_gather_s: float
    memory: TrainingMemory
    p2p_J: float = 0.0  # one send's link energy
    dp_J: float = 0.0  # the step's data-parallel link energy (reduction and gathers)

    @property
    def forward_s(self) -> float:
        return self.forward.time_s

    @property
    def backward_s(self) -> float:
        return self.backward.time_s

    @property
    def optimizer_s(self) -> float:
        return self.optimizer.time_s


def step_components(hardware: Deployment | ChipSpec, model: ModelSpec, job: TrainingJob) -> StepComponents:
    """The durations ``predict_training`` builds its step from, without its schedule
    arithmetic; raises CapacityError / ConfigError for a plan that does not fit or does
    not split the model."""
    dep = as_deployment(hardware)
    chip, plan, comm = dep.chip, dep.plan, dep.comm
    m = _micro_batches(model, job, plan)
    mem = training_memory(model, job, plan, dep.software("training").grad_bytes)
    if mem.total > chip.capacity_bytes:
        raise CapacityError(_does_not_fit(chip, model, plan, mem), required_bytes=mem.total,
                            available_bytes=chip.capacity_bytes)
    pl = place(chip, Footprint(mem.weights + mem.grads + mem.optimizer, 0.0, mem.activations), training=True)
    cm = dep.software("training").gemm_chip(chip).cost_model()
    energy = EnergyModel(cm)
    stages = StageModel(model, plan, cm, energy, pl, comm, "training", dep.software("training"))
    p = job.compute_precision
    tokens = plan.micro_batch * job.seq_len // plan.cp
    graph = forward_graph(model, plan.micro_batch, job.seq_len, p, plan.cp)
    fwd = stages.forward(graph, tokens, p.act_bytes)
    bwd = evaluate(backward_graph(shard_graph(graph, plan.tp, plan.pp, 1, plan.sequence_parallel)), cm, energy, pl)
    bwd.add_comm(fwd.by_bound["communication"], fwd.comm_energy_J)
    if plan.cp > 1:  # the K and V gradients reduce-scatter back to the ranks that own them
        dkv = [CommCall("cp_dkv_reduce_scatter", "reduce_scatter", c.size_bytes, "cp", c.count)
               for c in forward_collectives(model, tokens, p.act_bytes, plan, plan.stage_layers(model))
               if c.group == "cp"]
        bwd.add_comm(comm_time_s(dkv, plan, comm, "training"), comm_energy_J(dkv, plan, comm, "training"))
    if plan.recompute == "full":
        bwd.add(fwd)
    opt = evaluate(Graph((Block("optimizer", (optimizer_op(_optimizer_params(model, plan), p),), 1),), 0, 0), cm, energy, pl)
    reduce_s, gather_s = _dp_times(model, plan, comm)
    return StepComponents(m, fwd, bwd, stages.p2p_s(tokens, p.act_bytes), opt, reduce_s, gather_s, mem,
                          stages.p2p_J(tokens, p.act_bytes), _dp_energy_J(model, plan, comm, m))


def _dp_calls(model: ModelSpec, plan: Parallelism) -> list[CommCall]:
    """The data-parallel collectives of one step (ZeRO-3: of one micro-batch pass)."""
    n = stage_params(model, plan)
    if plan.zero == 0:
        return [CommCall("dp_all_reduce", "all_reduce", n * GRAD_BYTES, "dp", 1)]
    return [CommCall("dp_reduce_scatter", "reduce_scatter", n * GRAD_BYTES, "dp", 1),
            CommCall("dp_all_gather", "all_gather", n * 2.0, "dp", 1)]


def _dp_energy_J(model: ModelSpec, plan: Parallelism, comm: CommCost, micro_batches: int) -> float:
    """Link energy of the step's data-parallel traffic (ZeRO-3 gathers per micro-batch, twice)."""
    if plan.dp_cp == 1:
        return 0.0
    joules = comm_energy_J(_dp_calls(model, plan), plan, comm, "training")
    return joules * (2 * micro_batches if plan.zero >= 3 else 1)


def _dp_times(model: ModelSpec, plan: Parallelism, comm: CommCost) -> tuple[float, float]:
    """Gradient reduction and (ZeRO) parameter gather of one step (ZeRO-3: of one
    micro-batch), before overlap."""
    if plan.dp_cp == 1:
        return 0.0, 0.0
    times = [comm_time_s([c], plan, comm, "training") for c in _dp_calls(model, plan)]
    return times[0], (times[1] if len(times) > 1 else 0.0)
