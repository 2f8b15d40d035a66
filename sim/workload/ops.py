"""Ops and blocks: the hardware-free units the cost models price.

An op carries its flops, the bytes it moves by kind (weights, activations in/out, KV
cache) and, for matmuls and attention, its GEMM shape ``batch x (m x k) @ (k x n)`` so a
chip model can derive its efficiency from tiling. A block is a run of ops repeated
``count`` times (identical layers are costed once and multiplied).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OpKind = Literal["matmul", "attention", "elementwise", "embedding"]
# Buckets for "time share per op kind" in reports.
Category = Literal["embedding", "norm", "projection", "attention", "mlp", "moe", "lm_head", "optimizer"]


@dataclass(frozen=True, slots=True)
class Op:
    """One kernel-sized unit of work. Bytes are per execution, flops are total."""

    name: str
    kind: OpKind
    category: Category
    flops: float
    dtype: str
    weight_bytes: float = 0.0
    act_in_bytes: float = 0.0
    act_out_bytes: float = 0.0
    kv_read_bytes: float = 0.0
    kv_write_bytes: float = 0.0
    batch: int = 1
    m: int = 0
    n: int = 0
    k: int = 0
    kv_groups: int = 0  # attention: KV head groups (tensor parallelism splits them, or replicates one)
    # shape work / useful work (>= 1): the GEMM shape the kernel runs does more than ``flops``
    # (a grouped expert GEMM with each expert's rows rounded up); the units stay busy for the
    # shape, so compute time counts it, while ``flops`` (MFU, achieved TFLOPS) counts the useful work
    padding: float = 1.0
    backward: bool = False  # a backward-pass kernel (its attention kernel differs from the forward's)

    @property
    def act_bytes(self) -> float:
        return self.act_in_bytes + self.act_out_bytes

    @property
    def kv_bytes(self) -> float:
        return self.kv_read_bytes + self.kv_write_bytes

    @property
    def bytes(self) -> float:
        """All bytes the op moves when it runs as its own kernel."""
        return self.weight_bytes + self.act_in_bytes + self.act_out_bytes + self.kv_read_bytes + self.kv_write_bytes

    @property
    def compulsory_bytes(self) -> float:
        """Bytes no schedule can avoid: weights and KV cache live off-chip."""
        return self.weight_bytes + self.kv_read_bytes + self.kv_write_bytes


@dataclass(frozen=True, slots=True)
class Block:
    """``ops`` run in order, the whole run repeated ``count`` times (e.g. decoder layers)."""

    name: str
    ops: tuple[Op, ...]
    count: int


@dataclass(frozen=True, slots=True)
class Graph:
    """One forward pass: blocks in order, and how many tokens it processes and emits."""

    blocks: tuple[Block, ...]
    tokens_in: int
    tokens_out: int

    @property
    def flops(self) -> float:
        return sum(op.flops * b.count for b in self.blocks for op in b.ops)

    @property
    def weight_bytes(self) -> float:
        return sum(op.weight_bytes * b.count for b in self.blocks for op in b.ops)

    @property
    def compulsory_bytes(self) -> float:
        return sum(op.compulsory_bytes * b.count for b in self.blocks for op in b.ops)


def matmul(name: str, category: Category, tokens: int, k: int, n: int, p, *, batch: int = 1,
           weight_elems: float | None = None) -> Op:
    """``batch`` GEMMs of (tokens x k) @ (k x n) with weights in ``p.weights`` format.
    ``weight_elems`` overrides the weight count (e.g. only the experts a batch touches)."""
    w = batch * k * n if weight_elems is None else weight_elems
    return Op(name, "matmul", category, flops=2.0 * batch * tokens * k * n, dtype=p.matmul,
              weight_bytes=w * p.weight_bytes, act_in_bytes=batch * tokens * k * p.act_bytes,
              act_out_bytes=batch * tokens * n * p.act_bytes, batch=batch, m=tokens, n=n, k=k)


def elementwise(name: str, category: Category, elems_in: float, elems_out: float,
                flops_per_elem: float, p, weight_elems: float = 0.0) -> Op:
    """A memory-bound pointwise op (norm, residual add, rotary, activation function)."""
    return Op(name, "elementwise", category, flops=flops_per_elem * elems_out, dtype=p.activations,
              weight_bytes=weight_elems * p.weight_bytes, act_in_bytes=elems_in * p.act_bytes,
              act_out_bytes=elems_out * p.act_bytes)
