"""Predict one validation case with the analytical engine, or say why it cannot yet."""

from __future__ import annotations

from dataclasses import dataclass

from sim.analytical.inference import predict
from sim.analytical.training import predict_training
from sim.catalog import (
    load_chip,
    load_dataset,
    load_deployment,
    load_model,
    load_sized_system,
    load_stack,
)
from sim.chips.base import ChipSpec
from sim.chips.costing import Placement
from sim.comm import bus_bandwidth_GBps, collective_time_s
from sim.deployment import Deployment
from sim.dtypes import DTYPE_BYTES
from sim.errors import CapacityError, SimError, UnsupportedError
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.system import SystemSpec
from sim.units import GB, TERA, US
from sim.validate.cases import Case, CaseWorkload
from sim.workload.graph import self_attention
from sim.workload.ops import Block, elementwise, matmul
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision, Workload
from sim.workload.training import TrainingJob, backward_op

TIME_METRICS = ("ttft_s", "tpot_s", "e2e_latency_s", "step_time_s", "time_to_train_s")


@dataclass(frozen=True)
class Outcome:
    """A case's prediction (``status`` ok), or why there is none (unsupported / error /
    below-floor: a measurement faster than reading the weights allows)."""

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
    def optimism_pct(self) -> float | None:
        """Signed error as optimism: positive when the prediction is faster or bigger than
        measured (a time metric's ratio is inverted: predicted 0.8 s for a measured 1.0 s
        is +25%), so times and rates pool into one bias."""
        if self.predicted is None:
            return None
        if self.case.metric in TIME_METRICS:
            return 100.0 * (self.case.value / self.predicted - 1.0)
        return self.error_pct

    @property
    def fitted(self) -> bool:
        return bool(self.case.used_for_fitting)

    @property
    def scope(self) -> str:
        """single-chip or multi-card (the issue's two accuracy targets)."""
        return "multi-card" if self.case.hardware.count > 1 else "single-chip"


def _main_tier_placement(chip: ChipSpec) -> Placement:
    t = chip.main_tier
    return Placement(t.sustained_bandwidth_Bps, t.sustained_bandwidth_Bps, t.sustained_bandwidth_Bps,
                     t.energy_J_per_byte, t.energy_J_per_byte, t.energy_J_per_byte)


def _gemm_tflops(case: Case, chip: ChipSpec) -> float:
    w = case.workload
    if None in (w.m, w.n, w.k, w.dtype):
        raise UnsupportedError("a gemm_tflops case needs workload m, n, k and dtype")
    p = Precision(weights=w.dtype, activations=w.dtype, kv_cache=w.dtype)
    op = matmul("gemm", "mlp", w.m, w.k, w.n, p)  # type: ignore[arg-type]
    cost = chip.cost_model().block_costs(Block("gemm", (op,), 1), _main_tier_placement(chip))[0]
    return op.flops / cost.time_s / TERA


def _attention_tflops(case: Case, chip: ChipSpec, stack: StackSpec | None) -> float:
    """One fused self-attention kernel (forward, or its backward) under the case's stack
    (its attention kernel's share of the GEMM rate), as the benchmark counts its flops:
    4 x seq^2 x head_dim per head forward (half of it causal), 2.5 times that backward."""
    w = case.workload
    if None in (w.batch, w.seq_len, w.heads, w.head_dim, w.dtype):
        raise UnsupportedError("an attention_tflops case needs workload batch, seq_len, heads, head_dim and dtype")
    p = Precision(weights=w.dtype, activations=w.dtype, kv_cache=w.dtype)
    op = self_attention(w.batch, w.seq_len, w.heads, w.head_dim, p, w.causal)  # type: ignore[arg-type]
    if w.direction == "backward":
        (op,) = backward_op(op)
    software = stack or (load_stack(case.stack) if case.stack else chip.default_training_stack)
    cost = software.gemm_chip(chip).cost_model().block_costs(Block("attention", (op,), 1), _main_tier_placement(chip))[0]
    return op.flops / cost.time_s / TERA


def _stream_gbps(case: Case, chip: ChipSpec) -> float:
    """A streaming kernel over ``bytes`` (default 4 GB): sustained bandwidth plus one kernel
    overhead, as bytes moved per second."""
    size = case.workload.bytes or 4 * GB
    half = size / 2 / Precision().act_bytes  # elements read, and as many written
    op = elementwise("stream", "mlp", half, half, 0.0, Precision())
    cost = chip.cost_model().block_costs(Block("stream", (op,), 1), _main_tier_placement(chip))[0]
    return size / cost.time_s / GB


