"""Build the op graph of a prefill pass or one decode step of a transformer.

Accounting rules (each pinned by a test, as existing tools get them wrong):
- a gated MLP has three ``hidden x ffn`` matrices and its flops follow ``ffn``;
- decode reads the KV cache once per step at the current length and writes only the new
  token's K and V; grouped heads share one read (GQA/MQA);
- the input embedding is a row lookup, not a matmul;
- prefill runs the LM head on each sequence's last token only;
- causal attention counts only the lower triangle of the score matrix (s(s+1)/2 pairs) as
  useful flops, but the kernel runs whole blocks of the mask (FlashAttention skips only the
  blocks above the diagonal), so its compute time counts the blocks it runs;
- ``batch`` means sequences, with no hidden beam factor.

Elementwise flop counts per element follow the formulas: residual add + RMSNorm 5
(add, square, sum, scale, weight), rotary 3 (two multiplies, one add), SiLU(gate)*up 5
(exp, add, divide, multiply, multiply), GELU 8 (tanh approximation).
"""

from __future__ import annotations

from dataclasses import replace

from sim.workload.model import ModelSpec
from sim.workload.ops import Block, Graph, Op, elementwise, matmul
from sim.workload.spec import Precision

ADD_NORM_FLOPS = 5.0
ROTARY_FLOPS = 3.0
GATED_ACT_FLOPS = 5.0
GELU_FLOPS = 8.0
COMBINE_FLOPS = 2.0  # per output element and expert: a gate multiply and an add
# Query and key block of a FlashAttention kernel, in tokens: FlashAttention-2 tiles Q and K/V
# in blocks of 64 or 128 rows and skips only the blocks wholly above the causal diagonal
# (Dao, "FlashAttention-2", arXiv:2307.08691, sections 3.1 and 3.3).
CAUSAL_BLOCK_TOKENS = 128


def prefill_graph(model: ModelSpec, batch: int, seq_len: int, p: Precision, cached: int = 0,
                  identical: bool = False) -> Graph:
    """Process ``batch`` prompts of ``seq_len`` tokens; emit one token per prompt. ``cached``:
    keys each prompt's tokens also attend to beyond their own (a cached prefix, or the other
    chunks of a context-parallel rank's sequence). ``identical``: every prompt is the same
    (see ``_moe_ops``)."""
    return _graph(model, batch, seq_len, cached=cached, p=p, identical=identical)


def decode_graph(model: ModelSpec, batch: int, cached_len: int, p: Precision, identical: bool = False) -> Graph:
    """One decode step: each of ``batch`` sequences has ``cached_len`` tokens in its KV cache.
    ``identical``: every sequence is the same (see ``_moe_ops``)."""
    return _graph(model, batch, 1, cached=cached_len, p=p, identical=identical)


def _graph(model: ModelSpec, batch: int, new: int, cached: int, p: Precision, identical: bool = False) -> Graph:
    tokens = batch * new
    h = model.hidden
    attn = _attention_ops(model, batch, new, cached, p)
    blocks = [Block("embedding", (_embedding(model, tokens, p),), 1)]
    if model.dense_layers:
        mlp = _mlp_ops(model, tokens, model.dense_ffn_width, "mlp", p)
        blocks.append(Block("dense_layer", attn + mlp, model.dense_layers))
    if model.moe_layers:
        blocks.append(Block("moe_layer", attn + _moe_ops(model, tokens, p, new if identical else None),
                            model.moe_layers))
    head = (
        elementwise("final_norm", "norm", 2 * tokens * h, tokens * h, ADD_NORM_FLOPS, p, h),
        matmul("lm_head", "lm_head", batch, h, model.vocab, p),
    )
    blocks.append(Block("head", head, 1))
    return Graph(tuple(blocks), tokens_in=tokens, tokens_out=batch)


def _embedding(model: ModelSpec, tokens: int, p: Precision) -> Op:
    """Row lookup: reads one ``hidden`` row per token, no flops."""
    row_bytes = tokens * model.hidden
    return Op("embedding", "embedding", "embedding", flops=0.0, dtype=p.activations,
              weight_bytes=row_bytes * p.weight_bytes, act_out_bytes=row_bytes * p.act_bytes)


