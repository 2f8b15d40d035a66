"""Refit a chip parameter on its named calibration case, so a fit is a command, not a memory.

Only scalar parameters whose prediction is monotone in them are fitted this way (bisection);
ceilings that are a measurement over a peak (GEMM fractions) are written down directly.
Run ``python -m sim.validate.fit`` after a change to the engine and copy the values it
prints into the configs it names.
"""

from __future__ import annotations

from sim.catalog import (
    load_chip,
    load_economics,
    load_stack,
    load_system,
    scenarios_dir,
    system_with_chip,
)
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.spec import field_value, with_field
from sim.system import SystemSpec
from sim.validate.cases import Case, load_cases
from sim.validate.predict import predict_case

VALIDATION_DIR = scenarios_dir() / "validation"


def case_stack(case: Case) -> StackSpec:
    """The stack a case runs under: the one it names, else its chip's default."""
    return load_stack(case.stack) if case.stack else load_chip(_chip_name(case)).default_stack


def _chip_name(case: Case) -> str:
    if case.hardware.chip is None:
        raise ValueError(f"{case.id}: fitting varies a catalog chip; this case names system "
                         f"{case.hardware.system}, whose chip it would not vary")
    return case.hardware.chip


def case_system(case: Case) -> SystemSpec:
    """The (unsized) system a multi-chip case runs in: the one it names, else the catalog
    system ``load_sized_system`` would take for its chip and count."""
    if case.hardware.system is not None:
        return load_system(case.hardware.system)
    return system_with_chip(_chip_name(case), case.hardware.count)


def configured_value(case: Case, field: str) -> float:
    """The value the configs hold for a fitted ``field`` (``stack.<f>``: the case's stack;
    ``system.<f>``: its system)."""
    if field.startswith("stack."):
        return float(field_value(case_stack(case), field.removeprefix("stack.")))
    if field.startswith("system."):
        return float(field_value(case_system(case), field.removeprefix("system.")))
    return float(field_value(load_chip(_chip_name(case)), field))


