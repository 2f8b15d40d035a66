"""Serving metrics of a run: latency percentiles, throughput, goodput under an SLO, queue
length and KV-cache utilisation over time.

Definitions (as vLLM's benchmark_serving and DistServe use them): TTFT = first token -
arrival; TPOT = (finish - first token) / (output tokens - 1), over requests with more than
one output token; end-to-end = finish - arrival. Throughputs divide by the run's duration,
first arrival to last finish. Goodput counts requests that meet both SLO limits.
``steady_*`` measure the middle of the arrival window (STEADY_WINDOW), which leaves out
the ramp-up and the drain: a rate the engine sustains completes as many requests there as
arrive.
"""

from __future__ import annotations

import numpy as np

from sim.des.record import ServingResult
from sim.des.spec import Slo

PERCENTILES = (50, 90, 99)
STEADY_WINDOW = (0.1, 0.9)  # share of arrivals before the steady window starts and ends


def summary_columns(slo: bool) -> list[str]:
    """The keys ``summarize`` returns, in order (with goodput when there is an SLO)."""
    cols = ["requests", "duration_s"]
    for name in ("ttft", "tpot", "e2e"):
        cols += [f"{name}_mean_s", *(f"{name}_p{q}_s" for q in PERCENTILES)]
    cols += ["output_tokens_per_s", "request_throughput_per_s", "steady_arrivals_per_s", "steady_completions_per_s",
             "energy_j_per_request", "energy_j_per_token", "avg_power_W"]
    cols += ["slo_attainment", "goodput_req_per_s"] if slo else []
    return cols + ["queue_len_mean", "queue_len_max", "queue_wait_mean_s", "little_rate_x_wait", "kv_util_mean",
                   "kv_util_max", "kv_blocks", "preemptions", "iterations", "mean_decode_batch", "events", "wall_s",
                   "us_per_event"]


def summarize(res: ServingResult, slo: Slo | None = None) -> dict[str, float]:
    """One flat row of metrics (seconds, tokens, requests), keyed as ``summary_columns``."""
    reqs = res.requests
    arrival = np.array([r.arrival_s for r in reqs])
    first = np.array([r.first_token_s for r in reqs])
    finish = np.array([r.finish_s for r in reqs])
    out = np.array([r.output_len for r in reqs])
    ttft, e2e = first - arrival, finish - arrival
    multi = out > 1
    tpot = (finish[multi] - first[multi]) / (out[multi] - 1)
    start, end = float(arrival.min()), float(finish.max())
    duration = end - start
    row: dict[str, float] = {"requests": len(reqs), "duration_s": duration}
    for name, values in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        row[f"{name}_mean_s"] = float(values.mean()) if len(values) else float("nan")
        for q in PERCENTILES:
            row[f"{name}_p{q}_s"] = float(np.percentile(values, q)) if len(values) else float("nan")
    row["output_tokens_per_s"] = float(out.sum() / duration)
    row["request_throughput_per_s"] = len(reqs) / duration
    row.update(_steady(arrival, finish))
    row.update(_energy(res, duration, int(out.sum())))
    if slo is not None:
        tpot_all = np.zeros(len(reqs))
        tpot_all[multi] = tpot
        good = (ttft <= slo.ttft_s) & (tpot_all <= slo.tpot_s)
        row["slo_attainment"] = float(good.mean())
        row["goodput_req_per_s"] = float(good.sum() / duration)
    row.update(_queue(res, start, end))
    row.update(_kv(res))
    row.update({"preemptions": res.preemptions, "iterations": res.iterations,
                "mean_decode_batch": float(res.iter_decode.mean()) if res.iterations else 0.0,
                "events": res.events, "wall_s": res.wall_s,
                "us_per_event": res.wall_s / max(res.events, 1) * 1e6})
    return row


def _energy(res: ServingResult, duration_s: float, out_tokens: int) -> dict[str, float]:
    """The chips' energy over the run (first arrival to last finish): idle power all the
    time plus each iteration's work and active power; per request, per output token, and
    as average power of all chips."""
    joules = sum(res.idle_W) * duration_s + float(res.iter_joules.sum())
    return {"energy_j_per_request": joules / len(res.requests), "energy_j_per_token": joules / max(out_tokens, 1),
            "avg_power_W": joules / duration_s}


