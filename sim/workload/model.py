"""Transformer model specs (dense and MoE; MHA / GQA / MQA / MLA attention)."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt, model_validator

from sim.spec import Spec

AttentionKind = Literal["mha", "gqa", "mqa", "mla"]


class MoE(Spec):
    """Mixture-of-experts feed-forward: ``experts`` routed experts, ``top_k`` per token,
    ``shared_experts`` always active; the first ``first_dense_layers`` use a dense MLP of
    width ``dense_ffn`` instead."""

    experts: PositiveInt
    top_k: PositiveInt
    expert_ffn: PositiveInt
    shared_experts: int = 0
    first_dense_layers: int = 0
    dense_ffn: int = 0

    @model_validator(mode="after")
    def _consistent(self) -> MoE:
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) exceeds experts ({self.experts})")
        if self.first_dense_layers and not self.dense_ffn:
            raise ValueError("first_dense_layers needs dense_ffn")
        return self


class MLA(Spec):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank Q and a compressed KV latent."""

    q_lora_rank: PositiveInt
    kv_lora_rank: PositiveInt
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class ModelSpec(Spec):
    """A decoder-only transformer. ``ffn`` is the MLP's intermediate width; a gated MLP
    (SwiGLU/GeGLU) has three ``hidden x ffn`` matrices, a plain one two."""

    name: str
    family: str
    aliases: tuple[str, ...] = ()
    layers: PositiveInt
    hidden: PositiveInt
    heads: PositiveInt
    kv_heads: PositiveInt
    head_dim: PositiveInt
    ffn: PositiveInt
    gated_mlp: bool
    vocab: PositiveInt
    tied_embeddings: bool = False
    attention: AttentionKind
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    max_context: PositiveInt
    moe: MoE | None = None
    mla: MLA | None = None
    notes: str = ""
    sources: dict[str, str]

    @model_validator(mode="after")
    def _attention_matches_heads(self) -> ModelSpec:
        expected = {
            "mha": self.kv_heads == self.heads,
            "mqa": self.kv_heads == 1,
            "gqa": 1 < self.kv_heads < self.heads and self.heads % self.kv_heads == 0,
            "mla": self.mla is not None,
        }[self.attention]
        if not expected:
            raise ValueError(
                f"attention: {self.attention} does not match heads={self.heads}, "
                f"kv_heads={self.kv_heads}" + (" (mla needs an mla: block)" if self.attention == "mla" else "")
            )
        if self.mla is not None and self.attention != "mla":
            raise ValueError("an mla: block needs attention: mla")
        if self.moe and self.moe.first_dense_layers >= self.layers:
            raise ValueError("moe.first_dense_layers must be fewer than layers")
        return self

    # --- parameter accounting (elements, not bytes) -------------------------------------

    @property
    def attention_params(self) -> int:
        """Weights of one layer's attention projections."""
        h, d = self.hidden, self.head_dim
        if self.mla is not None:
            m = self.mla
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            return (h * m.q_lora_rank + m.q_lora_rank * self.heads * qk
                    + h * (m.kv_lora_rank + m.qk_rope_head_dim)
                    + m.kv_lora_rank * self.heads * (m.qk_nope_head_dim + m.v_head_dim)
                    + self.heads * m.v_head_dim * h)
        return h * d * (self.heads + 2 * self.kv_heads) + self.heads * d * h

    def mlp_params(self, ffn: int) -> int:
        """Weights of one MLP (or one expert) of intermediate width ``ffn``."""
        return (3 if self.gated_mlp else 2) * self.hidden * ffn

    @property
    def dense_layers(self) -> int:
        return self.moe.first_dense_layers if self.moe else self.layers

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers

    @property
    def dense_ffn_width(self) -> int:
        return self.moe.dense_ffn if (self.moe and self.moe.dense_ffn) else self.ffn

    @property
    def params(self) -> int:
        """Total parameters (all experts), including embeddings and norms."""
        total = self.layers * (self.attention_params + 2 * self.hidden)
        total += self.dense_layers * self.mlp_params(self.dense_ffn_width)
        if self.moe:
            per_layer = ((self.moe.experts + self.moe.shared_experts)
                         * self.mlp_params(self.moe.expert_ffn) + self.hidden * self.moe.experts)
            total += self.moe_layers * per_layer
        total += self.vocab * self.hidden * (1 if self.tied_embeddings else 2) + self.hidden
        return total

    @property
    def active_params(self) -> int:
        """Parameters one token computes with: top-k + shared experts, and not the input
        embedding table, which is only a row lookup (DeepSeek's convention: 36.6B for V3)."""
        lookup = 0 if self.tied_embeddings else self.vocab * self.hidden
        if not self.moe:
            return self.params - lookup
        inactive = (self.moe.experts - self.moe.top_k) * self.mlp_params(self.moe.expert_ffn)
        return self.params - self.moe_layers * inactive - lookup

    @property
    def kv_elements_per_token(self) -> int:
        """KV-cache elements stored per token, all layers (MLA stores its latent + rope key)."""
        if self.mla is not None:
            return self.layers * (self.mla.kv_lora_rank + self.mla.qk_rope_head_dim)
        return self.layers * 2 * self.kv_heads * self.head_dim
