"""Figure jobs: each draws one figure from rows it is given and saves it as
``out/<name>``, returning ``[name]`` (or ``[]`` when there is nothing to draw).

They live here, importing nothing heavy at module level, so the figure helper
(``figure_server``) can unpickle and run them without importing the engine, and the
process that builds the jobs never imports matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.report.spec import PlotSpec

Row = dict[str, Any]


def _saved(fig: Any, out: Path, name: str) -> list[str]:
    from sim.report import plots

    if fig is None:
        return []
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    plots.save(fig, out / name)
    return [name]


def line_figure(rows: list[Row], spec: PlotSpec, title: str, out: Path, name: str) -> list[str]:
    from sim.report import plots

    return _saved(plots.line_plot(rows, spec, title), out, name)


def breakdown_figure(rows: list[Row], title: str, out: Path, name: str) -> list[str]:
    from sim.report import plots

    return _saved(plots.breakdown_bars(rows, title), out, name)


def roofline_figure(rows: list[Row], model: str, out: Path, name: str) -> list[str]:
    """Every chip's roof and the ops of ``rows`` (points that carry per-op costs), at the
    first precision among them."""
    from sim.report import plots

    if not rows:
        return []
    prec = rows[0]["precision"]
    pick = [r for r in rows if r["precision"] == prec]
    roofs = {r["chip"]: (r["ops"][0]["peak_flops"], r["ops"][0]["bandwidth_Bps"]) for r in pick}
    ops = [{"chip": r["chip"], **o} for r in pick for o in r["ops"]]
    return _saved(plots.roofline(roofs, ops, f"Roofline: {model}, {prec}, batch {pick[0]['batch']}"), out, name)


def serving_curve_figure(rows: list[Row], title: str, kind: str, out: Path, name: str) -> list[str]:
    """Latency against throughput, or throughput against rate, one line per series."""
    from sim.report import serving_plots

    draw = {"latency_vs_throughput": serving_plots.latency_vs_throughput,
            "throughput_vs_rate": serving_plots.throughput_vs_rate}[kind]
    return _saved(draw(rows, title, line="series"), out, name)


def serving_timeline_figure(series: dict[str, list[float]], title: str, out: Path, name: str) -> list[str]:
    """Waiting requests, KV-cache use and (when given) the chips' power over time."""
    from sim.report import serving_plots

    fig = serving_plots.serving_timeline(series["t_s"], series["waiting"], series["kv_util"], title,
                                         series.get("power_t_s", []), series.get("power_W", []))
    return _saved(fig, out, name)


def pipeline_stage_figure(stages: list[Row], title: str, out: Path, name: str) -> list[str]:
    from sim.report import plots

    return _saved(plots.pipeline_stages(stages, title), out, name)


def search_front_figure(points: list[Row], front: list[Row], title: str, out: Path, name: str) -> list[str]:
    """Tokens/s per chip against tokens/s per user: every point that fits, the ones that
    meet the targets, and the Pareto front."""
    from sim.report import plots

    return _saved(plots.front_plot(points, front, title), out, name)
