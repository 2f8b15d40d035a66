"""Memory footprint of an inference point, its placement across tiers, and the fit check."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.chips.base import ChipSpec
from sim.chips.costing import Placement
from sim.dtypes import DTYPE_BYTES
from sim.errors import CapacityError
from sim.parts.stack import StackSpec
from sim.units import GB
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism, heads_padded_to, kv_share
from sim.workload.spec import Workload

LOGIT_BYTES = 4.0  # logits are kept in fp32 for sampling


@dataclass(frozen=True)
class Footprint:
    """Bytes an inference point needs resident on the chip."""

    weights: float
    kv_cache: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations


def footprint(model: ModelSpec, wl: Workload, plan: Parallelism | None = None,
              max_pass_tokens: int | None = None) -> Footprint:
    """One chip's share: weights (all experts), the KV cache at the longest context, and
    the activation workspace of the largest pass (its hidden and MLP tensors plus fp32
    logits). Attention scores are never materialised (FlashAttention).

    Under a plan, the slowest stage holds ceil(layers / pp) layers' weights and KV cache
    (``Parallelism.stage_share``), weights split over ``tp`` and the KV cache over ``tp``
    as far as there are KV head groups to split (an MLA latent is replicated); each chip
    holds ``batch / dp`` sequences and works on one micro-batch at a time. A serving stack
    that chunks prefill takes at most ``max_pass_tokens`` tokens per pass."""
    plan = plan or Parallelism()
    p = wl.precision
    weights = model.params * p.weight_bytes * plan.stage_share(model) / plan.tp
    seqs = wl.batch / plan.dp
    kv = seqs * wl.max_context * model.kv_elements_per_token * p.kv_bytes * plan.stage_share(model) * kv_share(model, plan.tp)
    micro = math.ceil(seqs / min(plan.pp, seqs))
    tokens = micro * (wl.input_len if wl.phase != "decode" else 1)
    if max_pass_tokens is not None:
        tokens = min(tokens, max(max_pass_tokens, micro))
    widest = model.dense_ffn_width if model.dense_layers else 0
    if model.moe:
        widest = max(widest, model.moe.top_k * model.moe.expert_ffn)
    acts = tokens * (model.hidden + 2 * widest / plan.tp) * p.act_bytes + micro * model.vocab / plan.tp * LOGIT_BYTES
    return Footprint(weights, kv, acts)


def model_as_sharded(model: ModelSpec, stack: StackSpec, tp: int) -> ModelSpec:
    """``model`` as ``stack`` splits it over ``tp`` chips: heads padded to its ranks when it
    runs a width that does not divide them (``StackSpec.pads_heads_to_tp``), else as is."""
    return heads_padded_to(model, tp * stack.tp_ranks_per_chip) if stack.pads_heads_to_tp else model


def place(chip: ChipSpec, need: Footprint, training: bool = False, stack: StackSpec | None = None,
          kv_group: int = 1) -> Placement:
    """Fill the tiers in preference order with weights, then KV cache, then activations;
    each kind's effective bandwidth and energy follow the share it got in each tier.
    Inference uses only the tiers that serve it (``ChipSpec.inference_memory``); the
    stack streams weights at its share of that bandwidth on this chip, its attention
    kernel reads the KV cache at its share of it, and a
    kernel that reads it once per query head (``kv_group`` of them per KV head) pays that
    many reads, in time and energy, per cached byte."""
    tiers = list((chip.memory if training else chip.inference_memory).values())
    free = [t.capacity_bytes for t in tiers]

    prefetch = chip.memory_hierarchy == "prefetch"

    def fill(amount: float) -> tuple[float, float]:
        if amount <= 0:
            t = tiers[0]
            return t.sustained_bandwidth_Bps, t.energy_J_per_byte
        taken = []
        left = amount
        for i in range(len(tiers)):
            take = min(left, free[i]) if i < len(tiers) - 1 else left
            free[i] -= take
            taken.append(take)
            left -= take
            if left <= 0:
                break
        joules = sum(t * tier.energy_J_per_byte for t, tier in zip(taken, tiers, strict=False))
        if prefetch and len(taken) > 1:  # every byte read from the first tier; the rest copied up meanwhile
            first = tiers[0]
            seconds = max(amount / first.sustained_bandwidth_Bps,
                          *(t / tier.sustained_bandwidth_Bps for t, tier in zip(taken[1:], tiers[1:], strict=False)))
            joules += (amount - taken[0]) * first.energy_J_per_byte
        else:
            seconds = sum(t / tier.sustained_bandwidth_Bps for t, tier in zip(taken, tiers, strict=False))
        return amount / seconds, joules / amount

    w_bps, w_j = fill(need.weights)
    kv_bps, kv_j = fill(need.kv_cache)
    a_bps, a_j = fill(need.activations)
    if stack is not None:
        w_bps *= stack.weight_read_fraction(chip.name)
        reads = stack.kv_reads_per_cached_byte(kv_group)
        kv_bps *= stack.kv_read_bandwidth_fraction / reads
        kv_j *= reads
    return Placement(w_bps, kv_bps, a_bps, w_j, kv_j, a_j)


def check_fit(chip: ChipSpec, model: ModelSpec, wl: Workload, plan: Parallelism | None = None,
              stack: StackSpec | None = None) -> Footprint:
    """The footprint, or a CapacityError saying by how much it misses and what would fit.
    Under a serving ``stack`` the activation workspace is its largest pass and the KV cache
    may take only the share of memory the engine gives it."""
    plan = plan or Parallelism()
    need = footprint(model, wl, plan, stack.max_batched_tokens if stack is not None else None)
    have = kv_budget_capacity(chip.inference_capacity_bytes, need, stack)
    if need.total <= have:
        return need
    per_chip = f" per chip ({plan.label})" if plan.chips > 1 else ""
    share = ""
    if have < chip.inference_capacity_bytes and stack is not None:
        of = "what weights and workspace leave" if stack.kv_fraction_of == "free" else "the device"
        share = (f" of {chip.inference_capacity_bytes / GB:.1f} ({stack.name} gives the KV cache "
                 f"{stack.kv_memory_fraction:.0%} of {of})")
    raise CapacityError(
        f"{model.name} does not fit on {chip.name}{per_chip}: needs {need.total / GB:.1f} GB "
        f"(weights {need.weights / GB:.1f} + KV cache {need.kv_cache / GB:.1f} + activations "
        f"{need.activations / GB:.1f}), has {have / GB:.1f} GB{share}, short by {(need.total - have) / GB:.1f} GB. "
        f"{_what_fits(model, wl, need, plan, have)}",
        required_bytes=need.total, available_bytes=have,
    )


def kv_budget_capacity(capacity: float, need: Footprint, stack: StackSpec | None) -> float:
    """The memory ``need`` may fill: all of it, or as much as leaves the KV cache within
    the engine's share (of what weights and workspace leave, or of the device)."""
    if stack is None or stack.kv_memory_fraction >= 1.0:
        return capacity
    f = stack.kv_memory_fraction
    fixed = need.weights + need.activations
    kv_limit = f * (capacity - fixed) if stack.kv_fraction_of == "free" else f * capacity - fixed
    return min(capacity, fixed + max(0.0, kv_limit))  # never more than the device holds


def _what_fits(model: ModelSpec, wl: Workload, need: Footprint, plan: Parallelism, have: float) -> str:
    options = []
    for dtype in ("fp8", "int4"):
        if DTYPE_BYTES[dtype] < wl.precision.weight_bytes:
            total = need.total - need.weights * (1 - DTYPE_BYTES[dtype] / wl.precision.weight_bytes)
            if total <= have:
                options.append(f"{dtype} weights ({total / GB:.1f} GB)")
    room = have - need.weights - need.activations
    per_seq = need.kv_cache / wl.batch
    if room > 0 and wl.batch > 1 and room >= per_seq:
        options.append(f"batch <= {int(room // per_seq)}")
    cards = math.ceil(need.total * plan.chips / have)
    tp = next((t for t in range(cards, model.heads + 1) if model.heads % t == 0), None)
    how = f"e.g. tensor parallelism over {tp}" if tp else "with pipeline parallelism"
    options.append(f"about {cards} cards' memory ({how})")
    return "Would fit: " + "; ".join(options) + "."
