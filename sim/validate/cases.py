"""The validation case format: a YAML list of published measurements to predict.

Each case names the hardware (a catalog chip and a count), the model (for inference cases),
the workload the measurement ran, the metric and its measured value, and where it comes
from. ``used_for_fitting`` names the config parameters this case calibrated, so accuracy
can be reported separately on the cases that were not used for fitting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import PositiveFloat, PositiveInt, TypeAdapter, model_validator

from sim.catalog import validated
from sim.catalog.yaml_io import read_yaml
from sim.dtypes import Dtype
from sim.errors import ConfigError
from sim.spec import Spec
from sim.workload.spec import Phase

Metric = Literal[
    "gemm_tflops", "memory_bandwidth_gbps", "collective_busbw_gbps", "throughput_tokens_per_s",
    "tokens_per_s_per_chip", "ttft_s", "tpot_s", "e2e_latency_s", "step_time_s", "mfu", "time_to_train_s",
    "avg_power_w", "attention_tflops",
]
Category = Literal["microbench_gemm", "microbench_attention", "microbench_membw", "microbench_collective", "inference_offline",
                   "inference_server", "inference_single_stream", "training_step", "training_mfu",
                   "training_time_to_train", "power_inference", "power_training"]


class Hardware(Spec):
    """A catalog chip times ``count``, or a catalog system sized to ``count`` chips."""

    chip: str | None = None
    system: str | None = None
    count: PositiveInt = 1

    @model_validator(mode="after")
    def _one_of(self) -> Hardware:
        if (self.chip is None) == (self.system is None):
            raise ValueError("give exactly one of 'chip' or 'system'")
        return self


class CaseWorkload(Spec):
    """What ran. Microbenchmarks: a GEMM (m, n, k, dtype), a fused self-attention kernel
    (batch, seq_len, heads, head_dim, causal, direction, dtype), a stream of ``bytes``, or one
    ``collective`` of ``bytes`` (nccl-tests size). Inference: phase, batch, lengths,
    precision (and ``kv_cache`` where the cache is stored in another format), parallelism,
    ``identical_prompts`` where the harness repeats one prompt. Training: global batch (sequences), sequence length, micro
    batch, parallelism (tp, pp, dp, ep, cp, vpp), recomputation and ZeRO stage."""

    mode: Literal["microbench", "inference", "training"] = "inference"
    m: PositiveInt | None = None
    n: PositiveInt | None = None
    k: PositiveInt | None = None
    dtype: Dtype | None = None
    bytes: PositiveFloat | None = None
    heads: PositiveInt | None = None
    head_dim: PositiveInt | None = None
    causal: bool = True
    direction: Literal["forward", "backward"] = "forward"
    phase: Phase | None = None
    batch: PositiveInt | None = None
    input_len: PositiveInt | None = None
    output_len: PositiveInt | None = None
    dataset: str | None = None
    precision: Dtype | None = None
    kv_cache: Dtype | None = None  # the KV cache's format where it differs from ``precision``
    identical_prompts: bool = False  # every sequence is the same prompt (MoE routing: Workload)
    tpot_limit_s: PositiveFloat | None = None
    ttft_limit_s: PositiveFloat | None = None
    collective: Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"] | None = None
    algorithm: str | None = None
    parallelism: dict[str, int] = {}
    global_batch: PositiveInt | None = None
    seq_len: PositiveInt | None = None
    micro_batch: PositiveInt | None = None
    recompute: Literal["none", "selective", "full"] | None = None
    zero: Literal[0, 1, 2, 3] | None = None


class Case(Spec):
    id: str
    category: Category
    hardware: Hardware
    model: str | None = None
    workload: CaseWorkload
    metric: Metric
    # avg_power_w: the sum of the chips' board power ("accelerators") or the whole servers at the wall ("node")
    power_scope: Literal["accelerators", "node"] = "accelerators"
    # the software that ran it (trtllm, vllm, sglang, megatron, nemo, maxtext, jetstream, neuron, ...)
    stack: str | None = None
    value: PositiveFloat
    source: str
    notes: str = ""
    used_for_fitting: list[str] = []
    origin: str = ""  # the file the case was read from: load_cases sets it (accuracy by source)


_CASES = TypeAdapter(list[Case])


def load_cases(path: Path) -> list[Case]:
    """Cases of one file, or of every YAML under a folder."""
    if path.is_dir():
        return [c for p in sorted(path.rglob("*.yaml")) for c in load_cases(p)]
    doc = read_yaml(path)
    if not isinstance(doc.data, list):
        raise ConfigError(f"{path}: a validation file is a YAML list of cases")
    cases = validated(_CASES.validate_python, doc)
    for i, raw in enumerate(doc.data):
        if isinstance(raw, dict) and "origin" in raw:
            raise ConfigError(f"{doc.where((str(i), 'origin'))}: origin: set by the loader (the file a case "
                              "comes from), not by the case")
    seen: dict[str, Any] = {}
    for i, case in enumerate(cases):
        if case.id in seen:
            raise ConfigError(f"{doc.where((str(i), 'id'))}: id '{case.id}' appears twice")
        seen[case.id] = case
    return [c.model_copy(update={"origin": path.name}) for c in cases]
