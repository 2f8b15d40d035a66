"""The software stack a model runs under: a serving engine (TensorRT-LLM, vLLM, SGLang,
JetStream, Neuron, ...) or a training framework (Megatron, NeMo, MaxText, ...). The same
chips run the same model up to 2x apart under different stacks, so the stack is a part
with its own sourced parameters, fitted on named measurements of that stack."""

from pydantic import NonNegativeFloat

from sim.spec import Spec


class StackSpec(Spec):
    """What a stack adds to the hardware's time.

    ``host_overhead_us_per_sequence``: host (CPU) work per sequence a forward pass samples
    (scheduling, sampling, stop checks, detokenising), on the critical path between device
    steps. ``step_overhead_us``: fixed host work per forward pass (the engine's scheduler
    loop, input preparation, launches a CUDA graph does not hide). ``tp_comm_overlap``
    (training): tensor-parallel collectives run under the GEMMs that produce and consume
    them (Megatron / Transformer Engine userbuffers) instead of between them.
    """

    name: str
    aliases: tuple[str, ...] = ()
    host_overhead_us_per_sequence: NonNegativeFloat
    step_overhead_us: NonNegativeFloat = 0.0
    tp_comm_overlap: bool = False
    notes: str = ""
    sources: dict[str, str]

    @classmethod
    def tiny(cls) -> "StackSpec":
        """A stack that adds nothing (fictional, for contract tests)."""
        return cls(name="tiny-stack", host_overhead_us_per_sequence=0.0, sources={"*": "fictional test stack"})
