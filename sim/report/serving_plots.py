"""Serving figures as pure functions of rate-sweep rows and time series."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from matplotlib.figure import Figure

from sim.report.plots import plt

LATENCIES = (("ttft_p90_s", "TTFT p90 (s)"), ("tpot_p90_s", "TPOT p90 (s)"), ("e2e_p90_s", "end-to-end p90 (s)"))


def _series(rows: list[dict[str, Any]], line: str) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped into one line per ``line`` value."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        series[str(r[line])].append(r)
    return series


def latency_vs_throughput(rows: list[dict[str, Any]], title: str, line: str = "chip") -> Figure | None:
    """p90 TTFT, TPOT and end-to-end latency against output tokens/s, one line per
    ``line`` value, points in rate order; saturated rates are drawn hollow."""
    usable = [r for r in rows if not r.get("error")]
    if not usable:
        return None
    series = _series(usable, line)
    fig, axes = plt.subplots(1, len(LATENCIES), figsize=(5.0 * len(LATENCIES), 4))
    for ax, (col, label) in zip(axes, LATENCIES, strict=True):
        for i, (key, pts) in enumerate(sorted(series.items())):
            pts.sort(key=lambda r: r["rate_per_s"])
            color = f"C{i % 10}"
            xs, ys = [r["output_tokens_per_s"] for r in pts], [r[col] for r in pts]
            ax.plot(xs, ys, color=color, label=key)
            ax.scatter(xs, ys, color=color, s=16,
                       facecolors=["none" if r["saturated"] else color for r in pts])
        ax.set(xlabel="output tokens/s", ylabel=label, yscale="log")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=7)
    fig.suptitle(title + "  (hollow: saturated rate)", fontsize=10)
    fig.tight_layout()
    return fig


def serving_timeline(t_s, waiting, kv_util, title: str, power_t_s=(), power_W=()) -> Figure:
    """Waiting requests and KV-cache utilisation over simulated time; below them, when
    given, the chips' power (all instances, watts)."""
    rows = 2 if len(power_W) else 1
    fig, axes = plt.subplots(rows, 1, figsize=(8, 3.5 * rows), sharex=True, squeeze=False)
    ax = axes[0][0]
    ax.step(t_s, waiting, where="post", color="C0", lw=0.8)
    ax.set(ylabel="waiting requests", title=title)
    ax2 = ax.twinx()
    ax2.plot(t_s, kv_util, color="C3", lw=0.8)
    ax2.set(ylabel="KV cache in use (share)", ylim=(0, 1.05))
    ax.grid(True, alpha=0.25)
    if rows == 2:
        pw = axes[1][0]
        pw.plot(power_t_s, power_W, color="C2", lw=0.9)
        pw.set(ylabel="chips' power (W)", ylim=(0, max(power_W) * 1.1))
        pw.grid(True, alpha=0.25)
    axes[-1][0].set(xlabel="simulated time (s)")
    fig.tight_layout()
    return fig


def throughput_vs_rate(rows: list[dict[str, Any]], title: str, line: str = "chip") -> Figure | None:
    """Output tokens/s and, when an SLO was set, goodput (requests/s) against the offered
    rate, one line per ``line`` value; saturated rates hollow. Throughput stops growing
    with the rate where the engine saturates."""
    usable = [r for r in rows if not r.get("error")]
    if not usable:
        return None
    series = _series(usable, line)
    panels = [("output_tokens_per_s", "output tokens/s")]
    if any("goodput_req_per_s" in r for r in usable):
        panels.append(("goodput_req_per_s", "goodput (requests/s within the SLO)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (col, label) in zip(axes[0], panels, strict=True):
        for i, (key, pts) in enumerate(sorted(series.items())):
            pts.sort(key=lambda r: r["rate_per_s"])
            color = f"C{i % 10}"
            xs, ys = [r["rate_per_s"] for r in pts], [r.get(col, float("nan")) for r in pts]
            ax.plot(xs, ys, color=color, label=key)
            ax.scatter(xs, ys, color=color, s=16, facecolors=["none" if r["saturated"] else color for r in pts])
        ax.set(xlabel="offered requests/s", ylabel=label, xscale="log")
        ax.grid(True, which="both", alpha=0.25)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title + "  (hollow: saturated rate)", fontsize=10)
    fig.tight_layout()
    return fig
