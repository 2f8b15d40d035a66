"""Predict one LLM inference point on one chip or a multi-card plan: latency, throughput,
memory, energy, cost."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import ClassVar

from sim.analytical.energy import run_energy
from sim.analytical.evaluate import BOUNDS, CATEGORIES, EnergyModel, PassCost
from sim.analytical.memory import check_fit, footprint, model_as_sharded, place
from sim.analytical.multicard import StageModel, pipelined
from sim.chips.base import ChipSpec
from sim.deployment import Deployment, as_deployment
from sim.errors import CapacityError, ConfigError, UnsupportedError
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.workload.graph import attention_graph, decode_graph, decode_shared_graph, prefill_graph
from sim.workload.model import ModelSpec
from sim.workload.ops import Graph
from sim.workload.parallel import Parallelism, query_heads_per_kv_head
from sim.workload.spec import Workload

# Decode steps of a generate run are sampled at this many evenly spaced cache lengths
# (midpoint rule); step time is piecewise linear in the cache length, so a handful of
# samples gives the mean within a fraction of a percent.
DECODE_SAMPLES = 4


@dataclass
class Prediction:
    """All metrics of one point. Times in seconds, energy in joules, memory in bytes.

    "Tokens" are the tokens the phase exists to produce: output tokens for decode and
    generate, prompt tokens for prefill. ``throughput_tokens_per_s``, ``energy_j_per_token``
    and ``cost_per_million_tokens`` all count those; ``prompt_tokens_per_s`` is the
    prefill rate of prefill and generate.
    """

    ttft_s: float
    tpot_s: float
    e2e_latency_s: float
    throughput_tokens_per_s: float
    prompt_tokens_per_s: float
    memory_required_bytes: float  # per chip
    memory_available_bytes: float  # per chip
    bound: str
    energy_j_per_token: float
    avg_power_W: float
    cost_per_million_tokens: float
    currency: str
    wall_energy_j_per_token: float = math.nan
    system_power_W: float = math.nan
    cost_basis: str = "owned"
    electricity_cost_per_hour: float = math.nan
    stack: str = ""  # the software stack the point ran under
    waves: int = 1  # batches run one after another because the whole batch's KV cache does not fit
    concurrent_sequences: int = 0  # sequences in one wave (0: the whole batch)
    # the format the GEMMs ran in, and what was asked when the chip lacks it ("fp8 (fp4 asked)")
    compute_format: str = ""
    chips: int = 1
    flops: float = 0.0
    dram_bytes: float = 0.0
    bound_share: dict[str, float] = field(default_factory=dict)
    category_share: dict[str, float] = field(default_factory=dict)
    passes: dict[str, PassCost] = field(default_factory=dict)

    @property
    def throughput_tokens_per_s_per_chip(self) -> float:
        return self.throughput_tokens_per_s / self.chips

    @property
    def achieved_TFLOPS_per_chip(self) -> float:
        """Flops one chip did over the run's time: what it sustained, against its peak."""
        return self.flops / self.chips / self.e2e_latency_s / 1e12 if self.e2e_latency_s > 0 else math.nan

    SCALARS: ClassVar[tuple[str, ...]] = (
        "ttft_s", "tpot_s", "e2e_latency_s", "throughput_tokens_per_s", "throughput_tokens_per_s_per_chip",
        "prompt_tokens_per_s", "memory_required_bytes", "memory_available_bytes", "bound", "energy_j_per_token",
        "avg_power_W", "wall_energy_j_per_token", "system_power_W", "cost_per_million_tokens", "currency",
        "cost_basis", "electricity_cost_per_hour", "stack", "compute_format", "waves", "concurrent_sequences", "flops",
        "achieved_TFLOPS_per_chip", "dram_bytes")

    @classmethod
    def columns(cls) -> list[str]:
        """The metric columns ``metrics`` gives, in order."""
        return [*cls.SCALARS, *(f"share_{k}" for k in BOUNDS), *(f"time_share_{k}" for k in CATEGORIES)]

    def metrics(self) -> dict[str, float | str]:
        """Flat metric columns (for CSV and JSON)."""
        row: dict[str, float | str] = {k: getattr(self, k) for k in self.SCALARS}
        row.update({f"share_{k}": self.bound_share[k] for k in BOUNDS})
        row.update({f"time_share_{k}": self.category_share[k] for k in CATEGORIES})
        return row


