"""Figures as pure functions of results rows (and, for the roofline, per-op costs).
The only module that imports matplotlib."""

from __future__ import annotations

import io
import textwrap
from collections import defaultdict
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.report.spec import PlotSpec  # noqa: E402
from sim.report.summary import MATCH_KEYS, axis_name, coordinate, fastest_per_x  # noqa: E402

Row = dict[str, Any]
CATEGORY_MARKERS = {"attention": "o", "projection": "s", "mlp": "^", "moe": "v", "lm_head": "D",
                    "norm": ".", "embedding": "x"}


# How each results column is shown on an axis: a label a reader needs no glossary for, in
# human units, and the factor from the column's own unit (seconds to ms, bytes to GB).
# Other columns show their name.
UNITS: dict[str, tuple[str, float]] = {
    "batch": ("batch (sequences)", 1), "cards": ("cards", 1), "input_len": ("prompt length (tokens)", 1),
    "output_len": ("output length (tokens)", 1), "size_bytes": ("message size (MiB)", 1 / 2**20),
    "throughput_tokens_per_s": ("tokens/s (output; prompt in prefill)", 1),
    "throughput_tokens_per_s_per_chip": ("tokens/s per chip (output; prompt in prefill)", 1),
    "prompt_tokens_per_s": ("prompt tokens/s", 1),
    "tpot_s": ("time per output token (ms)", 1e3), "ttft_s": ("time to first token (ms)", 1e3),
    "e2e_latency_s": ("end-to-end latency (s)", 1), "step_time_s": ("step time (s)", 1),
    "time_s": ("time (us)", 1e6),
    "energy_j_per_token": ("chips' energy per output token (J)", 1),
    "wall_energy_j_per_token": ("energy per output token at the wall (J)", 1),
    "energy_j_per_step": ("chips' energy per step (kJ)", 1e-3),
    "avg_power_W": ("average power per chip (W)", 1), "system_power_W": ("power at the wall (kW)", 1e-3),
    "cost_per_million_tokens": ("cost per million output tokens ({currency})", 1),
    "electricity_cost_per_hour": ("electricity per hour ({currency})", 1),
    "memory_required_bytes": ("memory needed per chip (GB)", 1e-9),
    "mfu": ("model flops utilisation (%)", 100), "scaling_efficiency": ("scaling efficiency (% of linear)", 100),
    "achieved_TFLOPS_per_chip": ("sustained TFLOP/s per chip", 1),
    "busbw_GBps": ("bus bandwidth (GB/s)", 1), "algbw_GBps": ("algorithm bandwidth (GB/s)", 1),
    **{f"share_{k}": (f"share of time in {k} (%)", 100) for k in ("compute", "memory", "overhead",
                                                                    "communication", "bubble", "power")},
    **{f"time_share_{k}": (f"share of time in {k.replace('_', ' ')} (%)", 100)
       for k in ("attention", "mlp", "projection", "moe", "norm", "embedding", "lm_head")},
}


def column_label(column: str, rows: list[Row]) -> str:
    """The axis label of a results column, with the rows' currency where it has one."""
    currency = next((r["currency"] for r in rows if r.get("currency")), "")
    text = UNITS.get(column, (column.replace("_", " "), 1))[0]
    return text.format(currency=currency or "currency")


def shown(column: str, value: float) -> float:
    """A column's value in the unit its axis shows."""
    return value * UNITS.get(column, ("", 1))[1]


def human(value: float, _pos: object = None) -> str:
    """A tick label without mathtext (which is slow to lay out): 0.5, 20, 1.5k, 2M."""
    if value == 0:
        return "0"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def log_axis(ax, which: str, base: float = 10) -> None:
    """Log scale on ``ax``'s ``which`` ("x" or "y") axis with plain tick labels (1, 10,
    100, 1k) instead of 10^n mathtext. Call it after drawing: a base-10 axis spanning
    under three decades also labels 2 and 5 in each."""
    getattr(ax, f"set_{which}scale")("log", base=base)
    axis = getattr(ax, f"{which}axis")
    lo, hi = sorted(getattr(ax, f"get_{which}lim")())
    if base == 10 and lo > 0 and hi / lo < 1e3:
        axis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(ticker.FuncFormatter(human))
    axis.set_minor_locator(ticker.NullLocator())  # unlabelled minor ticks cost more to draw than they tell


def wrapped_title(title: str, width_in: float, fontsize: float = 10) -> str:
    """``title`` broken into lines that fit a figure ``width_in`` inches wide."""
    chars = max(20, int(width_in * 72 / (fontsize * 0.55)))
    return "\n".join(textwrap.fill(line, chars) for line in title.splitlines())


