"""What every study shares: the registry (by scenario ``mode``, as chip classes are by
``kind``), the ``Study`` interface, running one end to end (one runner, one streamed
writer) and the summary skeleton every summary.md follows.

A study module declares its scenario schema (a ``ScenarioBase`` subclass with its axes),
its input and metric columns (from its result type), its points, how one point is filled
(run in worker processes, so a plain function of a picklable context and the row), its
figures and its summary section. Adding a study kind is one module in ``sim/studies/``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from sim.catalog import load_calibration, results_dir, shipped_dir, suggest, validated
from sim.catalog.provenance import sourced_numbers
from sim.catalog.yaml_io import LocatedYaml
from sim.errors import ConfigError, SimError
from sim.report import figure_server, figures, html, summary, verdict
from sim.report.figure_server import FigureJob
from sim.report.spec import PlotSpec
from sim.scenario import store
from sim.scenario.load import ResolvedScenario, read_scenario, resolve
from sim.scenario.runner import run_points
from sim.scenario.spec import ScenarioBase
from sim.scenario.store import ResultWriter, git_revision, write_resolved, write_rows
from sim.studies import derived, sensitivity

Row = dict[str, Any]

_STUDIES: dict[str, Study] = {}


def study(mode: str) -> Callable[[type[Study]], type[Study]]:
    """Class decorator: register a study for scenarios with ``mode: <mode>``."""

    def register(cls: type[Study]) -> type[Study]:
        cls.mode = mode
        _STUDIES[mode] = cls()
        return cls

    return register


_NOT_STUDIES = {"base", "derived", "search", "sensitivity"}  # modules of sim.studies that define no mode


def study_modes() -> list[str]:
    """Every mode a study module offers (a module of sim.studies is named after its mode)."""
    import pkgutil

    import sim.studies

    return sorted(m.name for m in pkgutil.iter_modules(sim.studies.__path__) if m.name not in _NOT_STUDIES)


def registered_studies() -> dict[str, Study]:
    """Every study, each module imported."""
    for mode in study_modes():
        study_for(mode)
    return dict(_STUDIES)


def study_for(mode: Any, where: str = "mode") -> Study:
    """The study of ``mode``, importing its module on first use."""
    modes = study_modes()
    if not isinstance(mode, str) or mode not in modes:
        raise ConfigError(f"{where}: '{mode}' is not a study (one of: {', '.join(modes)})."
                          f"{suggest(str(mode), modes)}")
    if mode not in _STUDIES:
        import importlib

        importlib.import_module(f"sim.studies.{mode}")
    return _STUDIES[mode]


class Study:
    """One kind of scenario. Subclasses set the class attributes and implement
    ``columns``, ``points`` and ``fill``; the rest has defaults."""

    mode: ClassVar[str]
    scenario: ClassVar[type[ScenarioBase]]
    input_columns: ClassVar[list[str]]
    csv_name: ClassVar[str] = "results.csv"
    heavy: ClassVar[bool] = False  # a point is a simulation: one per worker task
    tiny: ClassVar[dict[str, Any]]  # the fields of a scenario that runs in seconds (for the tests)

    def columns(self, spec: ScenarioBase | None = None) -> list[str]:
        """The metric columns of a row, in order (from the study's result type); some
        depend on the scenario (an SLO adds goodput)."""
        raise NotImplementedError

    def check(self, spec: ScenarioBase, doc: LocatedYaml) -> None:
        """Checks beyond the schema, raising ConfigError at the file's line."""

    def context(self, scn: ResolvedScenario) -> Any:
        """What ``fill`` needs in a worker (picklable): by default the scenario itself."""
        return scn

    def points(self, scn: ResolvedScenario, context: Any) -> list[Row]:
        """Every point's input columns (a point may carry an ``error`` already)."""
        raise NotImplementedError

    @staticmethod
    def fill(context: Any, row: Row) -> None:
        """Add one point's metrics to ``row`` (raise SimError when it cannot run)."""
        raise NotImplementedError

    def finish(self, scn: ResolvedScenario, rows: list[Row], out: Path, context: Any) -> list[str]:
        """Files beyond the results CSV (tables, traces), relative to ``out``."""
        return []

    def figures(self, scn: ResolvedScenario, rows: list[Row], out: Path) -> list[str]:
        """Figures written under ``out/figures``, relative to ``out``."""
        return []

    def ignored(self, scn: ResolvedScenario) -> list[str]:
        """Axes or fields the scenario sets that this mode does not use, one line each:
        printed as warnings and kept in the summary (never silently dropped)."""
        return []

    def overview(self, scn: ResolvedScenario, rows: list[Row]) -> str:
        s, econ = scn.spec, scn.economics
        n_ok = len(summary.ok(rows))
        hardware = ", ".join([*scn.chips, *(f"{n} (cards {', '.join(map(str, s.cards))})" for n in scn.systems)])
        waves = sum(1 for r in summary.ok(rows) if int(r.get("waves") or 1) > 1)
        note = (f" {waves} points ran their batch in waves: its KV cache did not fit at once (columns waves, "
                "concurrent_sequences)." if waves else "")
        return (f"{len(rows)} points ({n_ok} ran, {len(rows) - n_ok} failed): hardware {hardware}; models "
                f"{', '.join(scn.models) or '-'}; economics {econ.electricity_price_per_kWh} {econ.currency}/kWh, "
                f"{econ.amortization_years} years amortisation.{note}")

    def sections(self, scn: ResolvedScenario, rows: list[Row]) -> list[str]:
        """The study's own part of summary.md (tables), as lines."""
        return []

    def failures(self, rows: list[Row]) -> list[str]:
        return summary.failures(rows)


def load_scenario(source: str | Path | dict[str, Any]) -> ResolvedScenario:
    """A scenario (catalog name, path, or a mapping), validated by the schema of its study
    (``mode``, default inference) and resolved."""
    doc = read_scenario(source)
    st = study_for(doc.data.get("mode", "inference"), f"{doc.where(('mode',))}: mode")
    data = {**doc.data, "mode": st.mode}
    spec = validated(st.scenario.model_validate, LocatedYaml(doc.path, data, doc.lines))
    st.check(spec, doc)
    return resolve(spec, doc, st.input_columns + st.columns(spec))


@dataclass
class ScenarioRun:
    """A finished run: where it wrote, its rows (inputs and metrics) and its summary."""

    out_dir: Path
    rows: list[Row]
    summary_md: str
    csv_name: str = "results.csv"
    files: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("error"))

    def dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is not a dependency: install it to use this)."""
        try:
            import pandas as pd
        except ImportError:
            raise SimError("ScenarioRun.dataframe() needs pandas (pip install pandas); run.rows has the same "
                           "rows as a list of dicts") from None
        return pd.DataFrame(self.rows)


def run_scenario(source: str | Path | dict[str, Any], results_root: Path | None = None,
                 workers: int | None = None, progress: bool = True, resume: bool = False,
                 backend: str = "local", address: str | None = None) -> ScenarioRun:
    """Run a scenario end to end: its points streamed to results/<name>/<csv>.partial
    (moved over <csv> when the run is complete, so a rerun never destroys an earlier run's
    rows), then the study's tables and traces, figures (stale ones removed), summary.md and
    resolved.yaml. ``resume``: points already in the partial file of an interrupted run (or
    else in the last complete CSV), with no error, are kept as they are and only the rest run.
    ``backend``: "local" (a process pool on this machine) or "ray" (a Ray cluster: started
    for the run, or the one at ``address``); the rows are the same."""
    figure_server.start()  # imports the plotting while the scenario loads and runs
    scn = load_scenario(source)
    st = study_for(scn.spec.mode)
    out = (results_root or results_dir()) / scn.spec.name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    write_resolved(out, scn.spec.model_dump(mode="json"),
                   {**{n: c.model_dump(mode="json") for n, c in scn.chips.items()},
                    **{n: s.model_dump(mode="json") for n, s in scn.systems.items()}},
                   {n: m.model_dump(mode="json") for n, m in scn.models.items()},
                   scn.economics.model_dump(mode="json"), git_revision(shipped_dir()))
    for line in [*st.ignored(scn), *size_warnings(scn)]:
        print(f"warning: {scn.spec.name}: {line}", file=sys.stderr)
    context = st.context(scn)
    final, partial = out / st.csv_name, out / f"{st.csv_name}.partial"
    columns = st.input_columns + st.columns(scn.spec) + ["error"]
    points = st.points(scn, context)
    kept = store.finished_rows(partial if partial.is_file() else final, st.input_columns) if resume else {}
    keys = [store.point_key(p, st.input_columns) for p in points]
    reused = {k: kept[k] for k, p in zip(keys, points, strict=True) if k in kept and not p.get("roofline")}
    if resume:
        print(f"{scn.spec.name}: resuming: {len(reused)} of {len(points)} points kept, "
              f"{len(points) - len(reused)} to run", file=sys.stderr)
    writer = ResultWriter(partial, columns, cell=store.exact)  # read back exactly by --resume
    for row in reused.values():
        writer.write(row)
    fresh = iter(run_points([p for k, p in zip(keys, points, strict=True) if k not in reused], st.fill, context,
                            writer, workers=workers, progress=progress, desc=scn.spec.name, heavy=st.heavy,
                            backend=backend, address=address))
    rows = [reused[k] if k in reused else next(fresh) for k in keys]
    derived.add_sweep_columns(rows, columns, arch_of(scn))
    write_rows(partial, columns, rows)  # in point order, with the sweep-wide columns
    partial.replace(final)
    files = [st.csv_name, *st.finish(scn, rows, out, context)]
    figures = st.figures(scn, rows, out)
    for stale in (out / "figures").glob("*.png"):
        if f"figures/{stale.name}" not in figures:
            stale.unlink()
    text = summary_markdown(scn, st, rows, figures)
    (out / "summary.md").write_text(text, encoding="utf-8")
    html.write_report(out / "report.html", scn.spec.title, text, provenance(scn))
    return ScenarioRun(out, rows, text, st.csv_name, files + figures + ["summary.md", "report.html", "resolved.yaml"])


MAX_POINTS = 1_000_000  # a stated limit, not physics: beyond it the rows alone outgrow a laptop's memory
WARN_POINTS = 100_000  # 350x the largest shipped scenario (288 points): worth saying before it starts


def size_warnings(scn: ResolvedScenario) -> list[str]:
    """Refuse a sweep over MAX_POINTS (before building it), warn over WARN_POINTS."""
    bound, product = scn.spec.size_bound()
    if bound > MAX_POINTS:
        raise ConfigError(f"{scn.path}: the sweep has up to {bound:,} points ({product}); the limit is "
                          f"{MAX_POINTS:,}: cut an axis or split the scenario")
    if bound > WARN_POINTS:
        return [f"a large sweep: up to {bound:,} points ({product}); rows stream to the CSV as they finish and "
                "sim run --resume continues an interrupted run"]
    return []


def arch_of(scn: ResolvedScenario) -> dict[str, str]:
    """Chip or system name -> the chip's kind (gpu, systolic, dataflow, wafer, lpu)."""
    return {**{n: c.kind for n, c in scn.chips.items()}, **{n: s.chip.kind for n, s in scn.systems.items()}}


