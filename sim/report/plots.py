"""Figures as pure functions of results rows (and, for the roofline, per-op costs).
The only module that imports matplotlib."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.report.spec import PlotSpec  # noqa: E402

Row = dict[str, Any]
CATEGORY_MARKERS = {"attention": "o", "projection": "s", "mlp": "^", "moe": "v", "lm_head": "D",
                    "norm": ".", "embedding": "x"}


# Axis labels a reader needs no glossary for (units in brackets); others show the column name.
COLUMN_LABELS = {
    "batch": "batch (sequences)", "cards": "cards", "input_len": "prompt length (tokens)",
    "throughput_tokens_per_s": "output tokens/s", "throughput_tokens_per_s_per_chip": "output tokens/s per chip",
    "tpot_s": "time per output token (s)", "ttft_s": "time to first token (s)", "e2e_latency_s": "end-to-end latency (s)",
    "energy_j_per_token": "chips' energy per output token (J)",
    "wall_energy_j_per_token": "energy per output token at the wall (J)",
    "avg_power_W": "average power per chip (W)", "system_power_W": "power at the wall (W)",
    "cost_per_million_tokens": "cost per million output tokens ({currency})",
    "electricity_cost_per_hour": "electricity per hour ({currency})",
    "step_time_s": "step time (s)", "mfu": "model flops utilisation", "tokens_per_s": "tokens/s",
    "energy_j_per_step": "chips' energy per step (J)", "busbw_GBps": "bus bandwidth (GB/s)",
}


def column_label(column: str, rows: list[Row]) -> str:
    """The axis label of a results column, with the rows' currency where it has one."""
    currency = next((r["currency"] for r in rows if r.get("currency")), "")
    return COLUMN_LABELS.get(column, column.replace("_", " ")).format(currency=currency or "currency")


def wrapped_title(title: str, width_in: float, fontsize: float = 10) -> str:
    """``title`` broken into lines that fit a figure ``width_in`` inches wide."""
    chars = max(20, int(width_in * 72 / (fontsize * 0.55)))
    return "\n".join(textwrap.fill(line, chars) for line in title.splitlines())


def line_plot(rows: list[Row], spec: PlotSpec, title: str) -> Figure | None:
    """``spec.y`` against ``spec.x``, one line per ``spec.lines`` value, one panel per
    ``spec.panels`` value; rows that failed or lack ``y`` are skipped."""
    usable = [r for r in rows if not r.get("error") and isinstance(r.get(spec.y), (int, float))
              and r[spec.y] == r[spec.y]]
    if not usable:
        return None
    panels = sorted({r[spec.panels] for r in usable}, key=str)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    varying = [k for k in SERIES_AXES if k not in (spec.x, spec.lines, spec.panels)
               and len({str(r.get(k)) for r in usable}) > 1]
    for ax, panel in zip(axes[0], panels, strict=True):
        series: dict[Any, list[Row]] = defaultdict(list)
        for r in usable:
            if r[spec.panels] == panel:
                series[_series_key(r, spec, varying)].append(r)
        for key, pts in sorted(series.items(), key=lambda kv: str(kv[0])):
            pts.sort(key=lambda r: r[spec.x])
            ax.plot([r[spec.x] for r in pts], [r[spec.y] for r in pts], marker="o", ms=3, label=key)
        ax.set(xlabel=column_label(spec.x, usable), ylabel=column_label(spec.y, usable),
               title=f"{spec.panels} = {panel}")
        if spec.logx:
            ax.set_xscale("log", base=2)
        if spec.logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(wrapped_title(title, 5.2 * len(panels)), fontsize=10)
    fig.tight_layout()
    return fig


# Input axes that split lines when they vary (a plan entry is one line across card counts).
SERIES_AXES = ("input_len", "precision", "plan_index", "global_batch", "seq_len", "collective", "size_bytes")


def _series_key(r: Row, spec: PlotSpec, varying: list[str]) -> str:
    """The line label: the ``lines`` column plus the other axes that vary (so lines with
    different input lengths, precisions or parallelism entries are not merged)."""
    extra = [f"plan#{r[k]}" if k == "plan_index" else f"{k}={r.get(k)}" for k in varying]
    return " ".join([str(r[spec.lines]), *extra])


SHARES = ("compute", "memory", "overhead", "communication", "bubble")
SHARE_COLORS = {"compute": "tab:blue", "memory": "tab:orange", "overhead": "tab:gray",
                "communication": "tab:red", "bubble": "tab:purple"}


