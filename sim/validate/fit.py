"""Refit a chip parameter on its named calibration case, so a fit is a command, not a memory.

Only scalar parameters whose prediction is monotone in them are fitted this way (bisection);
ceilings that are a measurement over a peak (GEMM fractions) are written down directly.
Run ``python -m sim.validate.fit`` after a change to the engine and copy the values it
prints into the configs it names.
"""

from __future__ import annotations

from sim.catalog import load_chip, load_economics, scenarios_dir
from sim.parts.economics import Economics
from sim.spec import with_field
from sim.validate.cases import Case, load_cases
from sim.validate.predict import predict_case

VALIDATION_DIR = scenarios_dir() / "validation"


def fit_chip_parameter(case: Case, field: str, lo: float, hi: float, econ: Economics,
                       tolerance: float = 1e-4) -> float:
    """Value of chip ``field`` in [lo, hi] whose prediction of ``case`` equals its measurement.

    The prediction must be monotone in the parameter over the bracket; a bracket that does
    not straddle the measurement is an error, not a clamp.
    """
    if case.hardware.chip is None:
        raise ValueError(f"{case.id}: fitting varies a catalog chip; this case names system "
                         f"{case.hardware.system}, whose chip it would not vary")
    base = load_chip(case.hardware.chip)

    def error(value: float) -> float:
        outcome = predict_case(case, econ, with_field(base, field, value))
        if outcome.error_pct is None:
            raise ValueError(f"{case.id}: {outcome.reason}")
        return outcome.error_pct

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


# (case id, chip field, bracket): every parameter fitted by bisection, with its case.
FITS = [("trtllm-l31-8b-h100-tp1-128-128", "host_overhead_us_per_sequence", (0.0, 50.0)),
        ("cerebras-aa-l31-8b-bf16-1wafer-tpot", "wafer.hop_latency_cycles", (0.5, 200.0)),
        ("anl-power-h100-vllm-l3-8b-bs1", "power.active_W", (0.0, 500.0))]


def main() -> None:
    cases = {c.id: c for c in load_cases(VALIDATION_DIR)}
    econ = load_economics({})
    for case_id, field, (lo, hi) in FITS:
        value = fit_chip_parameter(cases[case_id], field, lo, hi, econ)
        print(f"{field} = {value:.2f}  (fitted on {case_id}, chip {cases[case_id].hardware.chip})")


if __name__ == "__main__":
    main()
