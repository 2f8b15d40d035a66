"""What a serving simulation runs: the request stream, the engine's scheduler, the pools.

Defaults are vLLM's (EngineArgs, OpenAI server): ``max_num_seqs`` 256,
``max_num_batched_tokens`` 2048 with chunked prefill, ``block_size`` 16,
``gpu_memory_utilization`` 0.9 (docs.vllm.ai "Engine Arguments";
vllm/engine/arg_utils.py ``get_batch_defaults``, the values for GPUs under 70 GiB and
the generic fallback; H100-class GPUs get larger ones in recent releases).
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from sim.analytical.iteration import DEFAULT_MEMORY_FRACTION
from sim.spec import Spec

VLLM_MAX_NUM_SEQS = 256
VLLM_MAX_NUM_BATCHED_TOKENS = 2048
VLLM_BLOCK_SIZE = 16
# Slowest offered rate: one request per ~11.6 days. A stated limit, not physics: below it
# the arrival times outgrow the simulated clock's resolution (float64 seconds), so a
# millisecond step would add nothing to a clock near 1e200 s.
MIN_RATE_PER_S = 1e-6


class Arrivals(Spec):
    """When requests arrive. ``poisson``: exponential gaps at ``rate_per_s``; ``constant``:
    equal gaps; ``gamma``: gamma gaps with mean 1/rate and coefficient of variation ``cv``
    (cv > 1 is burstier than Poisson); ``trace``: the CSV's arrival_s column."""

    kind: Literal["poisson", "constant", "gamma", "trace"] = "poisson"
    rate_per_s: PositiveFloat | None = None
    cv: PositiveFloat | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Arrivals:
        if self.kind != "trace" and self.rate_per_s is None:
            raise ValueError(f"arrivals of kind {self.kind} need rate_per_s")
        if self.rate_per_s is not None and self.rate_per_s < MIN_RATE_PER_S:
            raise ValueError(f"rate_per_s {self.rate_per_s:g} is below the slowest simulated rate, "
                             f"{MIN_RATE_PER_S:g} requests/s (one per {1 / MIN_RATE_PER_S / 86_400:.1f} days)")
        if self.kind == "gamma" and self.cv is None:
            raise ValueError("gamma arrivals need cv (coefficient of variation of the gaps)")
        return self


class Lengths(Spec):
    """A token-length distribution. ``fixed``: ``value``; ``uniform``: integers in
    [low, high]; ``lognormal``: median ``median`` and log-space sigma ``sigma``, clipped
    to [low, high]."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    value: PositiveInt | None = None
    low: PositiveInt = 1
    high: PositiveInt | None = None
    median: PositiveFloat | None = None
    sigma: PositiveFloat | None = None

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Lengths:
        need = {"fixed": ("value",), "uniform": ("high",), "lognormal": ("median", "sigma", "high")}[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.kind} lengths need {', '.join(missing)}")
        if self.high is not None and self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self

    @property
    def max(self) -> int:
        """The longest length this distribution can draw."""
        return self.value if self.kind == "fixed" else self.high  # type: ignore[return-value]


class Requests(Spec):
    """``count`` requests (all rows of ``trace`` when it is given and count is not)."""

    count: PositiveInt | None = None
    arrivals: Arrivals
    input: Lengths | None = None
    output: Lengths | None = None
    trace: str | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _source(self) -> Requests:
        if self.trace is None:
            if self.arrivals.kind == "trace":
                raise ValueError("trace arrivals need a trace: CSV path")
            if self.count is None or self.input is None or self.output is None:
                raise ValueError("synthetic requests need count, input and output lengths")
        return self


class Scheduler(Spec):
    """The engine's batching policy (a module in ``sim/des/policies``) and its limits."""

    policy: str = "continuous"
    max_seqs: PositiveInt = VLLM_MAX_NUM_SEQS
    max_batched_tokens: PositiveInt | None = None  # None: vLLM's default (policies.token_budget)
    block_tokens: PositiveInt = VLLM_BLOCK_SIZE
    memory_fraction: PositiveFloat = DEFAULT_MEMORY_FRACTION
    kv_blocks: PositiveInt | None = None  # override the budget derived from free memory


class Disaggregation(Spec):
    """Separate prefill and decode pools; a request's KV cache moves over a link of
    ``link_GBps`` with ``link_latency_us`` per transfer (one link per prefill chip)."""

    prefill_replicas: PositiveInt = 1
    decode_replicas: PositiveInt = 1
    link_GBps: PositiveFloat
    link_latency_us: NonNegativeFloat = 0.0


class Serving(Spec):
    """``replicas`` identical chips behind a router, or disaggregated pools."""

    scheduler: Scheduler = Scheduler()
    replicas: PositiveInt = 1
    disaggregation: Disaggregation | None = None


class Slo(Spec):
    """Latency targets a request must meet to count towards goodput."""

    ttft_s: PositiveFloat
    tpot_s: PositiveFloat
