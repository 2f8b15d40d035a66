"""Predict one validation case with the analytical engine, or say why it cannot yet."""

from __future__ import annotations

from dataclasses import dataclass

from sim.analytical.economics import Economics
from sim.analytical.inference import predict
from sim.catalog import load_chip, load_model
from sim.chips.base import ChipSpec
from sim.chips.costing import Placement
from sim.errors import CapacityError, SimError, UnsupportedError
from sim.units import GB, TERA
from sim.validate.cases import Case
from sim.workload.ops import Block, elementwise, matmul
from sim.workload.spec import Precision, Workload


@dataclass(frozen=True)
class Outcome:
    """A case's prediction (``status`` ok), or why there is none (unsupported / error)."""

    case: Case
    status: str
    predicted: float | None = None
    reason: str = ""
    arch: str = ""

    @property
    def error_pct(self) -> float | None:
        """Signed error of the prediction, percent of the measured value."""
        if self.predicted is None:
            return None
        return 100.0 * (self.predicted - self.case.value) / self.case.value

    @property
    def fitted(self) -> bool:
        return bool(self.case.used_for_fitting)


def _main_tier_placement(chip: ChipSpec) -> Placement:
    t = chip.main_tier
    return Placement(t.sustained_bandwidth_Bps, t.sustained_bandwidth_Bps, t.sustained_bandwidth_Bps,
                     t.energy_J_per_byte, t.energy_J_per_byte, t.energy_J_per_byte)


def _gemm_tflops(case: Case, chip: ChipSpec) -> float:
    w = case.workload
    if None in (w.m, w.n, w.k, w.dtype):
        raise UnsupportedError("a gemm_tflops case needs workload m, n, k and dtype")
    p = Precision(weights=w.dtype, activations=w.dtype, kv_cache=w.dtype)  # type: ignore[arg-type]
    op = matmul("gemm", "mlp", w.m, w.k, w.n, p)  # type: ignore[arg-type]
    cost = chip.cost_model().block_costs(Block("gemm", (op,), 1), _main_tier_placement(chip))[0]
    return op.flops / cost.time_s / TERA


def _stream_gbps(case: Case, chip: ChipSpec) -> float:
    """A streaming kernel over ``bytes`` (default 4 GB): sustained bandwidth plus one kernel
    overhead, as bytes moved per second."""
    size = case.workload.bytes or 4 * GB
    half = size / 2 / Precision().act_bytes  # elements read, and as many written
    op = elementwise("stream", "mlp", half, half, 0.0, Precision())
    cost = chip.cost_model().block_costs(Block("stream", (op,), 1), _main_tier_placement(chip))[0]
    return size / cost.time_s / GB


# Offline cases that do not state a batch run at the best static batch that fits, searched
# over powers of two up to this cap: TensorRT-LLM's default max_batch_size (trtllm-build
# --max_batch_size defaults to 2048 in the TensorRT-LLM docs; not re-read in this pass).
MAX_OFFLINE_BATCH = 2048


def _inference(case: Case, chip: ChipSpec, econ: Economics) -> float:
    w = case.workload
    if case.model is None or None in (w.phase, w.input_len):
        raise UnsupportedError("an inference case needs model, phase and input_len")
    model, prec = load_model(case.model), Precision.uniform(w.precision or "bf16")

    def at(batch: int):
        wl = Workload(phase=w.phase, batch=batch, input_len=w.input_len,  # type: ignore[arg-type]
                      output_len=w.output_len or 1, precision=prec)
        return predict(chip, model, wl, econ)

    if w.batch is not None:
        pred = at(w.batch)
    elif case.metric in ("throughput_tokens_per_s", "tokens_per_s_per_chip"):
        pred = _best_batch(at)
    else:
        raise UnsupportedError(f"a {case.metric} case needs a batch")
    return {"throughput_tokens_per_s": pred.throughput_tokens_per_s,
            "tokens_per_s_per_chip": pred.throughput_tokens_per_s_per_chip,
            "ttft_s": pred.ttft_s, "tpot_s": pred.tpot_s, "e2e_latency_s": pred.e2e_latency_s}[case.metric]


def _best_batch(at):
    """Highest-throughput prediction over batches 1, 2, 4, ... that fit."""
    best = None
    batch = 1
    while batch <= MAX_OFFLINE_BATCH:
        try:
            pred = at(batch)
        except CapacityError:
            break
        if best is None or pred.throughput_tokens_per_s > best.throughput_tokens_per_s:
            best = pred
        batch *= 2
    if best is None:
        raise CapacityError("the model does not fit at batch 1")
    return best


def predict_case(case: Case, econ: Economics) -> Outcome:
    """Predict ``case``; multi-card, collective and training cases are unsupported until
    the multi-card issue lands."""
    if case.hardware.chip is None:
        return Outcome(case, "unsupported", reason=f"system {case.hardware.system}: systems are not modelled yet")
    try:
        chip = load_chip(case.hardware.chip)
    except SimError as err:
        return Outcome(case, "error", reason=str(err))
    try:
        if case.hardware.count > 1:
            raise UnsupportedError(f"{case.hardware.count} chips: multi-card systems are not modelled yet")
        if case.metric == "gemm_tflops":
            value = _gemm_tflops(case, chip)
        elif case.metric == "memory_bandwidth_gbps":
            value = _stream_gbps(case, chip)
        elif case.workload.mode == "inference":
            value = _inference(case, chip, econ)
        else:
            raise UnsupportedError(f"metric {case.metric} ({case.workload.mode}) is not modelled yet")
    except UnsupportedError as err:
        return Outcome(case, "unsupported", reason=str(err), arch=chip.kind)
    except SimError as err:
        return Outcome(case, "error", reason=str(err), arch=chip.kind)
    return Outcome(case, "ok", predicted=value, arch=chip.kind)
