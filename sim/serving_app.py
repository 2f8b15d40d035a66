"""A serving study end to end on the discrete-event engine: a request-rate sweep per
hardware x model x precision x deployment (one throughput-latency curve each), rows
streamed to results/<name>/serving.csv as they finish (an interrupted or failing sweep
keeps them), then saturation.csv, summary.md, figures and one Perfetto trace."""

from __future__ import annotations

import csv
import json
import math
import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from tqdm import tqdm

from sim.analytical.iteration import IterationCost
from sim.catalog import load_chip, load_model, results_dir
from sim.chips.base import ChipSpec
from sim.deployment import Deployment, plan_for
from sim.des import (
    Arrivals,
    Lengths,
    Requests,
    Serving,
    Slo,
    make_requests,
    perfetto_trace,
    saturation,
    simulate,
    summarize,
    time_series,
)
from sim.des.cost import iteration_cost
from sim.des.sweep import is_saturated
from sim.errors import ConfigError, SimError
from sim.report import plots, serving_plots
from sim.scenario.load import ResolvedScenario
from sim.scenario.runner import guarded
from sim.scenario.spec import ServingLayout
from sim.system import SystemSpec
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision

# DistServe's goodput (Zhong et al., OSDI 2024, section 2): the highest request rate at
# which at least 90% of requests meet the SLO.
SLO_ATTAINMENT = 0.9

KEY_COLUMNS = ["chip", "system", "cards", "plan", "tp", "pp", "dp", "model", "precision", "weights_dtype",
               "activations_dtype", "kv_cache_dtype", "deployment", "chips_total", "policy", "series"]


@dataclass(frozen=True)
class Curve:
    """One throughput-latency curve: its key columns and what its iteration cost needs.
    ``plan`` is one model instance (dp = 1); copies are ``serving`` replicas."""

    key: dict[str, Any]
    chip: ChipSpec
    system: SystemSpec | None
    plan: Parallelism
    model: ModelSpec
    precision: Precision
    serving: Serving

    def cost(self, requests: list) -> IterationCost:
        dep = (Deployment.on_system(self.system, self.plan) if self.system is not None and self.plan.chips > 1
               else Deployment.one_chip(self.chip))
        return iteration_cost(dep, self.model, self.precision, self.serving.scheduler, requests)


@dataclass
class ServingRun:
    out_dir: Path
    rows: list[dict[str, Any]]
    saturation: list[dict[str, Any]]
    files: list[str] = field(default_factory=list)
    summary_md: str = ""

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("error"))


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
                results_root: Path | None = None, workers: int = 1) -> ServingRun:
    """Sweep ``rates`` (requests/s) for every chip (one card each) x model; a chip or
    model that cannot serve (capacity, context) gets one row with ``error``. The trace is
    of the first curve that runs, at ``trace_rate`` (default: the middle rate)."""
    req = _spec(Requests, requests, "requests")
    sv = _spec(Serving, serving, "serving") or Serving()
    target = _spec(Slo, slo, "slo")
    if not rates or min(rates) <= 0:
        raise ConfigError("rates must be a non-empty list of positive requests/s")
    prec = Precision.uniform(precision)
    curves: list[Curve | dict[str, Any]] = []
    for model_name in models:
        model = load_model(model_name)
        for chip_name in chips:
            chip = load_chip(chip_name)
            key = _key(chip.name, "", 1, Parallelism(), model.name, prec, ServingLayout(replicas=sv.replicas,
                       disaggregation=sv.disaggregation), sv, chip.name)
            curves.append(Curve(key, chip, None, Parallelism(), model, prec, sv))
    out = (results_root or results_dir()) / name
    return sweep_curves(curves, req, rates, target, trace_rate, out, name, workers, progress=False)


def serve_once(chip: ChipSpec, system: SystemSpec | None, plan: Parallelism, model: ModelSpec,
               precision: Precision, requests: Requests, serving: Serving, slo: Slo | None = None) -> dict[str, Any]:
    """One simulation (``sim serve``): the summary metrics of ``requests`` served by
    ``serving.replicas`` instances of ``model``, each on ``plan.tp * plan.pp`` chips of
    ``system`` (one ``chip`` when the plan has one chip)."""
    reqs = make_requests(requests)
    one = Curve({}, chip, system if plan.chips > 1 else None, plan, model, precision, serving)
    cost = one.cost(reqs)
    row: dict[str, Any] = {"chips_total": plan.chips * serving.replicas, "kv_capacity_tokens": cost.kv_capacity_tokens,
                           **summarize(simulate(cost, serving, reqs), slo)}
    row["saturated"] = bool(is_saturated(row))
    return row


