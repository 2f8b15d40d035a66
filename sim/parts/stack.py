"""The software stack a model runs under: a serving engine (TensorRT-LLM, vLLM, SGLang,
JetStream, Neuron, ...) or a training framework (Megatron, NeMo, MaxText, ...). The same
chips run the same model up to 2x apart under different stacks, so the stack is a part
with its own sourced parameters, fitted on named measurements of that stack."""

from typing import Literal, Protocol, TypeVar

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from sim.spec import Spec, scaled, with_field


class _NamedChip(Protocol):
    """What ``gemm_chip`` reads of a chip spec (sim.chips, a layer above, is not imported here)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...


C = TypeVar("C", bound=_NamedChip)


class StackSpec(Spec):
    """What a stack adds to the hardware's time.

    ``host_overhead_us_per_sequence``: host (CPU) work per sequence a forward pass samples
    (scheduling, sampling, stop checks, detokenising), on the critical path between device
    steps. ``step_overhead_us``: fixed host work per forward pass (the engine's scheduler
    loop, input preparation, launches a CUDA graph does not hide).
    ``tp_step_overhead_us``: host work per forward pass for each tensor-parallel rank beyond
    the first (a driver that sends every step's inputs to each worker process). ``tp_comm_overlap``
    (training): tensor-parallel collectives run under the GEMMs that produce and consume
    them (Megatron / Transformer Engine userbuffers) instead of between them.

    ``kv_read_bandwidth_fraction``: how much of the memory's sustained bandwidth the
    stack's attention kernel gets while reading the KV cache (an older paged-attention
    kernel reaches less of it than a weight-streaming GEMV). ``kv_read_per_query_head``:
    the decode kernel gives each query head its own pass over the cache (vLLM's original
    paged-attention kernel: one thread block per head and sequence), so a grouped-query
    model's cache is read ``heads / kv_heads`` times per step, not once.

    ``weight_read_bandwidth_fraction_by_chip``: per chip, the share of the memory's
    sustained (streaming-benchmark) bandwidth the stack's kernels reach while streaming
    weights (a decode GEMV library not tuned for that chip reads its weights slower than a
    streaming kernel does).

    ``matmul_rate_fraction_by_chip``: per chip, the share of the chip's measured GEMM
    ceiling the stack's GEMM library reaches (a build whose library was not yet tuned for
    a new chip reaches less than the tuned best-shape measurement the ceiling comes from).

    ``attention_kernel_fraction``: on GPUs, the share of the chip's GEMM rate the stack's
    fused attention kernel reaches, forward and backward (a measured kernel rate over the
    same chip's GEMM ceiling); other chip kinds run their own attention lowering.

    ``pads_heads_to_tp``: the stack runs a tensor-parallel width that does not divide the
    attention heads (it pads them, or splits them unevenly), so the fullest of its
    ``tp_ranks_per_chip`` x tp ranks sets the pace.

    ``collective_call_overhead_us``: host time per collective call that the devices wait
    on when collectives are timed back to back, as a microbenchmark does (one thread
    launching on every GPU in turn, or a framework's eager call path); a model's step
    launches ahead of the devices, so inference and training predictions do not add it.

    Memory the stack decides: ``max_batched_tokens``, the most tokens one serving forward
    pass takes (chunked prefill; None: a whole batch's prompts at once), which bounds the
    activation workspace; ``grad_bytes``, bytes per gradient element in training; and the
    training settings a run takes when it does not state them (``default_*``: sequence
    parallelism when tensor-parallel, ZeRO stage of the optimizer, activation recomputation).
    """

    name: str
    aliases: tuple[str, ...] = ()
    host_overhead_us_per_sequence: NonNegativeFloat
    step_overhead_us: NonNegativeFloat = 0.0
    tp_step_overhead_us: NonNegativeFloat = 0.0
    tp_comm_overlap: bool = False
    collective_call_overhead_us: NonNegativeFloat = 0.0
    max_batched_tokens: PositiveInt | None = None
    # The share of memory a serving engine lets its KV cache take: of what is free after
    # weights and workspace ("free", TensorRT-LLM) or of the device ("total", vLLM).
    kv_memory_fraction: float = Field(default=1.0, gt=0, le=1)
    kv_fraction_of: Literal["free", "total"] = "free"
    # The share of the KV tier's sustained bandwidth the stack's decode attention kernel
    # reaches reading the cache (1: as fast as the streaming GEMM/GEMV kernels).
    kv_read_bandwidth_fraction: float = Field(default=1.0, gt=0, le=1)
    # The decode attention kernel runs one query head per thread block, so each KV head is
    # read once for every query head of its group instead of once for the group.
    kv_read_per_query_head: bool = False
    # Splits attention heads over a tensor-parallel width that does not divide them (each
    # rank as full as the fullest; see sim.workload.parallel.heads_padded_to) instead of
    # refusing it; its tensor-parallel ranks are ``tp_ranks_per_chip`` per chip (cores).
    pads_heads_to_tp: bool = False
    tp_ranks_per_chip: PositiveInt = 1
    # Per chip name: the share of the chip's measured GEMM ceiling (``Compute.matmul_fraction``)
    # this stack's GEMM library reaches at the engine's shapes; a chip not listed: 1.
    matmul_rate_fraction_by_chip: dict[str, float] = {}
    # Per chip name: the share of the memory's sustained bandwidth the stack reaches
    # streaming weights; a chip not listed: 1.
    weight_read_bandwidth_fraction_by_chip: dict[str, float] = {}
    # On GPUs: the fused attention kernel's share of the GEMM rate ("forward", "backward").
    attention_kernel_fraction: dict[Literal["forward", "backward"], float] = {}
    grad_bytes: PositiveFloat = 4.0
    default_sequence_parallel: bool = False
    default_zero: Literal[0, 1, 2, 3] = 0
    default_recompute: Literal["none", "selective", "full"] = "none"
    notes: str = ""
    sources: dict[str, str]

    @field_validator("matmul_rate_fraction_by_chip", "weight_read_bandwidth_fraction_by_chip",
                     "attention_kernel_fraction")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [name for name, f in value.items() if not 0 < f <= 1]
        if bad:
            raise ValueError(f"fractions must be in (0, 1] (not for {', '.join(bad)})")
        return value

    def pass_overhead_us(self, tp: int, sampled: int) -> float:
        """Host microseconds one forward pass adds: per pass, per extra tensor-parallel
        rank, and per sampled sequence."""
        return (self.step_overhead_us + self.tp_step_overhead_us * (tp - 1)
                + self.host_overhead_us_per_sequence * sampled)

    def gemm_chip(self, chip: C) -> C:
        """``chip`` with its GEMM ceilings as this stack's library reaches them, and (GPUs)
        its attention kernel's share of them."""
        if self.attention_kernel_fraction and chip.kind == "gpu":
            chip = with_field(chip, "compute.attention_kernel_fraction", dict(self.attention_kernel_fraction))
        f = self.matmul_rate_fraction_by_chip.get(chip.name, 1.0)
        if f == 1.0:
            return chip
        return scaled(scaled(chip, "compute.max_matmul_fraction", f), "compute.matmul_fraction_by_dtype", f)

    def weight_read_fraction(self, chip_name: str) -> float:
        """The share of the memory's sustained bandwidth this stack streams weights at."""
        return self.weight_read_bandwidth_fraction_by_chip.get(chip_name, 1.0)

    def kv_reads_per_cached_byte(self, query_heads_per_kv_head: int) -> int:
        """How many times the decode kernel reads each cached byte per step."""
        return query_heads_per_kv_head if self.kv_read_per_query_head else 1

    @classmethod
    def tiny(cls) -> "StackSpec":
        """A stack that adds nothing (fictional, for contract tests)."""
        return cls(name="tiny-stack", host_overhead_us_per_sequence=0.0, sources={"*": "fictional test stack"})