def provenance(scn: ResolvedScenario) -> list[tuple[str, list[tuple[str, object, str]]]]:
    """Each chip's and system's numbers with their sources, for the report."""
    specs = {**scn.chips, **scn.systems}
    return [(name, sourced_numbers(spec.model_dump(mode="json"))) for name, spec in specs.items()]


def evaluate_scenario(source: str | Path | dict[str, Any], csv_path: Path, workers: int | None = None,
                      progress: bool = False) -> list[Row]:
    """A scenario's points alone, streamed to ``csv_path`` (no tables, figures or
    summary): what a benchmark of the sweep times."""
    scn = load_scenario(source)
    st = study_for(scn.spec.mode)
    size_warnings(scn)
    context = st.context(scn)
    writer = ResultWriter(csv_path, st.input_columns + st.columns(scn.spec) + ["error"])
    return run_points(st.points(scn, context), st.fill, context, writer, workers=workers, progress=progress,
                      desc=scn.spec.name, heavy=st.heavy)


BANDS_NOTE = ("Error bands: a number's `_low` / `_high` columns (and the shaded areas of the figures) are where "
              "80% of the published measurements the model was not fitted on fell, for the same architecture family "
              "and single-chip or multi-card scope (`configs/calibration.yaml`, from `python -m sim.validate.bands`); "
              "a ratio's band in a verdict is the measured error of comparisons: two chips' predictions against "
              "their published measurements of the same workload. "
              "They measure the simulator's own error; they do not widen for assumed inputs of unmeasured chips.")


