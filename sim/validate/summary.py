"""Accuracy of a validation run: per-case table and, by group, median / p90 absolute error
and the median optimism (signed: positive = predicts faster or more than measured; see
``Outcome.optimism_pct``), with fitted and held-out cases kept apart."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.validate.predict import Outcome


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def accuracy(outcomes: list[Outcome], key) -> dict[str, tuple[int, float, float, float]]:
    """group -> (count, median |error| %, p90 |error| %, median optimism %) over cases that ran."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for o in outcomes:
        if o.status == "ok":
            groups[key(o)].append((o.error_pct or 0.0, o.optimism_pct or 0.0))
    return {g: (len(v), statistics.median(abs(e) for e, _ in v), p90([abs(e) for e, _ in v]),
                statistics.median(b for _, b in v)) for g, v in sorted(groups.items())}


def held_out_median(outcomes: list[Outcome], scope: str | None = None) -> float | None:
    """Median |error| % of the held-out cases that ran (of one ``scope`` if given)."""
    errs = [abs(o.error_pct or 0.0) for o in outcomes
            if o.status == "ok" and not o.fitted and scope in (None, o.scope)]
    return statistics.median(errs) if errs else None


def table_rows(outcomes: list[Outcome]) -> list[dict[str, str]]:
    rows = []
    for o in outcomes:
        rows.append({
            "id": o.case.id, "scope": o.scope, "category": o.case.category, "arch": o.arch,
            "metric": o.case.metric,
            "measured": f"{o.case.value:.4g}",
            "predicted": "" if o.predicted is None else f"{o.predicted:.4g}",
            "error_pct": "" if o.error_pct is None else f"{o.error_pct:+.1f}",
            "fitted": "yes" if o.fitted else "no", "status": o.status, "reason": o.reason,
        })
    return rows


def as_records(outcomes: list[Outcome]) -> dict[str, Any]:
    """The outcomes and the accuracy by group as plain data (``sim validate --json``): each
    case's row, and per group its count, median and p90 |error| % and median signed optimism %."""
    groups = {}
    for key in GROUPINGS:
        for g, (n, med, hi, bias) in accuracy(outcomes, key).items():
            groups[g] = {"cases": n, "median_abs_error_pct": med, "p90_abs_error_pct": hi,
                         "median_optimism_pct": bias}
    return {"groups": groups, "outcomes": table_rows(outcomes)}


def _split(o: Outcome) -> str:
    return "fitted" if o.fitted else "held-out"


# The groups accuracy is reported by: fitted vs held-out, then by scope, category, chip
# class and the file a case came from (its source: ANL's bench, MLPerf, vendor tables, ...).
GROUPINGS: tuple[Callable[[Outcome], str], ...] = (
    lambda o: _split(o),
    lambda o: f"{o.scope} ({_split(o)})",
    lambda o: f"{o.case.category} ({_split(o)})",
    lambda o: f"{o.arch} ({_split(o)})",
    lambda o: f"{o.case.origin or 'cases'} ({_split(o)})",
)


def markdown(outcomes: list[Outcome]) -> str:
    rows = table_rows(outcomes)
    cols = ["id", "metric", "measured", "predicted", "error_pct", "fitted", "status"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    lines += ["", "| group | cases | median abs error % | p90 abs error % | median optimism % |",
              "|---|---|---|---|---|"]
    for key in GROUPINGS:
        for g, (n, med, hi, bias) in accuracy(outcomes, key).items():
            lines.append(f"| {g} | {n} | {med:.1f} | {hi:.1f} | {bias:+.1f} |")
    unsupported = [r for r in rows if r["status"] != "ok"]
    if unsupported:
        lines += ["", "Not predicted:", ""] + [f"- {r['id']} ({r['status']}): {r['reason']}" for r in unsupported]
    return "\n".join(lines)


def write(outcomes: list[Outcome], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = table_rows(outcomes)
    with (out_dir / "validation.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "validation.md").write_text(markdown(outcomes) + "\n", encoding="utf-8")
