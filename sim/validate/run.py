"""``sim validate``: predict every case of some files, write the table and the figure."""

from __future__ import annotations

from pathlib import Path

from sim.catalog import load_economics, results_dir
from sim.report import plots
from sim.validate.cases import load_cases
from sim.validate.predict import Outcome, predict_case
from sim.validate.summary import held_out_median, write


def run_validation(paths: list[Path], out_dir: Path | None = None) -> tuple[list[Outcome], Path, float | None]:
    """Predict every case under ``paths``; write validation.csv / .md and the figure.
    Returns (outcomes, output folder, held-out median abs error %)."""
    cases = [c for p in paths for c in load_cases(p)]
    econ = load_economics({})
    outcomes = [predict_case(c, econ) for c in cases]
    out = out_dir or results_dir() / "validation"
    write(outcomes, out)
    pts = [(o.case.value, o.predicted, str(o.case.category)) for o in outcomes if o.predicted]
    plots.save(plots.predicted_vs_measured(pts, "sim vs published measurements"), out / "predicted_vs_measured.png")
    return outcomes, out, held_out_median(outcomes)