MAX_LINES = 10  # more lines than this per panel: each x shows its fastest point instead
SELECT_BY = "throughput_tokens_per_s"


def line_series(rows: list[Row], spec: PlotSpec, keys: list[str]) -> tuple[dict[str, list[Row]], str]:
    """The lines of one panel, each sorted by x, and a note saying how points were picked.
    A line is one value of ``spec.lines`` and of each other axis in ``keys`` that varies,
    so no line runs through several values of another axis (a zig-zag). Along cards the
    plan is not a line (each card count has its own plans): each card count shows its
    fastest plan. When that makes more than MAX_LINES lines, each x shows the fastest point
    of each ``spec.lines`` value over the other axes."""
    def build(extra: list[str]) -> dict[str, list[Row]]:
        series: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            series[" ".join([str(r[spec.lines]), *(_part(k, r) for k in extra)])].append(r)
        return series

    note = ""
    series = build(keys)
    if len(series) > MAX_LINES:
        series, note = build([]), f"each point: the fastest over {', '.join(axis_name(k) for k in keys)}"
    out = {}
    for key, pts in series.items():
        picked, several = fastest_per_x(pts, spec.x)
        if several and not note:
            note = ("each point: the fastest plan at that card count" if spec.x == "cards"
                    else f"each point: the fastest at that {spec.x}")
        out[key] = picked
    return dict(sorted(out.items())), note


def _part(key: str, r: Row) -> str:
    if key == "plan_index":
        return str(r.get("plan") or f"plan#{r.get(key)}")
    if key == "size_bytes":
        return coordinate(key, r.get(key, 0))
    return f"{key}={coordinate(key, r.get(key))}"


def line_plot(rows: list[Row], spec: PlotSpec, title: str) -> Figure | None:
    """``spec.y`` against ``spec.x`` in human units, one line per ``spec.lines`` value and
    per other axis that varies, one panel per ``spec.panels`` value, panels sharing the y
    axis; a note says how points were picked and how many failed (not drawn)."""
    usable = [r for r in rows if not r.get("error") and isinstance(r.get(spec.y), (int, float))
              and r[spec.y] == r[spec.y]]
    if not usable:
        return None
    keys = [k for k in MATCH_KEYS if k not in (spec.x, spec.lines, spec.panels, "model")
            and not (spec.x == "cards" and k == "plan_index") and len({str(r.get(k)) for r in usable}) > 1]
    panels = sorted({r[spec.panels] for r in usable}, key=str)
    width = 5.2 * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 5), squeeze=False, sharey=True)
    notes = set()
    for ax, panel in zip(axes[0], panels, strict=True):
        series, note = line_series([r for r in usable if r[spec.panels] == panel], spec, keys)
        notes.add(note)
        for key, pts in series.items():
            xs = [shown(spec.x, r[spec.x]) for r in pts]
            (line,) = ax.plot(xs, [shown(spec.y, r[spec.y]) for r in pts], marker="o", ms=3, label=key)
            lows, highs = ([r.get(f"{spec.y}_{end}") for r in pts] for end in ("low", "high"))
            if all(isinstance(v, (int, float)) and v == v for v in (*lows, *highs)):
                ax.fill_between(xs, [shown(spec.y, float(v or 0)) for v in lows],
                                [shown(spec.y, float(v or 0)) for v in highs],
                                color=line.get_color(), alpha=0.12, linewidth=0)
                notes.add("shaded: where 80% of held-out measurements fell")
        ax.set_title(f"{spec.panels} = {panel}", fontsize=9)
        ax.set_xlabel(column_label(spec.x, usable))
        if spec.logx:
            log_axis(ax, "x", base=2)
        if spec.logy:
            log_axis(ax, "y")
        else:
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(human))
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(column_label(spec.y, usable))
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        h, lab = ax.get_legend_handles_labels()
        handles += [x for x, y in zip(h, lab, strict=True) if y not in labels]
        labels += [y for y in lab if y not in labels]
    failed = sum(1 for r in rows if r.get("error"))
    foot = "; ".join(n for n in (*sorted(n for n in notes if n),
                                 f"{failed} points did not run (not drawn)" if failed else "") if n)
    label_in = max((len(lab) for lab in labels), default=1) * 7 * 0.6 / 72 + 0.45  # 7 pt text + marker
    ncol = max(1, min(len(labels), int((width - 0.2) / label_in)))
    rows_of_legend = -(-len(labels) // ncol)
    heading = wrapped_title(title, width)
    top_in = 0.3 + 0.19 * (heading.count("\n") + 1)
    foot_in = 0.2 if foot else 0.0
    bottom_in = 0.55 + 0.16 * rows_of_legend + foot_in
    height = 3.2 + top_in + bottom_in
    fig.set_figheight(height)
    fig.legend(handles, labels, fontsize=7, ncols=ncol, loc="lower center", frameon=False,
               bbox_to_anchor=(0.5, foot_in / height))
    if foot:
        fig.text(0.01, 0.01, foot, fontsize=7, va="bottom")
    fig.suptitle(heading, fontsize=10, y=1 - 0.08 / height, va="top")
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.15 / width, top=1 - top_in / height,
                        bottom=bottom_in / height, wspace=0.08)
    return fig


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
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)  # one scatter per chip, category, phase
    for o in ops:
        if o["intensity"] > 0 and o["achieved_flops"] > 0:
            groups[(o["chip"], o["category"], o["phase"])].append(o)
    for (chip, category, phase), pts in groups.items():
        color = colors.get(chip, "k")
        ax.scatter([o["intensity"] for o in pts], [o["achieved_flops"] / 1e12 for o in pts],
                   marker=CATEGORY_MARKERS.get(category, "o"), s=22,
                   facecolors="none" if phase == "prefill" else color, edgecolors=color)
    for cat, marker in CATEGORY_MARKERS.items():
        ax.scatter([], [], marker=marker, color="gray", label=cat)
    ax.set(xlabel="arithmetic intensity (flop per off-chip byte)", ylabel="achieved TFLOP/s", title=title)
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, ncol=2)
    fig.text(0.01, 0.01, "filled: decode ops, hollow: prefill ops", fontsize=7)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.13)
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