def summary_markdown(scn: ResolvedScenario, st: Study, rows: list[Row], figures: list[str]) -> str:
    """Title, claim, the verdict on each testable claim, description, what ran, findings,
    the study's sections, failed points, assumptions and figures."""
    s = scn.spec
    lines = [f"# {s.title}", ""]
    if s.claim:
        lines += [f"**Claim tested:** {s.claim}", ""]
    claims = [f for f in s.findings if f.claimed is not None]
    if claims:
        ratio = derived.ratio_bands(load_calibration())
        lines += ["## Verdicts", ""] + [f"- {verdict.verdict_line(rows, f, scn.canonical_chip, ratio)}" for f in claims]
        lines.append("")
    if any(k.endswith("_low") for r in rows for k in r):
        lines += [BANDS_NOTE, ""]
    if s.description:
        lines += [s.description.strip(), ""]
    lines += [st.overview(scn, rows), ""]
    if s.findings:
        lines += ["## Findings", ""]
        if any(sensitivity.wanted(f) for f in s.findings):
            lines += [sensitivity.READING, ""]
        for f in s.findings:
            if f.text:
                lines += [f"**{f.text}**", ""]
            lines += [f"- {line}" for line in summary.finding_lines(rows, f, scn.canonical_chip)]
            if sensitivity.wanted(f):
                lines += [f"- {line}" for line in sensitivity.verdict_lines(scn, st, rows, f)]
            lines.append("")
    lines += st.sections(scn, rows)
    ignored = st.ignored(scn)
    if ignored:
        lines += ["## Warnings", ""] + [f"- {line}" for line in ignored] + [""]
    fails = st.failures(rows)
    if fails:
        lines += ["## Failed points", ""] + [f"- {f}" for f in fails] + [""]
    status = scn.statuses
    assumed = [n for n, st_ in status.items() if st_ != "confirmed"]
    if assumed:
        lines += ["## Assumptions", "", "These configs rest partly or wholly on assumed numbers "
                  "(see their `sources:`); conclusions about them hold only under those assumptions: "
                  + ", ".join(f"{n} ({status[n]})" for n in assumed) + ".", ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{Path(f).name}]({f})" for f in figures] + [""]
    return "\n".join(lines)


