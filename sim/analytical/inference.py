"""Predict one LLM inference point on one chip or a multi-card plan: latency, throughput,
memory, energy, cost."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

from sim.analytical.energy import run_energy
from sim.analytical.evaluate import BOUNDS, CATEGORIES, EnergyModel, PassCost
from sim.analytical.memory import check_fit, place
from sim.analytical.multicard import StageModel, pipelined
from sim.chips.base import ChipSpec
from sim.deployment import Deployment, as_deployment
from sim.errors import ConfigError, UnsupportedError
from sim.parts.economics import Economics
from sim.workload.graph import decode_graph, prefill_graph
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
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

    SCALARS: ClassVar[tuple[str, ...]] = (
        "ttft_s", "tpot_s", "e2e_latency_s", "throughput_tokens_per_s", "throughput_tokens_per_s_per_chip",
        "prompt_tokens_per_s", "memory_required_bytes", "memory_available_bytes", "bound", "energy_j_per_token",
        "avg_power_W", "wall_energy_j_per_token", "system_power_W", "cost_per_million_tokens", "currency",
        "cost_basis", "electricity_cost_per_hour", "stack", "compute_format", "flops", "dram_bytes")

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
    data-parallel replicas. Raises CapacityError if it does not fit, UnsupportedError if
    the sequence is longer than the model's context window, ConfigError if the plan cannot
    split the model."""
    dep = as_deployment(hardware)
    chip, plan = dep.chip, dep.plan
    _check(model, wl, plan)
    need = check_fit(chip, model, wl, plan, dep.software("inference"))
    pl = place(chip, need)
    cm = chip.cost_model()
    stages = StageModel(model, plan, cm, EnergyModel(cm), pl, dep.comm, "inference", dep.software("inference"),
                        keep_ops)
    seqs = wl.batch // plan.dp
    micro = min(plan.pp, seqs)  # micro-batches in flight, one per stage at most
    mb = math.ceil(seqs / micro)
    p = wl.precision
    passes: dict[str, PassCost] = {}
    total = PassCost()
    ttft = tpot = math.nan

    def round_(graph, tokens: int, fill: bool) -> PassCost:
        stage = stages.forward(graph, tokens, p.act_bytes)
        slots = micro + plan.pp - 1 if fill else plan.pp
        return pipelined(stage, micro, slots, stages.p2p_s(tokens, p.act_bytes), stages.p2p_J(tokens, p.act_bytes))

    if wl.phase in ("prefill", "generate"):
        pre = round_(prefill_graph(model, mb, wl.input_len, p), mb * wl.input_len, fill=True)
        passes["prefill"] = pre
        total.add(pre)
        ttft = pre.time_s
    if wl.phase == "decode":
        dec = round_(decode_graph(model, mb, wl.input_len, p), mb, fill=False)
        passes["decode"] = dec
        total.add(dec)
        tpot = dec.time_s
    elif wl.phase == "generate":
        lengths = decode_sample_lengths(wl.input_len, wl.output_len)
        mean = PassCost()
        for cached in lengths:
            step = round_(decode_graph(model, mb, cached, p), mb, fill=False)
            mean.add(step, 1.0 / len(lengths))
        mean.ops = step.ops
        passes["decode"] = mean
        total.add(mean, wl.output_len - 1)
        tpot = mean.time_s
    return _metrics(dep, wl, econ, need.total, total, passes, ttft, tpot)


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
