"""Columns computed over the whole sweep once its points have run: a point alone cannot
know them (scaling efficiency needs the same series at its smallest card count)."""

from __future__ import annotations

from typing import Any

from sim.report import summary

Row = dict[str, Any]
SCALING_EFFICIENCY = "scaling_efficiency"
_SERIES = tuple(k for k in ("chip", *summary.MATCH_KEYS) if k not in ("cards", "plan_index"))


def add_scaling_efficiency(rows: list[Row]) -> None:
    """``scaling_efficiency``: a point's throughput per chip over the best throughput per
    chip of its series (same hardware, model, workload; any plan) at the series' smallest
    card count that ran. 1.0 is linear scaling; a series with one card count gets 1.0 at
    its best plan, and a failed point gets nothing."""
    base: dict[tuple, tuple[int, float]] = {}
    for r in summary.ok(rows):
        v = summary.num(r.get("throughput_tokens_per_s_per_chip"))
        if v is None or not v > 0:
            continue
        key, cards = tuple(r.get(k, "") for k in _SERIES), int(r["cards"])
        if key not in base or cards < base[key][0] or (cards == base[key][0] and v > base[key][1]):
            base[key] = (cards, v)
    for r in rows:
        v = summary.num(r.get("throughput_tokens_per_s_per_chip"))
        ref = base.get(tuple(r.get(k, "") for k in _SERIES))
        if not r.get("error") and v is not None and ref:
            r[SCALING_EFFICIENCY] = v / ref[1]


# Metrics that carry a band, and how: (the band's quantity, its power: +1 scales with the
# quantity's truth/prediction ratio, -1 inversely). Energy per token or step is time x power;
# cost per token is taken to scale with time (ownership dominates it; the electricity share
# also moves with power, which this leaves out).
BANDED: dict[str, tuple[tuple[str, int], ...]] = {
    "throughput_tokens_per_s": (("speed", 1),), "throughput_tokens_per_s_per_chip": (("speed", 1),),
    "prompt_tokens_per_s": (("speed", 1),), "mfu": (("speed", 1),),
    "ttft_s": (("speed", -1),), "tpot_s": (("speed", -1),), "e2e_latency_s": (("speed", -1),),
    "step_time_s": (("speed", -1),),
    "energy_j_per_token": (("speed", -1), ("power", 1)), "energy_j_per_step": (("speed", -1), ("power", 1)),
    "cost_per_million_tokens": (("speed", -1),),
    "busbw_GBps": (("bandwidth", 1),), "algbw_GBps": (("bandwidth", 1),), "time_s": (("bandwidth", -1),),
}


def band_columns(metrics: list[str]) -> list[str]:
    """``<metric>_low`` and ``<metric>_high`` for each of ``metrics`` that carries a band."""
    return [f"{m}_{end}" for m in metrics if m in BANDED for end in ("low", "high")]


def band_factor(bands: dict[str, Any], metric: str, arch: str, scope: str,
                ratio: bool = False) -> tuple[float, float] | None:
    """The factors (low, high) on ``metric``'s value where the truth lies, combining the
    bands of its parts (energy: time x power); of a ratio of two chips' values when
    ``ratio`` (the measured error of comparisons). None when a part has no band."""
    from sim.validate.bands import ANY, band_key

    lo = hi = 1.0
    for q, power in BANDED[metric]:
        key = band_key(bands, f"{q}-ratio", ANY, scope) if ratio else band_key(bands, q, arch, scope)
        if key is None:
            return None
        a, b = bands[key]["low"] ** power, bands[key]["high"] ** power
        lo, hi = lo * min(a, b), hi * max(a, b)
    return lo, hi


def add_bands(rows: list[Row], bands: dict[str, Any], arch_of: dict[str, str]) -> None:
    """``<metric>_low`` / ``_high``: where the truth falls for 80% of held-out published
    measurements of the same architecture family and scope (``sim.validate.bands``), for
    every banded metric a row has. ``arch_of``: chip or system name -> chip kind."""
    for r in summary.ok(rows):
        scope = "multi-card" if int(r.get("cards") or 1) > 1 else "single-chip"
        arch = arch_of.get(str(r.get("chip")), "")
        for metric in BANDED:
            value = summary.num(r.get(metric))
            factor = band_factor(bands, metric, arch, scope) if value is not None else None
            if value is not None and factor is not None:
                r[f"{metric}_low"], r[f"{metric}_high"] = value * factor[0], value * factor[1]


def add_sweep_columns(rows: list[Row], columns: list[str], arch_of: dict[str, str]) -> None:
    """Fill whichever of the sweep-wide columns ``columns`` has."""
    if SCALING_EFFICIENCY in columns:
        add_scaling_efficiency(rows)
    if any(c.endswith(("_low", "_high")) and c.rsplit("_", 1)[0] in BANDED for c in columns):
        from sim.catalog import load_calibration

        add_bands(rows, load_calibration(), arch_of)


def ratio_bands(bands: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    """Per banded metric and scope, the band of a ratio of two chips' values, from the
    measured error of comparisons (``<quantity>-ratio`` groups of ``sim.validate.bands``);
    a metric with a part no comparison measured gets none (its verdicts fall back to the
    two sides' own bands, taken as independent)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for metric in BANDED:
        for scope in ("single-chip", "multi-card"):
            factor = band_factor(bands, metric, "", scope, ratio=True)
            if factor is not None:
                out.setdefault(metric, {})[scope] = factor
    return out