def front_plot(points: list[Row], front: list[Row], title: str) -> Figure | None:
    """A search's points as tokens/s per user (x) against tokens/s per chip (y): grey if
    they miss the targets, blue if they meet them, the front as a line labelled by plan."""
    ran = [r for r in points if not r.get("error")]
    if not ran:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for meets, color, label in ((False, "0.75", "misses the targets"), (True, "tab:blue", "meets the targets")):
        pts = [r for r in ran if bool(r.get("meets")) == meets]
        ax.scatter([r["tokens_per_s_per_user"] for r in pts], [r["tokens_per_s_per_chip"] for r in pts], s=14,
                   color=color, label=label)
    if front:
        ordered = sorted(front, key=lambda r: r["tokens_per_s_per_user"])
        ax.plot([r["tokens_per_s_per_user"] for r in ordered], [r["tokens_per_s_per_chip"] for r in ordered],
                color="tab:red", marker="o", ms=4, label="Pareto front")
        for r in ordered[:8]:
            ax.annotate(f"{r['chips']} chips {r['plan']} b{r['batch']}", (r["tokens_per_s_per_user"], r["tokens_per_s_per_chip"]),
                        fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="tokens/s per user (1 / TPOT)", ylabel="output tokens/s per chip")
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7)
    ax.set_title(wrapped_title(title, 7.5), fontsize=9)
    fig.subplots_adjust(left=0.11, right=0.97, top=0.9, bottom=0.11)
    return fig


def warm_up() -> None:
    """Draw and encode one small figure with what the real ones use (lines, markers, a
    legend, log axes, titles, PNG output), so the modules matplotlib loads on first use
    (PIL among them) and its font caches are ready before real work is forked off."""
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([1, 2, 4], [1, 3, 2], marker="o", ms=3, label="abc ABC 0123456789")
    ax.scatter([1, 2], [2, 1], marker="s", s=22, facecolors="none", edgecolors="C1", label="xyz")
    log_axis(ax, "x", base=2)
    log_axis(ax, "y")
    ax.set_title("title", fontsize=9)
    ax.set_xlabel("x (unit)")
    fig.legend(fontsize=7, loc="lower center", frameon=False)
    fig.suptitle("suptitle", fontsize=10)
    fig.text(0.01, 0.01, "note", fontsize=7)
    fig.savefig(io.BytesIO(), format="png", dpi=DPI, pil_kwargs=PNG)
    plt.close(fig)


DPI = 100
PNG = {"compress_level": 1}  # zlib level 1: a few % larger files, encoding several times faster


def save(fig: Figure, path) -> None:
    fig.savefig(path, dpi=DPI, pil_kwargs=PNG)
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
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="measured", ylabel="predicted", title=title)
    log_axis(ax, "x")
    log_axis(ax, "y")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    return fig