def fit_parameter(case: Case, field: str, lo: float, hi: float, econ: Economics, tolerance: float = 1e-4) -> float:
    """Value of ``field`` in [lo, hi] whose prediction of ``case`` equals its measurement:
    a chip field of the case's chip, ``stack.<field>`` of the case's software stack, or
    ``system.<field>`` of the system its chips run in.

    The prediction must be monotone in the parameter over the bracket; a bracket that does
    not straddle the measurement is an error, not a clamp.
    """
    if field.startswith("stack."):
        stack, rest = case_stack(case), field.removeprefix("stack.")

        def outcome(value: float):
            return predict_case(case, econ, stack=with_field(stack, rest, value))
    elif field.startswith("system."):
        system, rest = case_system(case), field.removeprefix("system.")

        def outcome(value: float):
            return predict_case(case, econ, system=with_field(system, rest, value))
    else:
        chip = load_chip(_chip_name(case))

        def outcome(value: float):
            return predict_case(case, econ, with_field(chip, field, value))

    def error(value: float) -> float:
        result = outcome(value)
        if result.error_pct is None:
            raise ValueError(f"{case.id}: {result.reason}")
        return result.error_pct

    e_lo, e_hi = error(lo), error(hi)
    if e_lo * e_hi > 0:
        raise ValueError(f"{case.id}: {field} in [{lo}, {hi}] gives errors {e_lo:+.1f}% .. {e_hi:+.1f}%, "
                         "which do not straddle 0")
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        if error(mid) * e_lo > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# (case id, field, bracket): every parameter fitted by bisection, with its case; a field
# "stack.<name>" is a parameter of the case's software stack, any other one of its chip.
FITS = [("trtllm-l31-8b-h100-tp1-128-128", "stack.host_overhead_us_per_sequence", (0.0, 50.0)),
        ("ss-lib-l3-8b-h100-vllm-bs1", "stack.step_overhead_us", (0.0, 20000.0)),
        ("anl-h100-vllm-l3-8b-tp1-bs64-512-512-e2e", "stack.host_overhead_us_per_sequence", (0.0, 500.0)),
        ("anl-h100-vllm-l3-8b-tp4-bs1-1024-1024-e2e", "stack.tp_step_overhead_us", (0.0, 20000.0)),
        ("ss-lib-l3-8b-mi300x-vllm-bs1", "stack.step_overhead_us", (0.0, 50000.0)),
        ("anl-mi300x-vllm-l3-8b-tp1-bs32-2048-2048-e2e", "stack.kv_read_bandwidth_fraction", (0.01, 1.0)),
        ("anl-mi300x-vllm-l3-8b-tp1-bs256-128-128-e2e", "stack.matmul_rate_fraction_by_chip.MI300X", (0.01, 1.0)),
        ("anl-mi250-vllm-l3-8b-tp1-bs1-1024-1024-e2e", "stack.weight_read_bandwidth_fraction_by_chip.MI250-GCD",
         (0.05, 1.0)),
        ("anl-max1550-vllm-l3-8b-tp1-bs64-256-256-e2e", "stack.host_overhead_us_per_sequence", (0.0, 5000.0)),
        ("anl-pvc-vllm-l2-7b-tp4-bs1-1024-1024-e2e", "stack.tp_step_overhead_us", (0.0, 200000.0)),
        ("anl-h100-trtllm-l3-8b-tp1-bs1-1024-1024-e2e", "stack.step_overhead_us", (0.0, 20000.0)),
        ("anl-h100-trtllm-l3-8b-tp1-bs64-512-512-e2e", "stack.host_overhead_us_per_sequence", (0.0, 500.0)),
        ("anl-gh200-trtllm-l3-8b-tp1-bs1-1024-1024-e2e", "stack.step_overhead_us", (0.0, 20000.0)),
        ("anl-gh200-trtllm-l3-8b-tp1-bs64-512-512-e2e", "stack.host_overhead_us_per_sequence", (0.0, 500.0)),
        ("anl-gaudi2-ds-l3-8b-tp1-bs32-1024-1024-e2e", "systolic.weight_load_cycles", (1.0, 256.0)),
        ("anl-gaudi2-ds-l3-8b-tp8-bs1-1024-1024-e2e", "stack.tp_step_overhead_us", (0.0, 20000.0)),
        ("cerebras-aa-l31-8b-bf16-1wafer-tpot", "wafer.hop_latency_cycles", (0.5, 200.0)),
        ("anl-power-h100-vllm-l3-8b-bs1", "power.active_W", (0.0, 500.0)),
        ("coll-a100x8-oci-allreduce-1KiB", "stack.collective_call_overhead_us", (0.0, 500.0)),
        ("coll-h200x8-allreducebench-32KiB", "stack.collective_call_overhead_us", (0.0, 500.0)),
        ("coll-b200x32-efa-allreducebench-1MiB", "system.scale_out.transport_latency_us", (0.0, 500.0)),
        ("neuron-trn1-l3-8b-int8-tp32-bs1-128-3968-tpot", "system.scale_up.base_latency_us", (0.0, 500.0)),
        ("attn-h100-cudnn-hd128-fwd-causal-8k", "stack.attention_kernel_fraction.forward", (0.05, 1.0)),
        ("attn-h100-cudnn-hd128-bwd-8k", "stack.attention_kernel_fraction.backward", (0.05, 1.0))]


def main() -> None:
    cases = {c.id: c for c in load_cases(VALIDATION_DIR)}
    econ = load_economics({})
    for case_id, field, (lo, hi) in FITS:
        case = cases[case_id]
        value = fit_parameter(case, field, lo, hi, econ)
        where = (f"stack {case_stack(case).name}" if field.startswith("stack.") else
                 f"system {case_system(case).name}" if field.startswith("system.") else f"chip {case.hardware.chip}")
        print(f"{field} = {value:.3f}  (fitted on {case_id}, {where})")


if __name__ == "__main__":
    main()