def run_serving_scenario(scn: ResolvedScenario, out: Path, workers: int | None = None,
                         progress: bool = True) -> ServingRun:
    """A ``mode: serving`` scenario: its curves swept, then summary.md."""
    sv = scn.spec.serving
    assert sv is not None
    curves = scenario_curves(scn)
    run = sweep_curves(curves, sv.requests, sv.rates, sv.slo, sv.trace_rate, out, scn.spec.title,
                       workers, progress)
    run.summary_md = summary_markdown(scn, run)
    (out / "summary.md").write_text(run.summary_md, encoding="utf-8")
    return run


def scenario_curves(scn: ResolvedScenario) -> list[Curve | dict[str, Any]]:
    """One curve per point group of the scenario (a point per rate); a group whose plan or
    deployment cannot be built becomes its key with an ``error``."""
    sv = scn.spec.serving
    assert sv is not None
    layouts = sv.layouts()
    several = {m: len({(p["weights_dtype"], p["activations_dtype"], p["kv_cache_dtype"]) for p in scn.points()
                       if p["model"] == m}) > 1 for m in scn.models}
    curves: list[Curve | dict[str, Any]] = []
    seen = set()
    for p in scn.points():
        group = (p["chip"], p["system"], p["cards"], p["plan_index"], p["model"], p["precision"], p["deployment"])
        if group in seen:
            continue
        seen.add(group)
        prec = Precision(weights=p["weights_dtype"], activations=p["activations_dtype"], kv_cache=p["kv_cache_dtype"])
        dep, model = layouts[p["deployment"]], scn.models[p["model"]]
        system = scn.systems.get(p["system"]) if p["system"] else None
        try:
            full = (plan_for(scn.spec.parallelism[p["plan_index"]], p["cards"], system, "serving")
                    if system else Parallelism())
            if dep.disaggregation is not None and full.dp > 1:
                raise ConfigError(f"plan {full.label}: disaggregated pools count model instances; give dp=1")
        except ConfigError as err:
            curves.append({**_key(p["chip"], p["system"], p["cards"], Parallelism(), model.name, prec, dep,
                                  Serving(scheduler=sv.scheduler), p["chip"]), "error": str(err)})
            continue
        one = full.model_copy(update={"dp": 1})
        serving = Serving(scheduler=sv.scheduler, replicas=dep.replicas * full.dp,
                          disaggregation=dep.disaggregation)
        series = " ".join(x for x in (p["chip"], one.label if system and one.chips > 1 else "",
                                      prec.label if several[model.name] else "",
                                      dep.label if len(layouts) > 1 or dep.label != "co-located x1" else "") if x)
        key = _key(p["chip"], p["system"], p["cards"], full, model.name, prec, dep, serving, series)
        chip = system.chip if system else scn.chips[p["chip"]]
        curves.append(Curve(key, chip, system, one, model, prec, serving))
    return curves


def _key(chip: str, system: str, cards: int, plan: Parallelism, model: str, prec: Precision, dep: ServingLayout,
         serving: Serving, series: str) -> dict[str, Any]:
    instance = plan.tp * plan.pp
    return {"chip": chip, "system": system, "cards": cards, "plan": plan.label, "tp": plan.tp, "pp": plan.pp,
            "dp": plan.dp, "model": model, "precision": prec.label, "weights_dtype": prec.weights,
            "activations_dtype": prec.activations, "kv_cache_dtype": prec.kv_cache, "deployment": dep.label,
            "chips_total": instance * dep.instances(plan.dp), "policy": serving.scheduler.policy,
            "series": series}