def decode_sample_lengths(input_len: int, output_len: int) -> list[int]:
    """Cache lengths at which to sample the ``output_len - 1`` decode steps of a generate
    run (step j sees ``input_len + j`` cached tokens, j = 0 .. output_len - 2)."""
    steps = output_len - 1
    n = min(steps, DECODE_SAMPLES)
    return [input_len + int((j + 0.5) * steps / n) for j in range(n)]


def predict(hardware: Deployment | ChipSpec, model: ModelSpec, wl: Workload, econ: Economics,
            keep_ops: bool = False) -> Prediction:
    """Evaluate ``wl`` for ``model`` on a deployment (one card of a chip, or a plan on a
    system whose links price the collectives). ``wl.batch`` counts sequences over all
    data-parallel replicas. When the weights fit but the whole batch's KV cache does not,
    the serving engine runs the batch in waves of the most sequences that fit (as its
    scheduler admits requests while KV blocks last); ``waves`` says so. Raises
    CapacityError if not even one sequence per replica fits, UnsupportedError if the
    sequence is longer than the model's context window, ConfigError if the plan cannot
    split the model."""
    dep = as_deployment(hardware)
    stack = dep.software("inference")
    model = model_as_sharded(model, stack, dep.plan.tp)
    _check(model, wl, dep.plan)
    try:
        need = check_fit(dep.chip, model, wl, dep.plan, stack)
    except CapacityError:
        wave = _wave_batch(dep, model, wl, stack)
        if wave is None:
            raise
        full, rest = divmod(wl.batch, wave)
        total, passes, ttft, tpot = _run(dep, model, wl.model_copy(update={"batch": wave}), keep_ops)
        total = _repeat(total, full)
        if rest:
            total.add(_run(dep, model, wl.model_copy(update={"batch": rest}), False)[0])
        need = footprint(model, wl.model_copy(update={"batch": wave}), dep.plan, stack.max_batched_tokens)
        pred = _metrics(dep, wl, econ, need.total, total, passes, ttft, tpot)
        return replace(pred, waves=full + (1 if rest else 0), concurrent_sequences=wave)
    total, passes, ttft, tpot = _run(dep, model, wl, keep_ops)
    return _metrics(dep, wl, econ, need.total, total, passes, ttft, tpot)


def _wave_batch(dep: Deployment, model: ModelSpec, wl: Workload, stack: StackSpec) -> int | None:
    """The largest batch below ``wl.batch`` (a multiple of dp) whose KV cache fits, or None
    when not even dp sequences fit."""
    dp = dep.plan.dp

    def fits(batch: int) -> bool:
        try:
            check_fit(dep.chip, model, wl.model_copy(update={"batch": batch}), dep.plan, stack)
            return True
        except CapacityError:
            return False

    lo, hi = 1, wl.batch // dp  # in units of dp sequences: lo fits (checked), hi does not
    if not fits(dp):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid * dp) else (lo, mid)
    return lo * dp


def _repeat(cost: PassCost, times: int) -> PassCost:
    out = PassCost()
    out.add(cost, times)
    out.ops = cost.ops
    return out


