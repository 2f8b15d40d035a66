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
