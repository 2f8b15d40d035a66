"""Figures as pure functions of results rows (and, for the roofline, per-op costs).
The only module that imports matplotlib."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.scenario.spec import PlotSpec  # noqa: E402

Row = dict[str, Any]
CATEGORY_MARKERS = {"attention": "o", "projection": "s", "mlp": "^", "moe": "v", "lm_head": "D",
                    "norm": ".", "embedding": "x"}


def line_plot(rows: list[Row], spec: PlotSpec, title: str) -> Figure | None:
    """``spec.y`` against ``spec.x``, one line per ``spec.lines`` value, one panel per
    ``spec.panels`` value; rows that failed or lack ``y`` are skipped."""
    usable = [r for r in rows if not r.get("error") and isinstance(r.get(spec.y), (int, float))
              and r[spec.y] == r[spec.y]]
    if not usable:
        return None
    panels = sorted({r[spec.panels] for r in usable}, key=str)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=True):
        series: dict[Any, list[Row]] = defaultdict(list)
        for r in usable:
            if r[spec.panels] == panel:
                series[_series_key(r, spec)].append(r)
        for key, pts in sorted(series.items(), key=lambda kv: str(kv[0])):
            pts.sort(key=lambda r: r[spec.x])
            ax.plot([r[spec.x] for r in pts], [r[spec.y] for r in pts], marker="o", ms=3, label=key)
        ax.set(xlabel=spec.x, ylabel=spec.y, title=f"{spec.panels} = {panel}")
        if spec.logx:
            ax.set_xscale("log", base=2)
        if spec.logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _series_key(r: Row, spec: PlotSpec) -> str:
    """The line label: the ``lines`` column plus any other axis that varies (so lines with
    different input lengths or precisions are not merged)."""
    extra = [f"{k}={r[k]}" for k in ("input_len", "precision") if k not in (spec.x, spec.lines, spec.panels)]
    return " ".join([str(r[spec.lines]), *extra])


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
