"""A serving study end to end: a request-rate sweep per chip and model on the DES,
written to results/<name>/ as serving.csv, saturation.csv, figures and one trace."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.catalog import load_chip, load_model, project_dir
from sim.des import (
    Requests,
    Serving,
    Slo,
    chip_cost,
    make_requests,
    perfetto_trace,
    rate_sweep,
    saturation,
    simulate,
    time_series,
)
from sim.errors import ConfigError, SimError
from sim.report import plots, serving_plots
from sim.workload.spec import Precision


@dataclass
class ServingRun:
    out_dir: Path
    rows: list[dict[str, Any]]
    saturation: list[dict[str, Any]]
    files: list[str] = field(default_factory=list)


def _spec(cls: type[BaseModel], value, what: str):
    if value is None or isinstance(value, cls):
        return value
    try:
        return cls.model_validate(value)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise ConfigError(f"{what}: {where}: {first['msg']}") from None


def run_serving(name: str, chips: list[str], models: list[str], requests: Requests | dict,
                rates: list[float], serving: Serving | dict | None = None, precision: str = "bf16",
                slo: Slo | dict | None = None, trace_rate: float | None = None,
                results_root: Path | None = None) -> ServingRun:
    """Sweep ``rates`` (requests/s) for every chip x model; a chip or model that cannot
    serve (capacity, context) gets one row with ``error``. The trace is of the first
    chip and model at ``trace_rate`` (default: the middle rate)."""
    req = _spec(Requests, requests, "requests")
    sv = _spec(Serving, serving, "serving") or Serving()
    target = _spec(Slo, slo, "slo")
    if not rates or min(rates) <= 0:
        raise ConfigError("rates must be a non-empty list of positive requests/s")
    prec = Precision.uniform(precision)
    out = (results_root or project_dir() / "results") / name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    sat: list[dict[str, Any]] = []
    costs = {}
    for model_name in models:
        model = load_model(model_name)
        for chip_name in chips:
            chip = load_chip(chip_name)
            key = {"chip": chip.name, "model": model.name, "precision": prec.label, "policy": sv.scheduler.policy}
            try:
                cost = chip_cost(chip, model, prec, sv.scheduler, make_requests(req))
                sweep = rate_sweep(cost, sv, req, rates, target)
            except SimError as err:
                rows.append({**key, "error": str(err)})
                continue
            costs[(chip.name, model.name)] = cost
            rows += [{**key, **r} for r in sweep]
            sat.append({**key, **saturation(sweep)})
    run = ServingRun(out, rows, sat)
    _write_csv(out / "serving.csv", rows)
    _write_csv(out / "saturation.csv", sat)
    run.files += ["serving.csv", "saturation.csv"]
    run.files += _figures(out / "figures", rows, name)
    if costs:
        run.files += _trace(out, costs, sv, req, trace_rate or sorted(rates)[len(rates) // 2])
    return run


def _figures(fig_dir: Path, rows: list[dict[str, Any]], name: str) -> list[str]:
    written = []
    for model in sorted({r["model"] for r in rows}):
        fig = serving_plots.latency_vs_throughput([r for r in rows if r["model"] == model], f"{name}: {model}")
        if fig is not None:
            fname = f"figures/{_slug(model)}_latency_vs_throughput.png"
            plots.save(fig, fig_dir.parent / fname)
            written.append(fname)
    return written


def _trace(out: Path, costs: dict, sv: Serving, req: Requests, rate: float) -> list[str]:
    (chip, model), cost = next(iter(costs.items()))
    spec = req.model_copy(update={"arrivals": req.arrivals.model_copy(update={"rate_per_s": rate})})
    res = simulate(cost, sv, make_requests(spec))
    (out / "trace.json").write_text(json.dumps(perfetto_trace(res)), encoding="utf-8")
    ts = time_series(res)
    fig = serving_plots.serving_timeline(ts["t_s"], ts["waiting"], ts["kv_util"],
                                         f"{chip}, {model}, {rate:g} requests/s")
    plots.save(fig, out / "figures" / "timeline.png")
    return ["trace.json", "figures/timeline.png"]


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
