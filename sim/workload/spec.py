"""What to run: the phase, batch, sequence lengths and numeric formats of an inference point."""

from __future__ import annotations

from typing import Literal

from pydantic import PositiveInt, model_validator

from sim.dtypes import DTYPE_BYTES, Dtype, matmul_dtype
from sim.spec import Spec

Phase = Literal["prefill", "decode", "generate"]

# Activation tensors between kernels stay 16-bit when GEMMs run in a narrow format: the GEMM
# quantises its input on the fly and writes its output in bf16, so norms, residuals and
# tensor-parallel all-reduces see bf16 tensors. Sources: FlashInfer fp8_blockscale_gemm_sm90
# ("FP8 + FP8 -> BF16 (W8A8)", out_dtype default torch.bfloat16,
# https://docs.flashinfer.ai/generated/flashinfer.gemm.fp8_blockscale_gemm_sm90.html);
# Transformer Engine's autocast converts "the input tensors to the low-precision format" each
# step (https://nvidia.github.io/TransformerEngine/features/low_precision_training/speedups.html).
ACTIVATION_STORAGE_MIN_BYTES = 2.0


class Precision(Spec):
    """Storage formats of weights, activations and KV cache."""

    weights: Dtype = "bf16"
    activations: Dtype = "bf16"
    kv_cache: Dtype = "bf16"

    @classmethod
    def uniform(cls, dtype: str) -> Precision:
        """One format for everything, as ``--precision`` means it. The 4-bit formats are
        weight formats: int4 runs W4A16 with a bf16 KV cache; fp4 (NVFP4) runs W4A4 with
        an fp8 KV cache, as serving stacks deploy them."""
        special = {"int4": ("bf16", "bf16"), "fp4": ("fp4", "fp8")}
        act, kv = special.get(dtype, (dtype, dtype))
        return cls(weights=dtype, activations=act, kv_cache=kv)

    @property
    def weight_bytes(self) -> float:
        return DTYPE_BYTES[self.weights]

    @property
    def act_bytes(self) -> float:
        """Bytes per activation element in memory and on the wire (at least 16-bit, see
        ACTIVATION_STORAGE_MIN_BYTES); ``activations`` is the format GEMM inputs are
        quantised to."""
        return max(DTYPE_BYTES[self.activations], ACTIVATION_STORAGE_MIN_BYTES)

    @property
    def kv_bytes(self) -> float:
        return DTYPE_BYTES[self.kv_cache]

    @property
    def matmul(self) -> str:
        """Format weight x activation products are computed in."""
        return matmul_dtype(self.weights, self.activations)

    @property
    def attention(self) -> str:
        """Format attention's two products run in: the wider of the activation and KV-cache
        formats (FP4 models keep an FP8 KV cache and FP8 attention; no stack runs FP4
        attention)."""
        return max(self.kv_cache, self.activations, key=lambda d: DTYPE_BYTES[d])

    @property
    def label(self) -> str:
        ws = {self.weights, self.activations, self.kv_cache}
        return self.weights if len(ws) == 1 else f"w{self.weights}-a{self.activations}-kv{self.kv_cache}"


class Workload(Spec):
    """One inference point.

    - ``prefill``: process ``batch`` prompts of ``input_len`` tokens, emit one token each.
    - ``decode``: one decode step for ``batch`` sequences with ``input_len`` tokens cached.
    - ``generate``: prefill, then ``output_len - 1`` decode steps (static batch).

    ``identical_prompts``: every sequence is the same prompt (a benchmark that repeats one),
    so greedy decoding keeps them alike and a MoE router sends them all to the same experts.
    """

    phase: Phase
    batch: PositiveInt
    input_len: PositiveInt
    output_len: PositiveInt = 1
    precision: Precision = Precision()
    identical_prompts: bool = False

    @model_validator(mode="after")
    def _generate_has_output(self) -> Workload:
        if self.phase == "generate" and self.output_len < 2:
            raise ValueError("phase generate needs output_len >= 2 (the first token comes from prefill)")
        return self

    @property
    def max_context(self) -> int:
        """Longest sequence the KV cache must hold."""
        return self.input_len + (self.output_len if self.phase == "generate" else 1)