def _attention_ops(model: ModelSpec, batch: int, new: int, cached: int, p: Precision) -> tuple[Op, ...]:
    if model.mla is not None:
        return _mla_ops(model, batch, new, cached, p)
    t, h, d = batch * new, model.hidden, model.head_dim
    q, kv = model.heads, model.kv_heads
    return (
        elementwise("attn_norm", "norm", 2 * t * h, 2 * t * h, ADD_NORM_FLOPS, p, h),
        matmul("qkv_proj", "projection", t, h, (q + 2 * kv) * d, p),
        elementwise("rotary", "attention", t * (q + kv) * d, t * (q + kv) * d, ROTARY_FLOPS, p),
        _attention(batch, new, cached, q, kv, d, d, 2 * kv * d, p),
        matmul("o_proj", "projection", t, q * d, h, p),
    )


def _attention(batch: int, new: int, cached: int, heads: int, kv_heads: int, d_qk: int,
               d_v: int, kv_elems_per_token: int, p: Precision, name: str = "attention") -> Op:
    """FlashAttention-style: scores never leave the chip. Reads Q and (new) K, V, reads the
    cached KV once per step, writes O and the new tokens' KV cache entries.

    ``kv_elems_per_token`` is what one layer caches per token (2 x kv_heads x head_dim, or
    the MLA latent). Queries of one KV group attend together: the GEMM shape puts
    ``heads / kv_heads`` query heads times ``new`` tokens on the m axis.
    """
    pairs = new * cached + new * (new + 1) / 2  # causal: each new token sees the cache and earlier new tokens
    flops = 2.0 * batch * heads * pairs * (d_qk + d_v)
    t = batch * new
    group = heads // kv_heads
    keys = causal_keys_per_query(new, cached)
    return Op(
        name, "attention", "attention", flops=flops, dtype=p.attention, padding=new * keys / pairs,
        act_in_bytes=t * (heads * d_qk + kv_elems_per_token) * p.act_bytes,
        act_out_bytes=t * heads * d_v * p.act_bytes,
        kv_read_bytes=batch * cached * kv_elems_per_token * p.kv_bytes,
        kv_write_bytes=t * kv_elems_per_token * p.kv_bytes,
        batch=batch * kv_heads, m=group * new, n=keys, k=d_qk, kv_groups=kv_heads,
    )


def self_attention(batch: int, seq: int, heads: int, head_dim: int, p: Precision, causal: bool = True) -> Op:
    """One fused self-attention kernel over ``batch`` sequences of ``seq`` tokens (a kernel
    benchmark's shape: no cache, as many KV heads as query heads). Without the causal mask
    every query sees every key."""
    op = _attention(batch, seq, 0, heads, heads, head_dim, head_dim, 2 * heads * head_dim, p)
    if causal:
        return op
    return replace(op, flops=2.0 * batch * heads * seq * seq * 2 * head_dim, n=seq, padding=1.0)