def slug(text: str) -> str:
    """A file-name piece: lower case, letters and digits, single dashes."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


def line_figure_jobs(rows: list[Row], specs: list[PlotSpec], title: str, out: Path,
                     prefix: str = "") -> list[FigureJob]:
    """One line plot per spec (none when nothing to draw), saved as
    figures/<prefix>_<y>_vs_<x>.png."""
    return [(figures.line_figure, (rows, spec, title, out, f"figures/{prefix + '_' if prefix else ''}{spec.y}_vs_{spec.x}.png"))
            for spec in specs]


def per_model_figure_jobs(scn: ResolvedScenario, rows: list[Row], specs: list[PlotSpec], out: Path,
                          breakdown: bool) -> list[FigureJob]:
    """Per model: time-breakdown bars (when ``breakdown``: multi-card runs) and the line
    plots."""
    jobs: list[FigureJob] = []
    for model in scn.models:
        mine = [r for r in rows if r["model"] == model]
        if breakdown:
            jobs.append((figures.breakdown_figure, (representative(mine), f"Where the time goes: {model}", out,
                                                    f"figures/{slug(model)}_time_breakdown.png")))
        jobs += line_figure_jobs(mine, specs, f"{scn.spec.title}\n{model}", out, slug(model))
    return jobs


def representative(rows: list[Row]) -> list[Row]:
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


def scaling_plots(scn: ResolvedScenario, extra: tuple[str, ...] = ()) -> list[PlotSpec]:
    """Scaling curves (per card count, one line per system and plan) when cards vary."""
    if len(scn.spec.cards) > 1 and scn.systems:
        return [PlotSpec(x="cards", y=y) for y in ("throughput_tokens_per_s", "throughput_tokens_per_s_per_chip",
                                                   derived.SCALING_EFFICIENCY, *extra)]
    return []