def breakdown_bars(rows: list[Row], title: str) -> Figure | None:
    """Stacked bars of where the time goes (compute / memory / overhead / communication /
    bubble shares), one bar per hardware, card count and plan."""
    usable = [r for r in rows if not r.get("error") and isinstance(r.get("share_compute"), (int, float))]
    if not usable:
        return None
    bars: dict[str, Row] = {}
    for r in usable:
        bars.setdefault(f"{r['chip']} x{r.get('cards', 1)} {r.get('plan', '')}".strip(), r)
    labels = list(bars)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(labels) + 2), 4.2))
    bottom = [0.0] * len(labels)
    for share in SHARES:
        vals = [float(bars[k].get(f"share_{share}", 0.0) or 0.0) for k in labels]
        ax.bar(range(len(labels)), vals, bottom=bottom, label=share, color=SHARE_COLORS[share])
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set(ylabel="share of time", ylim=(0, 1.05), title=title)
    ax.legend(fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    fig.tight_layout()
    return fig


def roofline(chips: dict[str, tuple[float, float]], ops: list[dict[str, Any]], title: str) -> Figure:
    """Each chip's roof (peak flop/s, sustained bytes/s) with ops placed at their
    arithmetic intensity (flops per off-chip byte) and achieved flop/s."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    xs = [o["intensity"] for o in ops if o["intensity"] > 0] or [1.0]
    lo, hi = min(xs + [0.1]) / 2, max(xs + [1e4]) * 2
    colors = {}
    for i, (name, (peak, bw)) in enumerate(chips.items()):
        color = f"C{i % 10}"
        colors[name] = color
        ridge = peak / bw
        ax.plot([lo, ridge, hi], [lo * bw / 1e12, peak / 1e12, peak / 1e12], color=color, label=f"{name} roof")
    for o in ops:
        if o["intensity"] <= 0 or o["achieved_flops"] <= 0:
            continue
        ax.scatter(o["intensity"], o["achieved_flops"] / 1e12, color=colors.get(o["chip"], "k"),
                   marker=CATEGORY_MARKERS.get(o["category"], "o"), s=22,
                   facecolors="none" if o["phase"] == "prefill" else None)
    for cat, marker in CATEGORY_MARKERS.items():
        ax.scatter([], [], marker=marker, color="gray", label=cat)
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (flop per off-chip byte)",
           ylabel="achieved TFLOP/s", title=title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2)
    fig.text(0.01, 0.01, "filled: decode ops, hollow: prefill ops", fontsize=7)
    fig.tight_layout()
    return fig


STAGE_PARTS = (("compute_s", "compute", "tab:blue"), ("send_blocked_s", "blocked on sends", "tab:red"),
               ("bubble_s", "bubble (idle)", "tab:purple"), ("dp_exposed_s", "waiting for gradients", "tab:orange"),
               ("optimizer_s", "optimizer", "tab:gray"))


def pipeline_stages(stages: list[Row], title: str) -> Figure:
    """Stacked bars of one training step per pipeline stage: compute, blocked sends,
    bubble, exposed data-parallel wait and optimizer, in milliseconds. ``stages`` are
    rows with those ``*_s`` columns and ``stage``."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.4 * len(stages) + 2.5), 4.4))
    xs = [int(s["stage"]) for s in stages]
    bottom = [0.0] * len(stages)
    for col, label, color in STAGE_PARTS:
        vals = [float(s[col]) * 1e3 for s in stages]
        ax.bar(xs, vals, bottom=bottom, label=label, color=color)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set(xlabel="pipeline stage", ylabel="time in the step (ms)")
    ax.set_title(title, fontsize=10)
    ax.set_xticks(xs)
    ax.legend(fontsize=7, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.15))
    fig.tight_layout()
    return fig


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=110)
    plt.close(fig)


def predicted_vs_measured(points: list[tuple[float, float, str]], title: str) -> Figure:
    """Log-log predicted against measured, one colour per category, with +-10% and +-25%
    bands around the diagonal. ``points`` are (measured, predicted, category)."""
    fig, ax = plt.subplots(figsize=(6, 6))
    values = [v for m, p, _ in points for v in (m, p)] or [1.0, 10.0]
    lo, hi = min(values) / 2, max(values) * 2
    ax.plot([lo, hi], [lo, hi], color="k", lw=1)
    for band, style in ((0.10, "--"), (0.25, ":")):
        for sign in (1, -1):
            ax.plot([lo, hi], [lo * (1 + sign * band), hi * (1 + sign * band)], color="gray", ls=style, lw=0.8)
    cats = sorted({c for _, _, c in points})
    for i, cat in enumerate(cats):
        xs = [m for m, _, c in points if c == cat]
        ys = [p for _, p, c in points if c == cat]
        ax.scatter(xs, ys, color=f"C{i % 10}", label=cat, s=24)
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured",
           ylabel="predicted", title=title)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    return fig
