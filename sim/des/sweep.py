"""A request-rate sweep: the throughput-latency curve and the saturation point."""

from __future__ import annotations

from sim.analytical.iteration import IterationCost
from sim.des.arrivals import make_requests
from sim.des.engine import simulate
from sim.des.metrics import summarize
from sim.des.spec import Requests, Serving, Slo
from sim.errors import ConfigError

# A rate is saturated when, in the steady window, fewer than this share of the arriving
# requests per second complete per second (the backlog grows without bound).
SUSTAINED_SHARE = 0.9


def rate_sweep(cost: IterationCost, serving: Serving, requests: Requests, rates: list[float],
               slo: Slo | None = None, decode_cost: IterationCost | None = None) -> list[dict]:
    """One metrics row per offered rate (same seed, so the same lengths at every rate)."""
    if requests.arrivals.kind == "trace":
        raise ConfigError("a rate sweep needs synthetic arrivals (poisson, constant or gamma)")
    rows = []
    for rate in sorted(rates):
        spec = requests.model_copy(update={"arrivals": requests.arrivals.model_copy(update={"rate_per_s": rate})})
        res = simulate(cost, serving, make_requests(spec), decode_cost)
        row = {"rate_per_s": rate, **summarize(res, slo)}
        row["saturated"] = is_saturated(row)
        rows.append(row)
    return rows


def is_saturated(row: dict) -> bool:
    return row["steady_completions_per_s"] < SUSTAINED_SHARE * row["steady_arrivals_per_s"]


def saturation(rows: list[dict]) -> dict[str, float]:
    """The highest swept rate the engine sustains, the first it does not, and the peak
    output throughput reached (NaN where the sweep does not bracket it)."""
    nan = float("nan")
    ok = [r["rate_per_s"] for r in rows if not r["saturated"]]
    bad = [r["rate_per_s"] for r in rows if r["saturated"]]
    return {"max_sustained_rate_per_s": max(ok) if ok else nan,
            "saturation_rate_per_s": min(bad) if bad else nan,
            "peak_output_tokens_per_s": max((r["output_tokens_per_s"] for r in rows), default=nan)}