def causal_keys_per_query(new: int, cached: int, block: int = CAUSAL_BLOCK_TOKENS) -> int:
    """Keys a query row of a block-causal kernel runs against, on average (rounded up).

    The new tokens' query blocks of ``block`` rows each run the cache and every key block up
    to their diagonal, masked elements included: block i (rows up to (i+1)*block) runs
    min(cached + new, cached + (i+1)*block) keys. The attention op is costed as the
    rectangle of ``new`` rows by this many keys, so its time never falls as ``new`` grows
    (the mean is non-decreasing in ``new``) and decode (one row) runs exactly the cache
    plus itself.
    """
    full = (new - 1) // block  # query blocks with all ``block`` rows; the last holds the rest
    run = block * (full * cached + block * full * (full + 1) // 2) + (new - full * block) * (cached + new)
    return -(-run // new)


def _mla_ops(model: ModelSpec, batch: int, new: int, cached: int, p: Precision) -> tuple[Op, ...]:
    """Multi-head latent attention. Prefill expands the latent to per-head K and V; decode
    uses the absorbed form (as FlashMLA does): queries move into the latent space, attend
    over the cached latent directly, and the output is lifted back per head."""
    m = model.mla
    assert m is not None
    t, h, nh = batch * new, model.hidden, model.heads
    qk = m.qk_nope_head_dim + m.qk_rope_head_dim
    latent = m.kv_lora_rank + m.qk_rope_head_dim
    common = (
        elementwise("attn_norm", "norm", 2 * t * h, 2 * t * h, ADD_NORM_FLOPS, p, h),
        matmul("q_a_proj", "projection", t, h, m.q_lora_rank, p),
        elementwise("q_a_norm", "norm", t * m.q_lora_rank, t * m.q_lora_rank, ADD_NORM_FLOPS, p, m.q_lora_rank),
        matmul("q_b_proj", "projection", t, m.q_lora_rank, nh * qk, p),
        matmul("kv_a_proj", "projection", t, h, latent, p),
        elementwise("kv_a_norm", "norm", t * m.kv_lora_rank, t * m.kv_lora_rank, ADD_NORM_FLOPS, p, m.kv_lora_rank),
        elementwise("rotary", "attention", t * (nh + 1) * m.qk_rope_head_dim,
                    t * (nh + 1) * m.qk_rope_head_dim, ROTARY_FLOPS, p),
    )
    o_proj = matmul("o_proj", "projection", t, nh * m.v_head_dim, h, p)
    if cached == 0:  # prefill: expand the latent to per-head K (nope part) and V
        kv_b = matmul("kv_b_proj", "projection", t, m.kv_lora_rank, nh * (m.qk_nope_head_dim + m.v_head_dim), p)
        att = _attention(batch, new, 0, nh, nh, qk, m.v_head_dim, latent, p)
        return (*common, kv_b, att, o_proj)
    absorb_q = matmul("mla_absorb_q", "attention", t, m.qk_nope_head_dim, m.kv_lora_rank, p, batch=nh)
    att = _attention(batch, new, cached, nh, 1, latent, m.kv_lora_rank, latent, p)
    absorb_o = matmul("mla_absorb_o", "attention", t, m.kv_lora_rank, m.v_head_dim, p, batch=nh)
    return (*common, absorb_q, att, absorb_o, o_proj)


def _mlp_ops(model: ModelSpec, tokens: int, ffn: int, category, p: Precision, prefix: str = "") -> tuple[Op, ...]:
    """Dense MLP of width ``ffn``: gated (gate and up fused into one GEMM) or plain."""
    h = model.hidden
    norm = elementwise(f"{prefix}mlp_norm", "norm", 2 * tokens * h, 2 * tokens * h, ADD_NORM_FLOPS, p, h)
    if model.gated_mlp:
        up = matmul(f"{prefix}gate_up_proj", category, tokens, h, 2 * ffn, p)
        act = elementwise(f"{prefix}act_fn", category, 2 * tokens * ffn, tokens * ffn, GATED_ACT_FLOPS, p)
    else:
        up = matmul(f"{prefix}up_proj", category, tokens, h, ffn, p)
        act = elementwise(f"{prefix}act_fn", category, tokens * ffn, tokens * ffn, GELU_FLOPS, p)
    down = matmul(f"{prefix}down_proj", category, tokens, ffn, h, p)
    return (norm, up, act, down) if not prefix else (up, act, down)


def experts_touched(experts: int, top_k: int, tokens: int) -> float:
    """Expected number of distinct experts a step's tokens route to, for uniform routing:
    E * (1 - (1 - k/E)^T). Weights of untouched experts are not read."""
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def _moe_ops(model: ModelSpec, tokens: int, p: Precision, distinct: int | None = None) -> tuple[Op, ...]:
    """Router, the routed experts the batch touches (as one grouped GEMM), shared experts.
    ``distinct``: how many of the ``tokens`` differ (default all). Identical sequences
    (a benchmark that repeats one prompt, decoded greedily) route alike, so a step's
    experts are those of one sequence's tokens, each taking every sequence's copy."""
    moe = model.moe
    assert moe is not None
    h, f = model.hidden, moe.expert_ffn
    touched = experts_touched(moe.experts, moe.top_k, tokens if distinct is None else distinct)
    groups = max(1, round(touched))
    per_expert = max(1, -(-tokens * moe.top_k // groups))
    width = (2 if model.gated_mlp else 1) * f
    assignments = tokens * moe.top_k
    norm = elementwise("mlp_norm", "norm", 2 * tokens * h, 2 * tokens * h, ADD_NORM_FLOPS, p, h)
    router = matmul("router", "moe", tokens, h, moe.experts, p)
    up = _scaled(matmul("experts_up", "moe", per_expert, h, width, p, batch=groups,
                        weight_elems=touched * h * width), assignments / (groups * per_expert))
    act = elementwise("experts_act", "moe", assignments * width, assignments * f,
                      GATED_ACT_FLOPS if model.gated_mlp else GELU_FLOPS, p)
    down = _scaled(matmul("experts_down", "moe", per_expert, f, h, p, batch=groups,
                          weight_elems=touched * f * h), assignments / (groups * per_expert))
    # each token's top-k expert outputs, weighted by their gates, summed back into one row
    # (vLLM's moe_sum, TensorRT-LLM's finalizeMoeRouting, Megatron's unpermute): a pass of its
    # own over the down projection's output
    combine = elementwise("experts_combine", "moe", assignments * h, tokens * h, COMBINE_FLOPS, p)
    ops: tuple[Op, ...] = (norm, router, up, act, down, combine)
    if moe.shared_experts:
        ops += _mlp_ops(model, tokens, moe.shared_experts * f, "moe", p, prefix="shared_")
    return ops


def _scaled(op: Op, useful: float) -> Op:
    """An op whose padded GEMM shape does more than the useful work: keep the shape (for
    tiling), count only the useful flops and activation bytes, and record the padding so
    the compute time is the shape's (an expert's rows rounded up keep its tiles or array
    folds busy; counting only useful flops made 3 tokens faster than 2)."""
    return replace(op, flops=op.flops * useful, act_in_bytes=op.act_in_bytes * useful,
                   act_out_bytes=op.act_out_bytes * useful, padding=op.padding / useful)


# --- serving iterations (continuous batching) --------------------------------------------
# One iteration of a serving engine runs several sequences together, each with its own
# number of new tokens and cached tokens. Token-parallel ops (norms, projections, MLP/MoE,
# the LM head) run once over all the iteration's tokens; the attention core runs per group
# of sequences that share (new, cached).

Group = tuple[int, int, int]  # (sequences, new tokens each, cached tokens each)
_PER_SEQUENCE: dict[int, tuple[ModelSpec, frozenset[str]]] = {}  # id(model) -> (model, names)


def _per_sequence_names(model: ModelSpec) -> frozenset[str]:
    """Names of the attention-block ops whose cost depends on each sequence's cache: the
    attention kernel, and the ops only one of the prefill and decode forms has (MLA)."""
    hit = _PER_SEQUENCE.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    p = Precision()
    pre, dec = _attention_ops(model, 1, 1, 0, p), _attention_ops(model, 1, 1, 1, p)
    shared = {o.name for o in pre if o.kind != "attention"} & {o.name for o in dec if o.kind != "attention"}
    names = frozenset(o.name for o in pre + dec if o.name not in shared)
    _PER_SEQUENCE[id(model)] = (model, names)
    return names


def attention_core_ops(model: ModelSpec, batch: int, new: int, cached: int, p: Precision) -> tuple[Op, ...]:
    """One layer's per-sequence attention ops for ``batch`` sequences of ``new`` tokens
    with ``cached`` tokens in their KV cache (the rest of the block is token-parallel)."""
    if model.mla is None:  # the attention kernel alone (what _attention_ops puts among the projections)
        d, kv = model.head_dim, model.kv_heads
        return (_attention(batch, new, cached, model.heads, kv, d, d, 2 * kv * d, p),)
    names = _per_sequence_names(model)
    return tuple(o for o in _attention_ops(model, batch, new, cached, p) if o.name in names)


def _layer_blocks(model: ModelSpec, tokens: int, core: tuple[Op, ...], p: Precision,
                  distinct: int | None = None) -> list[Block]:
    """Decoder layers over ``tokens`` tokens with ``core`` in place of the attention kernel;
    ``distinct`` of the tokens differ (``_moe_ops``)."""
    names = _per_sequence_names(model)
    ops = _attention_ops(model, 1, tokens, 0, p)
    cut = next(i for i, o in enumerate(ops) if o.name in names)
    shared = tuple(o for o in ops if o.name not in names)
    attn = shared[:cut] + core + shared[cut:]
    blocks = []
    if model.dense_layers:
        mlp = _mlp_ops(model, tokens, model.dense_ffn_width, "mlp", p)
        blocks.append(Block("dense_layer", attn + mlp, model.dense_layers))
    if model.moe_layers:
        blocks.append(Block("moe_layer", attn + _moe_ops(model, tokens, p, distinct), model.moe_layers))
    return blocks


def _head_ops(model: ModelSpec, tokens: int, sampled: int, p: Precision) -> tuple[Op, Op]:
    """Final norm over every token, LM head over the sequences that sample one."""
    h = model.hidden
    return (elementwise("final_norm", "norm", 2 * tokens * h, tokens * h, ADD_NORM_FLOPS, p, h),
            matmul("lm_head", "lm_head", sampled, h, model.vocab, p))


def iteration_graph(model: ModelSpec, groups: list[Group], sampled: int, p: Precision) -> Graph:
    """One serving iteration: each group ``(sequences, new, cached)`` attends on its own;
    every other op sees all ``sum(sequences * new)`` tokens; the LM head runs on the
    ``sampled`` sequences that emit a token. One group equals the prefill / decode graph."""
    core = tuple(o for b, new, cached in groups for o in attention_core_ops(model, b, new, cached, p))
    tokens = sum(b * new for b, new, _ in groups)
    blocks = [Block("embedding", (_embedding(model, tokens, p),), 1)]
    blocks += _layer_blocks(model, tokens, core, p)
    blocks.append(Block("head", _head_ops(model, tokens, sampled, p), 1))
    return Graph(tuple(blocks), tokens_in=tokens, tokens_out=sampled)


def decode_shared_graph(model: ModelSpec, batch: int, p: Precision, identical: bool = False) -> Graph:
    """A decode step of ``batch`` sequences without its attention core: the ops that do not
    read the cache, the same at every cache length (``decode_graph`` = this + the
    ``attention_graph`` of one new token per sequence, op for op)."""
    blocks = [Block("embedding", (_embedding(model, batch, p),), 1)]
    blocks += _layer_blocks(model, batch, (), p, 1 if identical else None)
    blocks.append(Block("head", _head_ops(model, batch, batch, p), 1))
    return Graph(tuple(blocks), tokens_in=batch, tokens_out=batch)


def token_parallel_graph(model: ModelSpec, tokens: int, p: Precision) -> Graph:
    """The part of an iteration that depends only on its token count: ``iteration_graph``
    without the per-sequence attention ops and the LM head."""
    blocks = [Block("embedding", (_embedding(model, tokens, p),), 1)]
    blocks += _layer_blocks(model, tokens, (), p)
    blocks.append(Block("head", _head_ops(model, tokens, 1, p)[:1], 1))
    return Graph(tuple(blocks), tokens_in=tokens, tokens_out=0)


def sampling_graph(model: ModelSpec, sampled: int, p: Precision) -> Graph:
    """The LM head over the ``sampled`` sequences that emit a token this iteration."""
    return Graph((Block("head", _head_ops(model, 1, sampled, p)[1:], 1),), tokens_in=0, tokens_out=sampled)


def attention_graph(model: ModelSpec, batch: int, new: int, cached: int, p: Precision) -> Graph:
    """The per-sequence attention ops of every layer for one group of sequences."""
    ops = attention_core_ops(model, batch, new, cached, p)
    return Graph((Block("attention", ops, model.layers),), tokens_in=batch * new, tokens_out=0)
