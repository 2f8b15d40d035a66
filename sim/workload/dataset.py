"""A benchmark's dataset as the simulator needs it: how long its prompts and answers are.

Benchmarks publish their datasets' token statistics (MLPerf's reference implementations,
for example, give the expected tokens per sample), so a run on a dataset is costed at its
mean input and output lengths instead of being refused for want of a stated length. A
mean is a point of the distribution: throughput at mean lengths is exact for the flops of
prefill and decode that are linear in length and approximate for the attention terms
(quadratic in length), which a histogram would capture (histograms are not modelled yet).
"""

from __future__ import annotations

from pydantic import PositiveFloat, PositiveInt, model_validator

from sim.spec import Spec


class DatasetSpec(Spec):
    """``mean_input_tokens`` / ``mean_output_tokens``: mean prompt and generated lengths
    (tokens of the benchmark's model's tokenizer); the generated mean is the reference
    run's, which a submission's own accuracy run may replace. ``samples``: how many
    requests the dataset holds; ``max_*``: the longest prompt and answer it allows."""

    name: str
    aliases: tuple[str, ...] = ()
    samples: PositiveInt | None = None
    mean_input_tokens: PositiveFloat
    mean_output_tokens: PositiveFloat
    max_input_tokens: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    notes: str = ""
    sources: dict[str, str]

    @model_validator(mode="after")
    def _means_within_limits(self) -> DatasetSpec:
        for kind in ("input", "output"):
            mean, most = getattr(self, f"mean_{kind}_tokens"), getattr(self, f"max_{kind}_tokens")
            if most is not None and mean > most:
                raise ValueError(f"mean_{kind}_tokens {mean:g} is above max_{kind}_tokens {most}")
        return self

    def lengths(self, input_len: int | None = None, output_len: int | None = None) -> tuple[int, int]:
        """Input and output lengths (whole tokens) a point on this dataset runs at: those
        given, else the dataset's means."""
        return (input_len or max(1, round(self.mean_input_tokens)),
                output_len or max(1, round(self.mean_output_tokens)))