def _run(dep: Deployment, model: ModelSpec, wl: Workload, keep_ops: bool
         ) -> tuple[PassCost, dict[str, PassCost], float, float]:
    """One batch that fits: its total cost, its passes, TTFT and TPOT."""
    chip, plan = dep.chip, dep.plan
    need = footprint(model, wl, plan, dep.software("inference").max_batched_tokens)
    pl = place(chip, need, stack=dep.software("inference"), kv_group=query_heads_per_kv_head(model, plan.tp))
    cm = dep.software("inference").gemm_chip(chip).cost_model()
    stages = StageModel(model, plan, cm, EnergyModel(cm), pl, dep.comm, "inference", dep.software("inference"),
                        keep_ops)
    seqs = wl.batch // plan.dp
    micro = min(plan.pp, seqs)  # micro-batches in flight, one per stage at most
    mb = math.ceil(seqs / micro)  # the largest micro-batch; the rest hold one sequence fewer
    sizes = [(mb, seqs - micro * (mb - 1))] + ([(mb - 1, micro * mb - seqs)] if micro * mb > seqs else [])
    p = wl.precision
    passes: dict[str, PassCost] = {}
    total = PassCost()
    ttft = tpot = math.nan

    def round_(graph: Callable[[int], Graph], tokens_per_seq: int, fill: bool) -> PassCost:
        parts = []
        for size, count in sizes:
            tokens = size * tokens_per_seq
            parts.append((stages.forward(graph(size), tokens, p.act_bytes), count,
                          stages.p2p_s(tokens, p.act_bytes), stages.p2p_J(tokens, p.act_bytes)))
        return pipelined(parts, micro + plan.pp - 1 if fill else plan.pp)

    if wl.phase in ("prefill", "generate"):
        pre = round_(partial(prefill_graph, model, seq_len=wl.input_len, p=p, identical=wl.identical_prompts),
                      wl.input_len, fill=True)
        passes["prefill"] = pre
        total.add(pre)
        ttft = pre.time_s
    if wl.phase == "decode":
        dec = round_(partial(decode_graph, model, cached_len=wl.input_len, p=p, identical=wl.identical_prompts), 1,
                     fill=False)
        passes["decode"] = dec
        total.add(dec)
        tpot = dec.time_s
    elif wl.phase == "generate":
        lengths = decode_sample_lengths(wl.input_len, wl.output_len)
        mean = PassCost()
        if cm.additive and not keep_ops:
            # ops priced one by one add up, and the pipeline round is linear in stage times:
            # the ops that do not read the cache (all but the attention core, collectives,
            # host work) are the same at every sampled length, so they are priced once
            mean.add(round_(partial(decode_shared_graph, model, p=p, identical=wl.identical_prompts), 1, fill=False))
            for cached in lengths:
                core = [(stages.forward_ops(attention_graph(model, size, 1, cached, p)), count, 0.0, 0.0)
                        for size, count in sizes]
                mean.add(pipelined(core, plan.pp), 1.0 / len(lengths))
        else:
            for cached in lengths:
                step = round_(partial(decode_graph, model, cached_len=cached, p=p, identical=wl.identical_prompts), 1,
                              fill=False)
                mean.add(step, 1.0 / len(lengths))
            mean.ops = step.ops
        passes["decode"] = mean
        total.add(mean, wl.output_len - 1)
        tpot = mean.time_s
    return total, passes, ttft, tpot


def _check(model: ModelSpec, wl: Workload, plan: Parallelism) -> None:
    longest = wl.input_len + {"prefill": 0, "decode": 1, "generate": wl.output_len - 1}[wl.phase]
    if longest > model.max_context:
        raise UnsupportedError(f"{model.name} supports {model.max_context} tokens of context; "
                               f"this {wl.phase} point reaches {longest}")
    try:
        plan.check_model(model, "inference")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if wl.batch % plan.dp:
        raise ConfigError(f"batch {wl.batch} does not split evenly over dp={plan.dp} replicas")


def _metrics(dep: Deployment, wl: Workload, econ: Economics, required: float, total: PassCost,
             passes: dict[str, PassCost], ttft: float, tpot: float) -> Prediction:
    """System-wide metrics from one chip's costs (every chip of a symmetric plan does the
    same work in the same time)."""
    chip, chips = dep.chip, dep.chips
    e2e = total.time_s
    out_tokens = wl.batch * {"prefill": wl.input_len, "decode": 1, "generate": wl.output_len}[wl.phase]
    prompt_rate = wl.batch * wl.input_len / ttft if wl.phase != "decode" else math.nan
    run = run_energy(dep, total, e2e, econ)
    energy_J, cost = run.chips_J, run.cost
    bound_share = {k: total.by_bound[k] / e2e for k in BOUNDS}
    return Prediction(
        ttft_s=ttft, tpot_s=tpot, e2e_latency_s=e2e,
        throughput_tokens_per_s=out_tokens / e2e, prompt_tokens_per_s=prompt_rate,
        memory_required_bytes=required, memory_available_bytes=chip.inference_capacity_bytes,
        bound=max(bound_share, key=bound_share.__getitem__),
        energy_j_per_token=energy_J / out_tokens, avg_power_W=energy_J / e2e / chips,
        wall_energy_j_per_token=run.wall_J / out_tokens, system_power_W=run.wall_J / e2e,
        cost_per_million_tokens=cost / out_tokens * 1e6, currency=econ.currency, cost_basis=run.basis,
        electricity_cost_per_hour=run.electricity_per_hour, stack=dep.software("inference").name,
        compute_format=chip.compute.format_used(wl.precision.matmul), chips=chips, flops=chips * total.flops,
        dram_bytes=chips * total.dram_bytes, bound_share=bound_share,
        category_share={k: total.by_category.get(k, 0.0) / e2e for k in CATEGORIES},
        passes=passes,
    )
