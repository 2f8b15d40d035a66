"""A training job and its per-micro-batch op graphs: forward, backward, optimizer.

Backward rules (each pinned by a test):
- a matmul's backward is two GEMMs of its forward flops: the input gradient
  dX = dY·Wᵀ (shape m×k over n) and the weight gradient dW = Xᵀ·dY (shape k×n over m);
- attention's backward (FlashAttention-2) runs 5 GEMMs against the forward's 2, recomputing
  the scores, so 2.5x the forward flops (Dao 2023, arXiv:2307.08691, §3.1.2); it reads
  Q, K, V, O and dO and writes dQ, dK, dV;
- a pointwise op's backward reads its input and the output gradient and writes the input
  gradient (2x the forward flops);
- the LM head runs on every token (not only the last, as in inference prefill).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Literal

from pydantic import PositiveInt

from sim.dtypes import DTYPE_BYTES
from sim.spec import Spec
from sim.workload.graph import prefill_graph
from sim.workload.model import ModelSpec
from sim.workload.ops import Block, Graph, Op, elementwise, matmul
from sim.workload.parallel import context_parallel_keys
from sim.workload.spec import Precision

# FlashAttention-2 backward: 5 GEMMs (S recompute, dV, dP, dQ, dK) vs 2 forward (S, O).
ATTENTION_BACKWARD_FLOPS = 2.5
# Megatron-LM keeps gradients and reduces them in fp32 for bf16 training
# (megatron/training/arguments.py: "bfloat16 requires gradient accumulation and
# all-reduce to be performed in fp32"), with fp32 master weights and Adam m, v.
GRAD_BYTES = 4.0
OPTIMIZER_BYTES_PER_PARAM = 12.0  # fp32 master weights + Adam first and second moments
# One Adam update per parameter reads master, m, v and the gradient (4 x fp32) and writes
# master, m, v (3 x fp32) and the 16-bit working copy.
ADAM_READ_BYTES_PER_PARAM = 16.0
ADAM_WRITE_BYTES_PER_PARAM = 14.0
ADAM_FLOPS_PER_PARAM = 12.0
# Softmax cross-entropy per logit: max, subtract, exp, sum, divide (the target's log is
# one op per token, negligible).
CROSS_ENTROPY_FLOPS = 5.0  # two moment updates, bias corrections, sqrt, divide, decay, step


class TrainingJob(Spec):
    """One optimizer step: ``global_batch`` sequences of ``seq_len`` tokens."""

    global_batch: PositiveInt
    seq_len: PositiveInt
    precision: Literal["bf16", "fp16", "fp8", "fp4"] = "bf16"

    @property
    def tokens(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def compute_precision(self) -> Precision:
        """GEMMs in the job's format: for fp8 and fp4 (NVFP4) training both operands are
        cast to it per GEMM (Transformer Engine), while activations are kept and sent in
        16 bits (``Precision.act_bytes``) and attention runs in bf16."""
        narrow = self.precision in ("fp8", "fp4")
        return Precision(weights=self.precision, activations=self.precision,
                         kv_cache="bf16" if narrow else self.precision)


def forward_graph(model: ModelSpec, micro_batch: int, seq_len: int, p: Precision, cp: int = 1) -> Graph:
    """Forward pass of a training micro-batch: prefill's graph with the LM head (and a
    fp32 cross-entropy over the logits) on every token. Under context parallelism a rank
    runs seq_len / cp of each sequence's tokens against the keys its chunks see
    (``context_parallel_keys``)."""
    g = prefill_graph(model, micro_batch, seq_len // cp, p, cached=context_parallel_keys(seq_len, cp))
    tokens = micro_batch * seq_len // cp
    head = []
    for op in g.blocks[-1].ops:
        if op.name == "lm_head":
            op = matmul("lm_head", "lm_head", tokens, model.hidden, model.vocab, p)
        head.append(op)
    fp32 = DTYPE_BYTES["fp32"]
    head.append(replace(elementwise("cross_entropy", "lm_head", tokens * model.vocab, tokens, CROSS_ENTROPY_FLOPS, p),
                        act_in_bytes=tokens * model.vocab * fp32, act_out_bytes=tokens * fp32))
    blocks = (*g.blocks[:-1], Block("head", tuple(head), 1))
    return Graph(blocks, tokens_in=tokens, tokens_out=tokens)


@lru_cache(maxsize=16384)
def backward_op(op: Op) -> tuple[Op, ...]:
    """The backward kernels of one forward op (rules in the module docstring). Remembered
    by value: a sweep's points repeat the same micro-batch ops."""
    if op.kind == "matmul":
        dgrad = replace(op, name=f"{op.name}_dgrad", backward=True, act_in_bytes=op.act_out_bytes, act_out_bytes=op.act_in_bytes,
                        n=op.k, k=op.n)
        wgrad = replace(op, name=f"{op.name}_wgrad", backward=True, act_in_bytes=op.act_in_bytes + op.act_out_bytes,
                        act_out_bytes=0.0, m=op.k, n=op.n, k=op.m)
        return dgrad, wgrad
    if op.kind == "attention":
        return (replace(op, name=f"{op.name}_bwd", backward=True, flops=op.flops * ATTENTION_BACKWARD_FLOPS,
                        act_in_bytes=op.act_in_bytes + 2 * op.act_out_bytes, act_out_bytes=op.act_in_bytes,
                        kv_read_bytes=0.0, kv_write_bytes=0.0),)
    if op.kind == "embedding":  # scatter-add of the row gradients
        return (replace(op, name=f"{op.name}_bwd", backward=True, act_in_bytes=op.act_out_bytes, act_out_bytes=0.0),)
    return (replace(op, name=f"{op.name}_bwd", backward=True, flops=2 * op.flops, act_in_bytes=op.act_in_bytes + op.act_out_bytes,
                    act_out_bytes=op.act_in_bytes),)


