"""Peak dense compute per numeric format, and the measured ceiling on matmul efficiency."""

from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from sim.dtypes import COMPUTE_FALLBACK, Dtype
from sim.errors import UnsupportedError
from sim.spec import Spec
from sim.units import TERA


class Compute(Spec):
    """Dense (no structured sparsity) peak rates and the best fraction of them a large
    matmul reaches on this chip (a measurement, or an assumption stated in sources)."""

    peak_dense_TFLOPS: dict[Dtype, PositiveFloat]
    max_matmul_fraction: float = Field(gt=0, le=1)
    # Where a format has its own measured ceiling (e.g. fp8 GEMMs reach a smaller share of
    # their doubled peak); formats not listed use max_matmul_fraction.
    matmul_fraction_by_dtype: dict[Dtype, float] = {}
    # Dynamic energy of one flop in each format the chip computes in (operand delivery
    # from on-chip buffers included; memory traffic is the tiers' energy per bit).
    energy_pJ_per_flop: dict[Dtype, PositiveFloat]
    # The share of the matmul rate a fused attention kernel reaches, forward and backward
    # (softmax, masking and the backward's dQ accumulation between its GEMMs). It belongs to
    # the kernel library, so a stack sets it (StackSpec.gemm_chip); a chip config leaves it
    # empty, and an attention op then runs at the GEMM rate.
    attention_kernel_fraction: dict[Literal["forward", "backward"], float] = {}

    @model_validator(mode="after")
    def _has_a_matmul_format(self) -> "Compute":
        if not {"bf16", "fp16", "fp8", "int8"} & set(self.peak_dense_TFLOPS):
            raise ValueError("peak_dense_TFLOPS needs at least one of bf16, fp16, fp8, int8")
        if any(not 0 < f <= 1 for f in self.matmul_fraction_by_dtype.values()):
            raise ValueError("matmul_fraction_by_dtype values must be in (0, 1]")
        if any(not 0 < f <= 1 for f in self.attention_kernel_fraction.values()):
            raise ValueError("attention_kernel_fraction values must be in (0, 1]")
        missing = set(self.peak_dense_TFLOPS) - set(self.energy_pJ_per_flop)
        if missing:
            raise ValueError(f"energy_pJ_per_flop needs every format with a peak (missing: {', '.join(sorted(missing))})")
        return self

    def resolve_dtype(self, dtype: str) -> Dtype:
        """The format the chip actually computes ``dtype`` in (see dtypes.COMPUTE_FALLBACK)."""
        for candidate in COMPUTE_FALLBACK[dtype]:
            if candidate in self.peak_dense_TFLOPS:
                return candidate
        have = ", ".join(sorted(self.peak_dense_TFLOPS))
        raise UnsupportedError(f"no peak rate for {dtype} or a wider format (chip has: {have})")

    def format_used(self, asked: str) -> str:
        """The format ``asked`` is computed in, saying so when it falls back to a wider one."""
        used = self.resolve_dtype(asked)
        return used if used == asked else f"{used} ({asked} asked; the chip has no {asked} units)"

    def matmul_fraction(self, dtype: str) -> float:
        """Measured large-GEMM ceiling for ``dtype`` (after fallback)."""
        return self.matmul_fraction_by_dtype.get(self.resolve_dtype(dtype), self.max_matmul_fraction)

    def attention_fraction(self, backward: bool) -> float:
        """Share of the matmul rate the attention kernel reaches (1 where none is set)."""
        return self.attention_kernel_fraction.get("backward" if backward else "forward", 1.0)

    def energy_J_per_flop(self, dtype: str) -> float:
        """Dynamic energy of one flop in ``dtype`` after fallback, joules."""
        fmt = self.resolve_dtype(dtype)
        if fmt not in self.energy_pJ_per_flop:
            have = ", ".join(sorted(self.energy_pJ_per_flop))
            raise UnsupportedError(f"no energy_pJ_per_flop for {fmt} (chip has: {have})")
        return self.energy_pJ_per_flop[fmt] * 1e-12

    def peak_flops(self, dtype: str) -> float:
        """Peak flop/s for ``dtype`` after fallback."""
        return self.peak_dense_TFLOPS[self.resolve_dtype(dtype)] * TERA
