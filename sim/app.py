"""One scenario end to end: sweep -> results.csv -> summary.md, figures, resolved inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.analytical.inference import predict
from sim.catalog import results_dir, shipped_dir
from sim.errors import SimError
from sim.report import plots, summary
from sim.report.spec import PlotSpec
from sim.scenario.load import ResolvedScenario, load_scenario
from sim.scenario.runner import run_points
from sim.scenario.store import ResultWriter, git_revision, write_resolved
from sim.serving_app import run_serving_scenario
from sim.workload.spec import Precision, Workload

DEFAULT_PLOTS = (
    PlotSpec(x="batch", y="throughput_tokens_per_s"),
    PlotSpec(x="batch", y="tpot_s", logy=True),
)


@dataclass
class ScenarioRun:
    out_dir: Path
    rows: list[dict[str, Any]]
    summary_md: str
    csv_name: str = "results.csv"

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("error"))


def run_scenario(name: str, results_root: Path | None = None, workers: int | None = None,
                 progress: bool = True) -> ScenarioRun:
    scn = load_scenario(name)
    root = results_root or results_dir()
    out = root / scn.spec.name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    write_resolved(out, scn.spec.model_dump(mode="json"),
                   {**{n: c.model_dump(mode="json") for n, c in scn.chips.items()},
                    **{n: s.model_dump(mode="json") for n, s in scn.systems.items()}},
                   {n: m.model_dump(mode="json") for n, m in scn.models.items()},
                   scn.economics.model_dump(mode="json"), git_revision(shipped_dir()))
    if scn.spec.mode == "serving":
        served = run_serving_scenario(scn, out, workers, progress)
        return ScenarioRun(out, served.rows, served.summary_md, "serving.csv")
    writer = ResultWriter(out / "results.csv", scn.metric_columns())
    rows = run_points(scn, writer, workers=workers, progress=progress)
    figures = write_figures(scn, rows, out / "figures")
    text = summary_markdown(scn, rows, figures)
    (out / "summary.md").write_text(text, encoding="utf-8")
    return ScenarioRun(out, rows, text)


def default_plots(scn: ResolvedScenario) -> list[PlotSpec]:
    """Throughput and latency vs batch when batch varies; scaling curves (per card count,
    one line per system and plan) when cards vary; bus bandwidth vs size for collectives."""
    spec = scn.spec
    plots: list[PlotSpec] = []
    if spec.mode == "collective":
        return [PlotSpec(x="size_bytes", y="busbw_GBps", panels="collective"),
                PlotSpec(x="size_bytes", y="time_s", panels="collective", logy=True)]
    if spec.mode == "inference" and spec.workload is not None and len(spec.workload.batch) > 1:
        plots += DEFAULT_PLOTS
    if len(spec.cards) > 1 and spec.systems:
        y = ["throughput_tokens_per_s", "throughput_tokens_per_s_per_chip"]
        y += ["mfu", "share_communication"] if spec.mode == "training" else []
        plots += [PlotSpec(x="cards", y=name) for name in y]
    return plots


def write_figures(scn: ResolvedScenario, rows: list[dict[str, Any]], fig_dir: Path) -> list[str]:
    """Default plots, the scenario's own plots, time-breakdown bars for multi-card runs,
    and a roofline per model (single-chip inference)."""
    specs = default_plots(scn) + list(scn.spec.plots)
    written = []
    if scn.spec.mode == "collective":
        for spec in specs:
            fig = plots.line_plot(rows, spec, scn.spec.title)
            if fig is not None:
                name = f"{spec.y}_vs_{spec.x}.png"
                plots.save(fig, fig_dir / name)
                written.append(name)
        return written
    for model in scn.models:
        model_rows = [r for r in rows if r["model"] == model]
        if scn.systems:
            fig = plots.breakdown_bars(_representative(scn, model_rows), f"Where the time goes: {model}")
            if fig is not None:
                name = f"{_slug(model)}_time_breakdown.png"
                plots.save(fig, fig_dir / name)
                written.append(name)
        for spec in specs:
            fig = plots.line_plot(model_rows, spec, f"{scn.spec.title}\n{model}")
            if fig is not None:
                name = f"{_slug(model)}_{spec.y}_vs_{spec.x}.png"
                plots.save(fig, fig_dir / name)
                written.append(name)
        if scn.spec.roofline and scn.spec.mode == "inference" and scn.chips:
            prec, ops = roofline_ops(scn, model, model_rows)
            if ops:
                roofs = {c: _roof(scn, c, prec) for c in scn.chips}
                name = f"{_slug(model)}_roofline.png"
                title = f"Roofline: {model}, {prec.label}, batch {sorted(scn.spec.workload.batch)[len(scn.spec.workload.batch) // 2]}"
                plots.save(plots.roofline(roofs, ops, title), fig_dir / name)
                written.append(name)
    return written


def _representative(scn: ResolvedScenario, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One slice of a sweep for breakdown bars: the first phase, the middle batch, the
    first lengths (inference) or the first job (training); every system, card count, plan."""
    if not rows:
        return rows
    first = rows[0]
    keys = ("phase", "input_len", "output_len", "precision", "global_batch", "seq_len")
    pick = [r for r in rows if all(r.get(k) == first.get(k) for k in keys)]
    batches = sorted({r["batch"] for r in pick if r.get("batch") != ""})
    if batches:
        mid = batches[len(batches) // 2]
        pick = [r for r in pick if r["batch"] == mid]
    return [r for r in pick if r.get("system")]


def _roof(scn: ResolvedScenario, chip_name: str, prec: Precision) -> tuple[float, float]:
    chip = scn.chips[chip_name]
    return chip.compute.peak_flops(prec.matmul), chip.main_tier.sustained_bandwidth_Bps


def roofline_ops(scn: ResolvedScenario, model: str,
                 rows: list[dict[str, Any]]) -> tuple[Precision, list[dict[str, Any]]]:
    """Per-op points of one representative workload per chip and phase (the middle batch,
    the first input length, the first of the model's precisions that fits), for the
    roofline chart."""
    w = scn.spec.workload
    batch = sorted(w.batch)[len(w.batch) // 2]
    formats = dict.fromkeys((r["weights_dtype"], r["activations_dtype"], r["kv_cache_dtype"]) for r in rows)
    precisions = [Precision(weights=a, activations=b, kv_cache=c) for a, b, c in formats]
    for prec in precisions:
        ops = _ops_at(scn, model, batch, w.input_len[0], prec)
        if ops:
            return prec, ops
    return (precisions or w.precisions())[0], []


def _ops_at(scn: ResolvedScenario, model: str, batch: int, input_len: int, prec: Precision) -> list[dict[str, Any]]:
    ops = []
    for chip_name, chip in scn.chips.items():
        for phase in ("prefill", "decode"):
            wl = Workload(phase=phase, batch=batch, input_len=input_len, precision=prec)
            try:
                pred = predict(chip, scn.models[model], wl, scn.economics, keep_ops=True)
            except SimError:
                continue
            for c in pred.passes[phase].ops:
                moved = c.weight_bytes + c.kv_bytes + c.act_bytes
                if c.op.flops > 0 and moved > 0 and c.time_s > 0:
                    ops.append({"chip": chip_name, "phase": phase, "category": c.op.category,
                                "intensity": c.op.flops / moved, "achieved_flops": c.op.flops / c.time_s})
    return ops


def summary_markdown(scn: ResolvedScenario, rows: list[dict[str, Any]], figures: list[str]) -> str:
    s = scn.spec
    n_ok = len(summary.ok(rows))
    lines = [f"# {s.title}", ""]
    if s.claim:
        lines += [f"**Claim tested:** {s.claim}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    hardware = ", ".join([*scn.chips, *(f"{n} (cards {', '.join(map(str, s.cards))})" for n in scn.systems)])
    lines += [f"{len(rows)} points ({n_ok} ran, {len(rows) - n_ok} failed): hardware "
              f"{hardware}; models {', '.join(scn.models) or '-'}; economics "
              f"{scn.economics.electricity_price_per_kWh} {scn.economics.currency}/kWh, "
              f"{scn.economics.amortization_years} years amortisation.", ""]
    if s.findings:
        lines += ["## Findings", ""]
        for f in s.findings:
            if f.text:
                lines += [f"**{f.text}**", ""]
            lines += [f"- {line}" for line in summary.finding_lines(rows, f, scn.canonical_chip)]
            lines.append("")
    if s.mode == "inference":
        lines += ["## Best point per chip, model and phase", "", summary.best_table(rows), ""]
    elif s.mode == "training":
        lines += ["## Fastest plan per system, model and card count", "", summary.training_table(rows), ""]
    else:
        lines += ["## Collectives (fastest algorithm per point)", "", summary.collective_table(rows), ""]
    fails = summary.failures(rows)
    if fails:
        lines += ["## Failed points", ""] + [f"- {f}" for f in fails] + [""]
    specs = {**{n: c.status for n, c in scn.chips.items()},
             **{n: sy.status for n, sy in scn.systems.items()},
             **{sy.chip.name: sy.chip.status for sy in scn.systems.values()}}
    assumed = [n for n, status in specs.items() if status != "confirmed"]
    if assumed:
        lines += ["## Assumptions", "", "These configs rest partly or wholly on assumed numbers "
                  "(see their `sources:`); conclusions about them hold only under those assumptions: "
                  + ", ".join(f"{n} ({specs[n]})" for n in assumed) + ".", ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figures] + [""]
    return "\n".join(lines)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in text)


def run_validation(paths: list[Path], out_dir: Path | None = None):
    """Predict every case under ``paths``; write validation.csv / .md and the figure.
    Returns (outcomes, output folder, held-out median abs error %)."""
    from sim.catalog import load_economics
    from sim.validate.cases import load_cases
    from sim.validate.predict import predict_case
    from sim.validate.summary import held_out_median, write

    cases = [c for p in paths for c in load_cases(p)]
    econ = load_economics({})
    outcomes = [predict_case(c, econ) for c in cases]
    out = out_dir or results_dir() / "validation"
    write(outcomes, out)
    pts = [(o.case.value, o.predicted, o.case.category) for o in outcomes if o.predicted]
    plots.save(plots.predicted_vs_measured(pts, "sim vs published measurements"), out / "predicted_vs_measured.png")
    return outcomes, out, held_out_median(outcomes)