def _steady(arrival: np.ndarray, finish: np.ndarray) -> dict[str, float]:
    """Arrivals and completions per second inside the steady window."""
    a = np.sort(arrival)
    n = len(a)
    lo, hi = a[int(STEADY_WINDOW[0] * (n - 1))], a[int(STEADY_WINDOW[1] * (n - 1))]
    if hi <= lo:
        return {"steady_arrivals_per_s": float("nan"), "steady_completions_per_s": float("nan")}
    arrived = np.count_nonzero((arrival >= lo) & (arrival < hi))
    done = np.count_nonzero((finish >= lo) & (finish < hi))
    return {"steady_arrivals_per_s": arrived / (hi - lo), "steady_completions_per_s": done / (hi - lo)}


def queue_wait_s(res: ServingResult) -> np.ndarray:
    """Each request's total time in a waiting queue (re-queues after preemption included)."""
    return np.array([sum(e - s for name, s, e in r.spans if name == "queued") for r in res.requests])


def _queue(res: ServingResult, start: float, end: float) -> dict[str, float]:
    """Time-averaged and peak waiting-queue length over [start, end], and the queue's
    Little's-law counterpart: arrival rate x mean time waiting."""
    t = np.clip(np.append(res.queue_t_s, end), start, end)
    mean_len = float(np.sum(res.queue_len * np.diff(t)) / (end - start))
    wait = queue_wait_s(res)
    return {"queue_len_mean": mean_len, "queue_len_max": int(res.queue_len.max()),
            "queue_wait_mean_s": float(wait.mean()),
            "little_rate_x_wait": len(res.requests) / (end - start) * float(wait.mean())}


def _kv(res: ServingResult) -> dict[str, float]:
    """KV-cache utilisation after each iteration, weighted by iteration time."""
    if not res.iterations:
        return {"kv_util_mean": 0.0, "kv_util_max": 0.0, "kv_blocks": int(sum(res.kv_blocks))}
    util = res.iter_kv_used / np.asarray(res.kv_blocks)[res.iter_replica]
    weights = res.iter_dur_s if np.sum(res.iter_dur_s) > 0 else None  # all zero-length: plain mean
    return {"kv_util_mean": float(np.average(util, weights=weights)),
            "kv_util_max": max(p / b for p, b in zip(res.kv_peak, res.kv_blocks, strict=True)),
            "kv_blocks": int(sum(res.kv_blocks))}


def time_series(res: ServingResult) -> dict[str, np.ndarray]:
    """Per iteration: end time, instance, waiting requests, decode batch, KV utilisation,
    and the instance's chips' power during it (idle + active + its work, watts)."""
    dur = np.where(res.iter_dur_s > 0, res.iter_dur_s, np.inf)
    return {"t_s": res.iter_start_s + res.iter_dur_s, "replica": res.iter_replica,
            "waiting": res.iter_waiting, "decode_batch": res.iter_decode,
            "kv_util": res.iter_kv_used / np.asarray(res.kv_blocks)[res.iter_replica],
            "power_W": res.iter_joules / dur + np.asarray(res.idle_W)[res.iter_replica]}


def power_series(res: ServingResult, bins: int = 200) -> dict[str, np.ndarray]:
    """All chips' power over simulated time, averaged over ``bins`` equal windows (watts):
    idle power plus the iterations' energy spread over the windows they overlap."""
    if not res.iterations:
        return {"t_s": np.zeros(0), "power_W": np.zeros(0)}
    end = float((res.iter_start_s + res.iter_dur_s).max())
    edges = np.linspace(0.0, end, bins + 1)
    joules = np.zeros(bins)
    starts, stops = res.iter_start_s, res.iter_start_s + res.iter_dur_s
    for i in range(bins):  # overlap of each iteration with window i, as a share of the iteration
        overlap = np.clip(np.minimum(stops, edges[i + 1]) - np.maximum(starts, edges[i]), 0.0, None)
        share = np.divide(overlap, res.iter_dur_s, out=np.zeros_like(overlap), where=res.iter_dur_s > 0)
        joules[i] = float((share * res.iter_joules).sum())
    width = np.diff(edges)
    return {"t_s": (edges[:-1] + edges[1:]) / 2, "power_W": joules / width + sum(res.idle_W)}