# Offline cases that do not state a batch run at the best static batch that fits: powers of
# two, and the largest batch whose KV cache fits, up to this cap. trtllm-bench sizes its batch
# to the requests whose full-length KV cache fits and caps it at 4096 "to avoid decoder buffer
# size becoming too large" (TensorRT-LLM tensorrt_llm/bench/build/tuning.py @04cba88,
# calc_engine_setting / finetune_setting: raw_bs = min(kv_cache_max_requests, 4096)).
MAX_OFFLINE_BATCH = 4096


def _deployment(case: Case, plan: Parallelism, chip: ChipSpec | None, stack: StackSpec | None,
                system: SystemSpec | None = None) -> Deployment:
    """The case's hardware (or a fit's ``system`` variant) and plan under ``stack`` (a fit's
    variant), else the stack the case names, else the chip's default."""
    hw = case.hardware
    if system is not None:
        dep = Deployment.on_system(system, plan)
        dep = dep.with_chip(chip) if chip is not None else dep
    else:
        dep = load_deployment(plan, chip=hw.chip, system=hw.system, chip_spec=chip)
    return dep.with_stack(stack or (load_stack(case.stack) if case.stack else None))


def _inference(case: Case, chip: ChipSpec | None, stack: StackSpec | None, econ: Economics,
               system: SystemSpec | None = None) -> float:
    w = _with_dataset_lengths(case.workload)
    if case.model is None or None in (w.phase, w.input_len):
        raise UnsupportedError("an inference case needs model, phase and input_len (or a dataset)")
    if w.tpot_limit_s is not None or w.ttft_limit_s is not None:
        raise UnsupportedError("throughput under p99 TTFT / TPOT limits (a server scenario) depends on arrival "
                               "bursts and queueing, which only the serving simulation (sim serve) models; "
                               "validation runs the analytical engine")
    model, prec = load_model(case.model), Precision.uniform(w.precision or "bf16")
    if w.kv_cache is not None:
        prec = prec.model_copy(update={"kv_cache": w.kv_cache})
    count = case.hardware.count
    throughput = case.metric in ("throughput_tokens_per_s", "tokens_per_s_per_chip")

    def at_plan(plan: Parallelism):
        dep = _deployment(case, plan, chip, stack, system)

        def at(batch: int):
            wl = Workload(phase=w.phase, batch=batch * plan.dp, input_len=w.input_len,
                          output_len=w.output_len or 1, precision=prec, identical_prompts=w.identical_prompts)
            return predict(dep, model, wl, econ)

        if w.batch is not None:
            return at(w.batch)
        if throughput:
            return _best_batch(at)
        raise UnsupportedError(f"a {case.metric} case needs a batch")

    if throughput and w.batch is None and not w.parallelism and count > 1:
        pred = _best_plan(case, count, at_plan)
    else:
        pred = at_plan(_plan(case, count, count))
    power = pred.avg_power_W * pred.chips if case.power_scope == "accelerators" else pred.system_power_W
    return {"throughput_tokens_per_s": pred.throughput_tokens_per_s,
            "tokens_per_s_per_chip": pred.throughput_tokens_per_s_per_chip,
            "ttft_s": pred.ttft_s, "tpot_s": pred.tpot_s, "e2e_latency_s": pred.e2e_latency_s,
            "avg_power_w": power}[case.metric]