def sweep_curves(curves: list[Curve | dict[str, Any]], req: Requests, rates: list[float], slo: Slo | None,
                 trace_rate: float | None, out: Path, title: str, workers: int | None = None,
                 progress: bool = False) -> ServingRun:
    """Every curve at every rate (in parallel over ``workers`` processes), streamed to
    serving.csv; then saturation.csv, the figures and the trace."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    writer = RowWriter(out / "serving.csv", KEY_COLUMNS + ["rate_per_s"] + metric_columns(slo)
                       + ["output_tokens_per_s_per_chip", "saturated", "error"])
    rows: list[dict[str, Any]] = []
    ready: list[Curve] = []
    costs: list[IterationCost] = []
    first = make_requests(_at(req, min(rates)))
    try:
        for c in curves:
            if isinstance(c, dict):
                rows.append(writer.write(c))
                continue
            try:
                costs.append(c.cost(first))
                ready.append(c)
            except SimError as err:
                rows.append(writer.write({**c.key, "error": str(err)}))
        rows += _run_points(ready, costs, req, sorted(rates), slo, writer, workers, progress)
    finally:
        writer.close()
    sat = saturation_rows(rows)
    _write_csv(out / "saturation.csv", sat)
    run = ServingRun(out, rows, sat, ["serving.csv", "saturation.csv"])
    run.files += _figures(out / "figures", rows, title)
    if ready:
        run.files += _trace(out, ready[0], costs[0], req, trace_rate or sorted(rates)[len(rates) // 2])
    return run


_STATE: dict[str, Any] = {}


def _init(curves: list[Curve], costs: list[IterationCost], req: Requests, slo: Slo | None) -> None:
    _STATE.update(curves=curves, costs=costs, req=req, slo=slo)


def _point(task: tuple[int, float]) -> dict[str, Any]:
    """One curve at one rate; a failure becomes an ``error`` column, not an exception."""
    i, rate = task
    curve: Curve = _STATE["curves"][i]

    def fill(row: dict[str, Any]) -> None:
        res = simulate(_STATE["costs"][i], curve.serving, make_requests(_at(_STATE["req"], rate)))
        row.update(summarize(res, _STATE["slo"]))
        row["output_tokens_per_s_per_chip"] = row["output_tokens_per_s"] / curve.key["chips_total"]
        row["saturated"] = bool(is_saturated(row))

    return guarded({**curve.key, "rate_per_s": rate}, fill)


def _run_points(curves: list[Curve], costs: list[IterationCost], req: Requests, rates: list[float],
                slo: Slo | None, writer: RowWriter, workers: int | None, progress: bool) -> list[dict[str, Any]]:
    tasks = [(i, r) for i in range(len(curves)) for r in rates]
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    rows = []
    bar = tqdm(total=len(tasks), desc="serving", unit="pt", disable=not progress, mininterval=0.5)
    try:
        if workers <= 1:
            _init(curves, costs, req, slo)
            for row in map(_point, tasks):
                rows.append(writer.write(row))
                bar.update()
        else:
            with mp.get_context("fork" if hasattr(os, "fork") else "spawn").Pool(
                    workers, initializer=_init, initargs=(curves, costs, req, slo)) as pool:
                for row in pool.imap(_point, tasks, chunksize=1):
                    rows.append(writer.write(row))
                    bar.update()
    finally:
        bar.close()
    return rows


def _at(req: Requests, rate: float) -> Requests:
    return req.model_copy(update={"arrivals": req.arrivals.model_copy(update={"rate_per_s": rate})})


class _Fixed:
    """A constant-time iteration cost, only to learn the metric names ``summarize`` gives."""

    kv_capacity_tokens = 1 << 20
    kv_bytes_per_token = 1.0

    def time_s(self, *args: Any, **kwargs: Any) -> float:
        return 1e-3


def metric_columns(slo: Slo | None) -> list[str]:
    """The columns ``summarize`` writes (with goodput when there is an SLO), in its order."""
    spec = Requests(count=4, arrivals=Arrivals(kind="constant", rate_per_s=1.0), input=Lengths(value=2),
                    output=Lengths(value=2))
    return list(summarize(simulate(_Fixed(), Serving(), make_requests(spec)), slo))


class RowWriter:
    """Appends rows to a CSV as they finish, flushed each time (a serving point takes
    long enough that the flush costs nothing)."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self._file = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> dict[str, Any]:
        self._csv.writerow({k: _fmt(v) for k, v in row.items()})
        self._file.flush()
        return row

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def saturation_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per curve: saturation (sim.des.sweep.saturation); at the highest sustained rate,
    p90 TTFT / TPOT, output tokens/s and goodput; and the highest sustained rate at which
    SLO_ATTAINMENT of the requests meet the SLO (``slo_rate_per_s``)."""
    curves: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if not r.get("error"):
            curves.setdefault(tuple(r[k] for k in KEY_COLUMNS), []).append(r)
    out = []
    for pts in curves.values():
        key = {k: pts[0][k] for k in KEY_COLUMNS}
        sat = saturation(pts)
        peak = max(r["output_tokens_per_s"] for r in pts)
        row = {**key, **sat, "peak_output_tokens_per_s_per_chip": peak / key["chips_total"]}
        met = [r["rate_per_s"] for r in pts if r.get("slo_attainment", 0.0) >= SLO_ATTAINMENT and not r["saturated"]]
        row["slo_rate_per_s"] = max(met) if met else math.nan
        ok = [r for r in pts if not r["saturated"]]
        best = max(ok, key=lambda r: r["rate_per_s"]) if ok else None
        for col in ("ttft_p90_s", "tpot_p90_s", "output_tokens_per_s", "goodput_req_per_s", "slo_attainment"):
            row[f"{col}_at_max_sustained"] = best.get(col, math.nan) if best else math.nan
        out.append(row)
    return out


def _figures(fig_dir: Path, rows: list[dict[str, Any]], title: str) -> list[str]:
    written = []
    for model in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == model]
        for fig, name in ((serving_plots.latency_vs_throughput(mine, f"{title}: {model}", line="series"),
                           "latency_vs_throughput"),
                          (serving_plots.throughput_vs_rate(mine, f"{title}: {model}", line="series"),
                           "throughput_vs_rate")):
            if fig is not None:
                fname = f"figures/{_slug(model)}_{name}.png"
                plots.save(fig, fig_dir.parent / fname)
                written.append(fname)
    return written


def _trace(out: Path, curve: Curve, cost: IterationCost, req: Requests, rate: float) -> list[str]:
    try:
        res = simulate(cost, curve.serving, make_requests(_at(req, rate)))
    except SimError:
        return []
    (out / "trace.json").write_text(json.dumps(perfetto_trace(res)), encoding="utf-8")
    ts = time_series(res)
    fig = serving_plots.serving_timeline(ts["t_s"], ts["waiting"], ts["kv_util"],
                                         f"{curve.key['series']}, {curve.model.name}, {rate:g} requests/s")
    plots.save(fig, out / "figures" / "timeline.png")
    return ["trace.json", "figures/timeline.png"]


def summary_markdown(scn: ResolvedScenario, run: ServingRun) -> str:
    """Title, claim, what ran, a table per model (one row per curve), failures,
    assumptions, figures."""
    s = scn.spec
    sv = s.serving
    assert sv is not None
    lines = [f"# {s.title}", ""]
    if s.claim:
        lines += [f"**Claim tested:** {s.claim}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    n_ok = len(run.rows) - run.failed
    slo = f"; SLO TTFT <= {sv.slo.ttft_s:g} s and TPOT <= {sv.slo.tpot_s:g} s" if sv.slo else ""
    lines += [f"{len(run.rows)} points ({n_ok} ran, {run.failed} failed): {sv.requests.count or 'all'} requests "
              f"per rate, rates {', '.join(f'{r:g}' for r in sorted(sv.rates))} requests/s, policy "
              f"{sv.scheduler.policy}{slo}. Saturated: fewer than 90% of the arriving requests per second "
              "complete in the steady window. p90 TTFT / TPOT and goodput (requests/s within the SLO) are at "
              "the highest sustained rate; max output tok/s is the peak over all rates; SLO rate is the highest "
              "sustained rate at which 90% of requests meet the SLO (DistServe's goodput).", ""]
    for model in scn.models:
        mine = [r for r in run.saturation if r["model"] == model]
        if mine:
            lines += [f"## {model}", "", serving_table(mine), ""]
    fails = sorted({f"{r['series'] or r['chip']}, {r['model']}: {r['error']}" for r in run.rows if r.get("error")})
    if fails:
        lines += ["## Failed points", ""] + [f"- {f}" for f in fails] + [""]
    status = {**{n: c.status for n, c in scn.chips.items()}, **{n: sy.status for n, sy in scn.systems.items()},
              **{sy.chip.name: sy.chip.status for sy in scn.systems.values()}}
    assumed = [n for n, st in status.items() if st != "confirmed"]
    if assumed:
        lines += ["## Assumptions", "", "These configs rest partly or wholly on assumed numbers (see their "
                  "`sources:`); conclusions about them hold only under those assumptions: "
                  + ", ".join(f"{n} ({status[n]})" for n in assumed) + ".", ""]
    figs = [f for f in run.files if f.endswith(".png")]
    if figs:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    return "\n".join(lines)


def serving_table(sat: list[dict[str, Any]]) -> str:
    """Markdown: one row per curve (hardware, plan, deployment). TTFT, TPOT and goodput
    are at the highest sustained rate; SLO rate: the highest sustained rate with 90% of
    requests within the SLO."""
    head = ("| hardware | chips | saturates at (req/s) | max sustained (req/s) | max output tok/s | tok/s per chip "
            "| p90 TTFT (s) | p90 TPOT (ms) | goodput (req/s) | SLO rate (req/s) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(sat, key=lambda r: -r["peak_output_tokens_per_s"]):
        lines.append(f"| {r['series']} | {r['chips_total']} | {_num(r['saturation_rate_per_s'], 'not reached')} | "
                     f"{_num(r['max_sustained_rate_per_s'], 'none')} | {r['peak_output_tokens_per_s']:,.0f} | "
                     f"{r['peak_output_tokens_per_s_per_chip']:,.0f} | {_num(r['ttft_p90_s_at_max_sustained'])} | "
                     f"{_num(r['tpot_p90_s_at_max_sustained'] * 1e3)} | "
                     f"{_num(r['goodput_req_per_s_at_max_sustained'])} | {_num(r['slo_rate_per_s'], 'none')} |")
    return "\n".join(lines)


def _num(x: float, missing: str = "-") -> str:
    return missing if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows({k: _fmt(v) for k, v in r.items()} for r in rows)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