def backward_graph(forward: Graph) -> Graph:
    """Backward of ``forward``: blocks in reverse, each op's backward kernels."""
    blocks = tuple(Block(f"{b.name}_bwd", tuple(k for op in reversed(b.ops) for k in backward_op(op)), b.count)
                   for b in reversed(forward.blocks))
    return Graph(blocks, forward.tokens_in, forward.tokens_in)


def optimizer_op(params: float, p: Precision) -> Op:
    """Adam over ``params`` parameters: a memory-bound pass over fp32 state. Its few flops
    are priced like other pointwise ops, at the activations' format (some accelerators
    publish no fp32 rate; the op is bandwidth-bound either way)."""
    return Op("adam_step", "elementwise", "optimizer", flops=ADAM_FLOPS_PER_PARAM * params, dtype=p.activations,
              act_in_bytes=ADAM_READ_BYTES_PER_PARAM * params, act_out_bytes=ADAM_WRITE_BYTES_PER_PARAM * params)


def layer_activation_bytes(model: ModelSpec, tokens: int, tp: int, sequence_parallel: bool,
                           recompute: str, act_bytes: float) -> float:
    """Activations one layer keeps for backward, per micro-batch of ``tokens`` tokens on
    one tensor-parallel rank. Generalises Korthikanti et al. 2022 (arXiv:2205.05198, §4):
    per token, 16-bit copies of the two norm inputs, the QKV and MLP-up inputs (replicated
    across tensor ranks unless sequence parallel), Q, K, V, the attention output, the
    activation-function input and the down-projection input (split across ranks). With
    FlashAttention no score matrix is kept (the paper's 5as/h term, what selective
    recomputation removes). Full recomputation keeps only the layer input."""
    h = model.hidden
    if recompute == "full":
        return tokens * h * act_bytes / (tp if sequence_parallel else 1)
    replicated = 4 * h  # two norm inputs, the QKV input, the MLP-up input
    qkv = model.heads * model.head_dim + 2 * model.kv_heads * model.head_dim
    if model.moe is not None:
        f = model.moe.top_k * model.moe.expert_ffn + model.moe.shared_experts * model.moe.expert_ffn
    else:
        f = model.ffn
    up = (2 if model.gated_mlp else 1) * f
    split = qkv + h + up + f  # Q, K, V; attention output; activation input; down-proj input
    per_token = replicated / (tp if sequence_parallel else 1) + split / tp
    return tokens * per_token * act_bytes
