"""Uncertainty bands measured on the simulator's own held-out error.

For every held-out validation case that ran, the ratio of the truth to the prediction is
taken for one of three quantities: **speed** (a rate's measured / predicted, a time's
predicted / measured, so times and rates pool: tokens/s, step time, TTFT, TPOT, MFU),
**power** (measured / predicted average power) and **bandwidth** (collective bus bandwidth,
memory bandwidth). Comparisons get their own bands (``speed-ratio`` ...): the error of
the ratio of two chips' predictions on the same published workload (``pair_ratios``), far
narrower than two independent bands when the model errs alike on both. Per quantity,
architecture family (gpu, systolic, dataflow, wafer, lpu)
and scope (single-chip, multi-card), the 10th and 90th percentiles of that ratio are the
band: on published measurements the model did not fit, 80% of the truths fell within
[prediction x low, prediction x high]. A group with fewer than MIN_CASES cases borrows the
band of the family over both scopes, then of every family in its scope, and says so.

``python -m sim.validate.bands`` predicts the shipped validation set and writes
configs/calibration.yaml; a test checks that file against the current predictions.
"""

from __future__ import annotations

import itertools
import statistics
import sys
from collections import defaultdict
from typing import Any

from sim.validate.predict import TIME_METRICS, Outcome

QUANTILES = (0.10, 0.90)  # an 80% band: one held-out case in ten falls outside each side
# Below this many cases a 10th percentile rests on one or two cases; the group borrows a
# wider one instead.
MIN_CASES = 20
SPEED = {"throughput_tokens_per_s", "tokens_per_s_per_chip", "mfu", *TIME_METRICS}
POWER = {"avg_power_w"}
BANDWIDTH = {"collective_busbw_gbps", "memory_bandwidth_gbps"}
ANY = "any"


def quantity(metric: str) -> str | None:
    """Which band a validation metric informs (None: it informs none, e.g. gemm_tflops)."""
    if metric in SPEED:
        return "speed"
    if metric in POWER:
        return "power"
    if metric in BANDWIDTH:
        return "bandwidth"
    return None


def truth_over_prediction(o: Outcome) -> float:
    """Measured over predicted, as a speed for times (predicted / measured)."""
    assert o.predicted is not None
    if o.case.metric in TIME_METRICS:
        return o.predicted / o.case.value
    return o.case.value / o.predicted


def measure(outcomes: list[Outcome]) -> dict[str, dict[str, Any]]:
    """``"<quantity>/<arch>/<scope>"`` (arch or scope may be ``any``) -> cases, low, high,
    for every group with at least MIN_CASES held-out cases."""
    ratios: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for o in outcomes:
        q = quantity(str(o.case.metric))
        if o.status != "ok" or o.fitted or o.predicted is None or q is None:
            continue
        r = truth_over_prediction(o)
        for arch in (o.arch, ANY):
            for scope in (o.scope, ANY):
                ratios[(q, arch, scope)].append(r)
    for (q, scope), rs in pair_ratios(outcomes).items():
        ratios[(f"{q}-ratio", ANY, scope)] = rs
        ratios[(f"{q}-ratio", ANY, ANY)] += rs
    out = {}
    for (q, arch, scope), rs in sorted(ratios.items()):
        if len(rs) >= MIN_CASES:
            cuts = statistics.quantiles(rs, n=100, method="inclusive")
            out[f"{q}/{arch}/{scope}"] = {"cases": len(rs), "low": round(cuts[int(QUANTILES[0] * 100) - 1], 4),
                                          "high": round(cuts[int(QUANTILES[1] * 100) - 1], 4)}
    return out


def pair_ratios(outcomes: list[Outcome]) -> dict[tuple[str, str], list[float]]:
    """The error of a comparison: for held-out cases that measured the same workload, model,
    metric and stack on the same number of chips of two different kinds, the truth's ratio
    of the two over the prediction's (both orders, so the distribution is symmetric). A
    simulator biased the same way on both chips gets their ratio right; this measures how
    far its ratios really are off."""
    same: dict[tuple, list[tuple[str, float]]] = defaultdict(list)
    for o in outcomes:
        q = quantity(str(o.case.metric))
        if o.status != "ok" or o.fitted or o.predicted is None or q is None:
            continue
        c = o.case
        key = (q, o.scope, c.model, c.metric, c.stack, c.hardware.count, c.power_scope,
               c.workload.model_dump_json())
        same[key].append((c.hardware.chip or c.hardware.system or "", truth_over_prediction(o)))
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (q, scope, *_), entries in same.items():
        for (chip_a, ra), (chip_b, rb) in itertools.combinations(entries, 2):
            if chip_a != chip_b:
                out[(q, scope)] += [ra / rb, rb / ra]
    return out


def band_key(bands: dict[str, Any], q: str, arch: str, scope: str) -> str | None:
    """The group a row takes its band from: its own, else its family over both scopes,
    else every family in its scope, else everything (None when there is no band at all)."""
    for key in (f"{q}/{arch}/{scope}", f"{q}/{arch}/{ANY}", f"{q}/{ANY}/{scope}", f"{q}/{ANY}/{ANY}"):
        if key in bands:
            return key
    return None


def main() -> None:
    from sim.catalog import configs_dir, load_economics, shipped_dir
    from sim.catalog.yaml_io import dump_yaml
    from sim.validate.cases import load_cases
    from sim.validate.predict import predict_case

    econ = load_economics({})
    cases = load_cases(shipped_dir() / "scenarios" / "validation")
    outcomes = [predict_case(c, econ) for c in cases]
    bands = measure(outcomes)
    doc = {"sources": {"bands": (
        "fitted: held-out residuals of the shipped validation set (python -m sim.validate.bands): per "
        "quantity/architecture/scope, the 10th and 90th percentiles of truth over prediction "
        f"({len(cases)} cases; groups under {MIN_CASES} cases borrow a wider group's band)")},
        "quantiles": list(QUANTILES), "bands": bands}
    path = configs_dir() / "calibration.yaml"
    path.write_text("# Generated by python -m sim.validate.bands; do not edit by hand.\n" + dump_yaml(doc),
                    encoding="utf-8")
    print(f"{len(bands)} bands -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