def _best_plan(case: Case, count: int, at_plan):
    """Highest-throughput prediction over the tensor x data-parallel splits of ``count``
    chips, for an offline case that states neither batch nor parallelism: the submitter
    tunes both (MLPerf's Offline runs pick, per system, the engine size and replica count
    that give the most tokens/s)."""
    best, failure = None, None
    for tp in (t for t in range(1, count + 1) if count % t == 0):
        try:
            pred = at_plan(_plan(case.model_copy(update={"workload": case.workload.model_copy(
                update={"parallelism": {"tp": tp, "dp": count // tp}})}), count, count))
        except (SimError, ValueError) as err:  # does not fit, or a width the model or engine refuses
            failure = err
            continue
        if best is None or pred.throughput_tokens_per_s > best.throughput_tokens_per_s:
            best = pred
    if best is None:
        raise failure or CapacityError("no tensor x data-parallel split of the chips runs the model")
    return best


def _with_dataset_lengths(w: CaseWorkload) -> CaseWorkload:
    """``w`` with the lengths it does not state taken from its dataset's means."""
    if w.dataset is None:
        return w
    input_len, output_len = load_dataset(w.dataset).lengths(w.input_len, w.output_len)
    return w.model_copy(update={"input_len": input_len, "output_len": output_len})


def _best_batch(at):
    """Highest-throughput prediction over batches 1, 2, 4, ... and the largest batch whose
    KV cache fits at once (a bigger one the engine would run in waves)."""
    def at_once(batch: int):
        try:
            pred = at(batch)
        except CapacityError:
            return None
        return pred if pred.waves == 1 else None

    best, fits, too_big = None, 0, MAX_OFFLINE_BATCH + 1
    batch = 1
    while batch <= MAX_OFFLINE_BATCH:
        pred = at_once(batch)
        if pred is None:
            too_big = batch
            break
        fits = batch
        if best is None or pred.throughput_tokens_per_s > best.throughput_tokens_per_s:
            best = pred
        batch *= 2
    if best is None:
        raise CapacityError("the model does not fit at batch 1")
    while too_big - fits > 1:  # bisect for the largest batch that fits
        mid = (fits + too_big) // 2
        pred = at_once(mid)
        if pred is None:
            too_big = mid
            continue
        fits = mid
        if pred.throughput_tokens_per_s > best.throughput_tokens_per_s:
            best = pred
    return best


def _hardware(case: Case, chip: ChipSpec | None = None, variant: SystemSpec | None = None
              ) -> tuple[ChipSpec, SystemSpec | None]:
    """The case's chip (or ``chip``, a variant of it), and its system (or ``variant``, a
    variant of it) sized to ``count`` when more than one chip runs."""
    hw = case.hardware
    system = variant.sized(hw.count) if variant is not None else load_sized_system(hw.count, hw.chip, hw.system)
    if system is not None and chip is not None:
        system = system.model_copy(update={"chip": chip})
    return (system.chip if system is not None else chip or load_chip(hw.chip)), system


def _plan(case: Case, count: int, default_tp: int, stack: StackSpec | None = None) -> Parallelism:
    """The case's parallelism; what it leaves out defaults to tp = ``default_tp`` and dp
    taking the remaining chips, and (training) to its stack's sequence parallelism,
    optimizer sharding and recomputation (what that framework does unless told)."""
    w = case.workload
    par = dict(w.parallelism)
    par.setdefault("tp", max(1, default_tp // (par.get("pp", 1) * par.get("dp", 1))))
    par.setdefault("pp", 1)
    par.setdefault("dp", max(1, count // (par["tp"] * par["pp"] * par.get("cp", 1))))
    extra: dict[str, object] = {k: v for k, v in {"micro_batch": w.micro_batch, "recompute": w.recompute,
                                                  "zero": w.zero}.items() if v is not None}
    if stack is not None:
        extra.setdefault("recompute", stack.default_recompute)
        extra.setdefault("zero", stack.default_zero)
        if par["tp"] > 1:
            par.setdefault("sequence_parallel", int(stack.default_sequence_parallel))
    vpp = par.get("vpp", 1)
    if vpp > 1:
        extra["schedule"] = "interleaved"
    try:
        plan = Parallelism.model_validate({**par, **extra})
    except ValueError as err:
        raise UnsupportedError(f"parallelism {par}: {err}") from None
    if plan.chips != count:
        raise UnsupportedError(f"parallelism {plan.label} uses {plan.chips} chips, the case ran {count}")
    return plan


def _software(case: Case, chip: ChipSpec | None, stack: StackSpec | None, mode: str) -> StackSpec:
    """The stack a case runs under: a fit's variant, the one it names, or its chip's default."""
    if stack is not None:
        return stack
    if case.stack:
        return load_stack(case.stack)
    spec = chip or _hardware(case)[0]
    return spec.default_training_stack if mode == "training" else spec.default_stack


def _collective_busbw(case: Case, system: SystemSpec | None, stack: StackSpec | None) -> float:
    """Bus bandwidth of one collective as timed by the case's harness (its stack's host
    time per call on top of the library's; none named: the library alone)."""
    w = case.workload
    if system is None or w.collective is None or w.bytes is None:
        raise UnsupportedError("a collective case needs several chips, a collective and its bytes")
    n = case.hardware.count
    harness = stack or (load_stack(case.stack) if case.stack else None)
    host_s = harness.collective_call_overhead_us * US if harness else 0.0
    t = host_s + collective_time_s(system, w.collective, w.bytes, n, 1, w.algorithm)
    return bus_bandwidth_GBps(w.collective, w.bytes, n, t)


TRAINING_FORMATS = ("bf16", "fp16", "fp8", "fp4")


def _training(case: Case, chip: ChipSpec | None, stack: StackSpec | None, econ: Economics,
              system: SystemSpec | None = None) -> float:
    w = case.workload
    if case.model is None or w.global_batch is None or w.seq_len is None:
        raise UnsupportedError("a training case needs model, global_batch and seq_len")
    if case.metric not in ("step_time_s", "mfu", "tokens_per_s_per_chip", "avg_power_w"):
        raise UnsupportedError(f"metric {case.metric} needs the run's total tokens, not modelled")
    precision = w.precision or "bf16"
    if w.kv_cache is not None:
        raise UnsupportedError("kv_cache is an inference setting; a training case has no KV cache")
    if precision not in TRAINING_FORMATS:
        raise UnsupportedError(f"{precision} training is not modelled (formats: {', '.join(TRAINING_FORMATS)})")
    plan = _plan(case, case.hardware.count, 1, _software(case, chip, stack, "training"))
    job = TrainingJob(global_batch=w.global_batch, seq_len=w.seq_len, precision=precision)
    pred = predict_training(_deployment(case, plan, chip, stack, system), load_model(case.model), job, econ)
    power = pred.avg_power_W * pred.chips if case.power_scope == "accelerators" else pred.system_power_W
    return {"step_time_s": pred.step_time_s, "mfu": pred.mfu, "tokens_per_s_per_chip": pred.tokens_per_s / pred.chips,
            "avg_power_w": power}[case.metric]


def weight_read_floor_s(case: Case, chip: ChipSpec) -> float | None:
    """The least time an inference latency case can take without speculative decoding:
    every token decoded after the first reads the model's active weights once, each chip
    its tensor- and pipeline-parallel share, at its fastest memory's peak bandwidth. None
    for other metrics."""
    w = case.workload
    if case.metric not in ("e2e_latency_s", "tpot_s") or w.mode != "inference" or case.model is None:
        return None
    steps = (w.output_len or 1) - 1 if case.metric == "e2e_latency_s" else 1
    plan = _plan(case, case.hardware.count, case.hardware.count)
    bytes_per_chip = load_model(case.model).active_params * DTYPE_BYTES[w.precision or "bf16"] / (plan.tp * plan.pp)
    return steps * bytes_per_chip / max(t.bandwidth_Bps for t in chip.inference_memory.values())


def _below_floor(case: Case, chip: ChipSpec) -> str:
    """Why a measurement is faster than physics allows a decoder that is not speculative
    (a data error, or speculative decoding, which is not modelled), or "" when it is not."""
    floor = weight_read_floor_s(case, chip)
    if floor is None or case.value >= floor:
        return ""
    return (f"measured {case.value:.4g} s is {floor / case.value:.1f}x below the weight-read floor {floor:.4g} s "
            f"(each decoded token reads the active weights once at peak bandwidth): a data error, or "
            f"speculative decoding, which is not modelled")


def predict_case(case: Case, econ: Economics, chip: ChipSpec | None = None,
                 stack: StackSpec | None = None, system: SystemSpec | None = None) -> Outcome:
    """Predict ``case``, or say why it cannot be (unsupported) or what went wrong (error).
    ``chip`` replaces the catalog's chip of a chip-named case, ``system`` the system its
    chips run in (unsized) and ``stack`` the case's software stack (fitting tries variants)."""
    chip_variant, system_variant = chip, system
    try:
        chip, system = _hardware(case, chip_variant, system_variant)
    except SimError as err:
        return Outcome(case, "error", reason=str(err))
    try:
        if reason := _below_floor(case, chip):
            return Outcome(case, "below-floor", reason=reason, arch=chip.kind)
        if case.metric == "gemm_tflops":
            value = _gemm_tflops(case, chip)
        elif case.metric == "attention_tflops":
            value = _attention_tflops(case, chip, stack)
        elif case.metric == "memory_bandwidth_gbps":
            value = _stream_gbps(case, chip)
        elif case.metric == "collective_busbw_gbps":
            value = _collective_busbw(case, system, stack)
        elif case.workload.mode == "training":
            value = _training(case, chip_variant, stack, econ, system_variant)
        elif case.workload.mode == "inference":
            value = _inference(case, chip_variant, stack, econ, system_variant)
        else:
            raise UnsupportedError(f"metric {case.metric} ({case.workload.mode}) is not modelled yet")
    except UnsupportedError as err:
        return Outcome(case, "unsupported", reason=str(err), arch=chip.kind)
    except SimError as err:
        return Outcome(case, "error", reason=str(err), arch=chip.kind)
    return Outcome(case, "ok", predicted=value, arch=chip.kind)
