"""Parallelism plans and the sharding pass: one chip's share of a graph, and the
collectives the plan adds.

Megatron-LM's layout (Shoeybi et al. 2019, arXiv:1909.08053; Narayanan et al. 2021,
arXiv:2104.04473): QKV and MLP up/gate projections are column-parallel, the attention
output and MLP down projections are row-parallel, so a layer needs one all-reduce after
attention and one after the MLP; attention heads split across tensor-parallel ranks (a KV
head group is replicated when there are fewer groups than ranks); the LM head and the
embedding table split over the vocabulary. Ranks are numbered tensor-parallel innermost,
then data-parallel, then pipeline (Megatron's default order tp-cp-ep-dp-pp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from pydantic import PositiveInt, model_validator

from sim.spec import Spec
from sim.workload.model import ModelSpec
from sim.workload.ops import Block, Graph, Op

Schedule = Literal["gpipe", "1f1b", "interleaved"]
Recompute = Literal["none", "selective", "full"]
CollectiveKind = Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv"]
GroupName = Literal["tp", "cp", "ep", "pp", "dp"]


def slowest_stage_layers(layers: int, pp: int) -> int:
    """ceil(layers / pp): stages may differ by a layer when pp does not divide the layers
    (Llama 3 405B ran 126 layers on 16 stages), and the pipeline runs at the pace of the
    fullest one."""
    return -(-layers // pp)


class Parallelism(Spec):
    """How a job is split over ``tp * pp * dp`` chips.

    Inference: ``ep`` (expert parallelism) divides ``tp``: MoE layers spread their experts
    over the tensor-parallel ranks and exchange tokens with all-to-all. Training: ``ep``
    divides ``dp`` (Megatron's expert-data-parallel layout). ``vpp`` is the number of model
    chunks per pipeline rank for the interleaved schedule.

    ``cp`` (training): context parallelism splits every sequence over ``cp`` ranks in 2·cp
    load-balanced causal chunks (Megatron-Core with Transformer Engine's ring attention):
    each rank holds 1/cp of the tokens' activations, its queries attend to the whole
    sequence's keys, and every layer gathers K and V over the cp ranks (their gradients
    reduce-scatter back). The cp ranks hold the same weights, so gradients reduce and ZeRO
    shards over dp x cp ranks (Megatron's data-parallel group with context parallelism).
    """

    tp: PositiveInt = 1
    cp: PositiveInt = 1
    pp: PositiveInt = 1
    dp: PositiveInt = 1
    ep: PositiveInt = 1
    sequence_parallel: bool = False
    schedule: Schedule = "1f1b"
    vpp: PositiveInt = 1
    micro_batch: PositiveInt = 1
    zero: Literal[0, 1, 2, 3] = 0
    recompute: Recompute = "none"
    overlap_dp_comm: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Parallelism:
        if self.vpp > 1 and self.schedule != "interleaved":
            raise ValueError(f"vpp={self.vpp} needs schedule: interleaved")
        return self

    @property
    def chips(self) -> int:
        return self.tp * self.cp * self.pp * self.dp

    @property
    def dp_cp(self) -> int:
        """Ranks holding the same weights: data- times context-parallel."""
        return self.dp * self.cp

    @property
    def label(self) -> str:
        parts = [f"{k}{getattr(self, k)}" for k in ("tp", "cp", "pp", "dp", "ep") if getattr(self, k) > 1]
        return "-".join(parts) or "single"

    def stage_layers(self, model: ModelSpec) -> int:
        """Layers on the slowest pipeline stage (see ``slowest_stage_layers``)."""
        return slowest_stage_layers(model.layers, self.pp)

    def stage_share(self, model: ModelSpec) -> float:
        """Share of the model's layers (and of their weights and KV cache) the slowest stage
        holds: 1/pp when pp divides the layers."""
        return self.stage_layers(model) / model.layers

    def check_model(self, model: ModelSpec, mode: Literal["inference", "training"]) -> None:
        """Raise ValueError when the plan cannot split this model."""
        if self.pp > model.layers:
            raise ValueError(f"pp={self.pp} is more stages than {model.name}'s {model.layers} layers")
        if self.vpp > 1 and self.stage_layers(model) % self.vpp:
            raise ValueError(f"vpp={self.vpp} does not divide the {self.stage_layers(model)} layers per stage")
        if model.heads % self.tp:
            raise ValueError(f"tp={self.tp} does not divide {model.name}'s {model.heads} attention heads")
        if self.cp > 1 and mode == "inference":
            raise ValueError(f"cp={self.cp}: context parallelism is modelled for training only")
        if self.ep > 1:
            if model.moe is None:
                raise ValueError(f"ep={self.ep} needs a mixture-of-experts model; {model.name} is dense")
            if model.moe.experts % self.ep:
                raise ValueError(f"ep={self.ep} does not divide {model.moe.experts} experts")
            host, axis = (self.tp, "tp") if mode == "inference" else (self.dp, "dp")
            if host % self.ep:
                raise ValueError(f"in {mode}, ep={self.ep} must divide {axis}={host}")


@dataclass(frozen=True, slots=True)
class CommCall:
    """A collective one pass issues ``count`` times on a group of the plan.
    ``size_bytes`` follows nccl-tests (the per-rank buffer for all-reduce)."""

    name: str
    kind: CollectiveKind
    size_bytes: float
    group: GroupName
    count: int


# How each op of sim.workload.graph splits under tensor parallelism (a test checks every
# op the graph builder emits has a role).
COLUMN = {"qkv_proj", "gate_up_proj", "up_proj", "q_b_proj", "kv_b_proj", "shared_gate_up_proj",
          "shared_up_proj", "lm_head"}
ROW = {"o_proj", "down_proj", "shared_down_proj"}
# "split": work divided evenly over ranks (heads, or MLP columns for the activation).
SPLIT = {"rotary", "attention", "mla_absorb_q", "mla_absorb_o", "act_fn", "shared_act_fn", "cross_entropy"}
EXPERTS = {"experts_up", "experts_act", "experts_down"}
# "combine": the sum of each token's expert outputs, on the ranks holding its experts' results:
# every tensor rank combines its partial sums of every token (one expert group), expert
# parallelism splits the tokens over its groups
COMBINE = {"experts_combine"}
REPLICATED = {"attn_norm", "mlp_norm", "final_norm", "q_a_proj", "q_a_norm", "kv_a_proj", "kv_a_norm", "router"}
VOCAB = {"embedding"}


def sharding_role(op_name: str) -> str:
    for role, names in (("column", COLUMN), ("row", ROW), ("split", SPLIT), ("experts", EXPERTS), ("combine", COMBINE),
                        ("replicated", REPLICATED), ("vocab", VOCAB)):
        if op_name in names:
            return role
    raise KeyError(f"op '{op_name}' has no tensor-parallel sharding rule")


@lru_cache(maxsize=16384)
def shard_op(op: Op, tp: int, ep: int = 1, sequence_parallel: bool = False) -> Op:
    """One tensor-parallel rank's share of ``op``. With sequence parallelism the norms
    (replicated otherwise) split over the sequence too. Remembered by value: a point's
    decode samples, and a sweep's points, repeat the same ops (all but attention)."""
    if tp == 1:
        return op
    role = sharding_role(op.name)
    f = 1.0 / tp
    if role == "column":
        return replace(op, flops=op.flops * f, weight_bytes=op.weight_bytes * f,
                       act_out_bytes=op.act_out_bytes * f, n=math.ceil(op.n / tp))
    if role == "row":
        return replace(op, flops=op.flops * f, weight_bytes=op.weight_bytes * f,
                       act_in_bytes=op.act_in_bytes * f, k=math.ceil(op.k / tp))
    if role == "split":
        return _shard_split(op, tp)
    if role == "experts":
        width = tp // ep
        op = replace(op, flops=op.flops * f, weight_bytes=op.weight_bytes * f, act_in_bytes=op.act_in_bytes * f,
                     act_out_bytes=op.act_out_bytes * f, batch=math.ceil(op.batch / ep))
        if op.kind != "matmul":
            return op
        if op.name == "experts_up":
            return replace(op, n=math.ceil(op.n / width))
        return replace(op, k=math.ceil(op.k / width))
    if role == "combine" and ep > 1:
        g = 1.0 / ep
        return replace(op, flops=op.flops * g, act_in_bytes=op.act_in_bytes * g, act_out_bytes=op.act_out_bytes * g)
    if role == "vocab":
        return replace(op, weight_bytes=op.weight_bytes * f)
    if sequence_parallel and op.kind == "elementwise":
        return replace(op, flops=op.flops * f, act_in_bytes=op.act_in_bytes * f, act_out_bytes=op.act_out_bytes * f)
    return op


def _shard_split(op: Op, tp: int) -> Op:
    """Query heads split evenly; KV head groups split while there are enough of them,
    otherwise each rank keeps (and reads) a whole group."""
    f = 1.0 / tp
    if op.kind != "attention" or op.kv_groups == 0:
        return replace(op, flops=op.flops * f, act_in_bytes=op.act_in_bytes * f,
                       act_out_bytes=op.act_out_bytes * f, batch=max(1, op.batch // tp) if op.kind == "matmul" else op.batch)
    groups_per_rank = max(1, op.kv_groups // tp)
    kv_f = groups_per_rank / op.kv_groups
    sequences = op.batch // op.kv_groups
    queries_per_group = op.m * op.kv_groups // (tp * groups_per_rank)
    return replace(op, flops=op.flops * f, act_in_bytes=op.act_in_bytes * f, act_out_bytes=op.act_out_bytes * f,
                   kv_read_bytes=op.kv_read_bytes * kv_f, kv_write_bytes=op.kv_write_bytes * kv_f,
                   batch=sequences * groups_per_rank, m=max(1, queries_per_group), kv_groups=groups_per_rank)


def shard_graph(graph: Graph, tp: int, pp: int = 1, ep: int = 1, sequence_parallel: bool = False) -> Graph:
    """The slowest pipeline stage's tensor-parallel share of ``graph``: every op split by
    ``tp``, ceil(layers / pp) layers taken from the largest layer block first, plus the
    embedding and the LM head (the first and last stages hold them; the pipeline runs at
    the pace of its slowest stage, and the embedding lookup is small)."""
    if tp == 1 and pp == 1:
        return graph
    layer_blocks = [b for b in graph.blocks if b.name not in ("embedding", "head")]
    left = slowest_stage_layers(sum(b.count for b in layer_blocks), pp)
    counts = {}
    for b in sorted(layer_blocks, key=lambda b: -b.count):
        counts[b.name] = min(b.count, left)
        left -= counts[b.name]
    blocks = []
    for b in graph.blocks:
        count = counts.get(b.name, b.count)
        if count:
            blocks.append(Block(b.name, tuple(shard_op(op, tp, ep, sequence_parallel) for op in b.ops), count))
    return Graph(tuple(blocks), graph.tokens_in, graph.tokens_out)


def forward_collectives(model: ModelSpec, tokens: int, act_bytes: float, plan: Parallelism,
                        layers: int) -> list[CommCall]:
    """Collectives of one forward pass over ``layers`` layers for ``tokens`` tokens on a
    tensor-parallel group: an all-reduce after attention and after each dense MLP (or, with
    sequence parallelism, a reduce-scatter and an all-gather of the same volume); MoE
    layers with expert parallelism exchange tokens with two all-to-alls (dispatch, combine);
    with context parallelism every layer gathers K and V over the cp group."""
    calls: list[CommCall] = []
    moe_layers = model.moe_layers * layers // model.layers
    dense_layers = layers - moe_layers
    size = tokens * model.hidden * act_bytes
    mlp_ar = dense_layers + (moe_layers if plan.ep == 1 else 0)
    if plan.tp > 1 and plan.sequence_parallel:
        calls += [CommCall("tp_reduce_scatter", "reduce_scatter", size, "tp", layers + mlp_ar),
                  CommCall("tp_all_gather", "all_gather", size, "tp", layers + mlp_ar)]
    elif plan.tp > 1:
        calls.append(CommCall("tp_all_reduce", "all_reduce", size, "tp", layers + mlp_ar))
    if plan.cp > 1:  # K and V of the whole sequence gathered each layer (ring attention's passes)
        kv = tokens * plan.cp * model.kv_elements_per_token / model.layers * kv_share(model, plan.tp) * act_bytes
        calls.append(CommCall("cp_kv_all_gather", "all_gather", kv, "cp", layers))
    if plan.ep > 1 and moe_layers:
        assert model.moe is not None
        routed = tokens * model.moe.top_k * model.hidden * act_bytes / plan.tp
        calls.append(CommCall("ep_all_to_all", "all_to_all", routed, "ep", 2 * moe_layers))
    return calls


def bubble_fraction(schedule: Schedule, stages: int, micro_batches: int, vpp: int = 1) -> float:
    """Share of a step a pipeline stage sits idle: (p-1)/(m+p-1) for GPipe and 1F1B
    (Narayanan et al. 2021, §2.2), (p-1)/v over m+(p-1)/v for the interleaved schedule."""
    idle = (stages - 1) / (vpp if schedule == "interleaved" else 1)
    return idle / (micro_batches + idle)


def group_stride(plan: Parallelism, group: GroupName, mode: str = "inference") -> int:
    """Distance between consecutive ranks of a group, for ranks numbered tp, cp, dp, pp
    (innermost first). Expert-parallel groups sit inside tp (inference) or dp (training);
    the data-parallel group spans the cp ranks too (it reduces their gradients)."""
    ep = 1 if mode == "inference" else plan.tp
    return {"tp": 1, "cp": plan.tp, "ep": ep, "dp": plan.tp, "pp": plan.tp * plan.cp * plan.dp}[group]


def group_size(plan: Parallelism, group: GroupName) -> int:
    return {"tp": plan.tp, "cp": plan.cp, "ep": plan.ep, "dp": plan.dp_cp, "pp": plan.pp}[group]


def heads_padded_to(model: ModelSpec, tp: int) -> ModelSpec:
    """``model`` as a stack that splits its heads over ``tp`` ranks that do not divide them
    runs it: every rank holds as many query heads as the fullest one, ceil(heads / tp), and
    a KV head of its own (replicated when there are fewer than ``tp``), so the model is
    costed with heads and KV heads rounded up to multiples of ``tp``. Unchanged when tp
    divides the heads, and for MLA."""
    if model.heads % tp == 0 or model.mla is not None:
        return model
    heads = -(-model.heads // tp) * tp
    kv = tp if model.kv_heads < tp else -(-model.kv_heads // tp) * tp
    if heads % kv:
        kv = heads
    kind = "mha" if kv == heads else ("mqa" if kv == 1 else "gqa")
    return model.model_copy(update={"heads": heads, "kv_heads": kv, "attention": kind})


def _kv_groups(model: ModelSpec) -> int:
    """KV head groups of a layer (an MLA latent is one)."""
    return 1 if model.mla is not None else model.kv_heads


def kv_share(model: ModelSpec, tp: int) -> float:
    """Share of a layer's KV cache one tensor-parallel rank holds: KV head groups split
    while there are enough of them; a group (or an MLA latent) is otherwise replicated."""
    groups = _kv_groups(model)
    return max(1, groups // tp) / groups


def query_heads_per_kv_head(model: ModelSpec, tp: int) -> int:
    """Query heads one tensor-parallel rank runs against each KV head (or MLA latent) it holds."""
    return max(1, math.ceil(model.heads / tp) // max(1, _kv_groups(model) // tp))


def context_parallel_keys(seq_len: int, cp: int) -> int:
    """Keys beyond its own chunk's causal triangle that a context-parallel rank's queries
    attend to, per query on average: with 2·cp load-balanced chunks each rank runs 1/cp of
    the sequence's causal pairs, seq²/(2cp) = (seq/cp)·k + (seq/cp)²/2, so k = seq(cp-1)/(2cp)."""
    return seq_len * (cp - 1) // (2 * cp)
