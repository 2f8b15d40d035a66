"""Serving study (``mode: serving``): a request-rate sweep on the discrete-event engine per
hardware x model x precision x layout (one throughput-latency curve each). Rows stream to
serving.csv as they finish; then saturation.csv (per curve: where it saturates, latency
and goodput at the highest sustained rate), one Perfetto trace with its queue / KV
timeline, figures and a table per model. ``serve_once`` is ``sim serve``."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from sim.analytical.iteration import IterationCost
from sim.catalog import suggest
from sim.catalog.yaml_io import LocatedYaml
from sim.deployment import Deployment, plan_for
from sim.des import (
    Disaggregation,
    Requests,
    Scheduler,
    Serving,
    Slo,
    iteration_cost,
    make_requests,
    perfetto_trace,
    power_series,
    registered_policies,
    saturation,
    simulate,
    summarize,
    summary_columns,
    time_series,
)
from sim.des.spec import MIN_RATE_PER_S
from sim.des.sweep import is_saturated
from sim.dtypes import Dtype
from sim.errors import ConfigError, SimError
from sim.report import figure_server, figures
from sim.report.figure_server import FigureJob
from sim.scenario.load import ResolvedScenario
from sim.scenario.spec import ListAxes, ScenarioBase
from sim.scenario.store import read_table, write_table
from sim.spec import Spec
from sim.studies.base import Row, ScenarioRun, Study, run_scenario, slug, study
from sim.workload.model import ModelSpec
from sim.workload.parallel import Parallelism
from sim.workload.spec import Precision

# DistServe's goodput (Zhong et al., OSDI 2024, section 2): the highest request rate at
# which at least 90% of requests meet the SLO.
SLO_ATTAINMENT = 0.9

KEY_COLUMNS = ["chip", "system", "cards", "plan", "tp", "pp", "dp", "model", "precision", "weights_dtype",
               "activations_dtype", "kv_cache_dtype", "deployment", "chips_total", "policy", "series"]


class ServingLayout(Spec):
    """How a serving point arranges its model instances: ``replicas`` co-located instances
    behind the router (times the plan's dp), or disaggregated prefill and decode pools of
    instances (the plan's dp must then be 1)."""

    name: str = ""
    replicas: PositiveInt = 1
    disaggregation: Disaggregation | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        d = self.disaggregation
        return f"{d.prefill_replicas}P+{d.decode_replicas}D" if d else f"co-located x{self.replicas}"

    def instances(self, dp: int) -> int:
        """Model instances this layout runs for a plan with ``dp`` copies."""
        d = self.disaggregation
        return d.prefill_replicas + d.decode_replicas if d else self.replicas * dp


class ServingAxes(ListAxes):
    """``requests`` offered at each of ``rates`` (requests/s; the arrivals' own rate is
    replaced) to every hardware x model x precision x layout. ``deployments`` compares
    layouts; alone, ``replicas`` and ``disaggregation`` give one. ``trace_rate``: the rate
    of the Perfetto trace and timeline (default: the middle rate)."""

    requests: Requests
    rates: list[Annotated[float, Field(ge=MIN_RATE_PER_S)]] = Field(min_length=1)  # requests/s
    scheduler: Scheduler = Scheduler()
    replicas: PositiveInt = 1
    disaggregation: Disaggregation | None = None
    deployments: list[ServingLayout] = []
    precision: list[Dtype | Precision] = ["bf16"]
    slo: Slo | None = None
    trace_rate: PositiveFloat | None = None

    @model_validator(mode="before")
    @classmethod
    def _rate_from_sweep(cls, data: Any) -> Any:
        """The sweep sets the arrival rate; the file need not repeat it."""
        if isinstance(data, dict) and isinstance(data.get("requests"), dict) and data.get("rates"):
            req = data["requests"]
            arrivals = req.get("arrivals", {"kind": "poisson"})
            if isinstance(arrivals, dict) and arrivals.get("rate_per_s") is None:
                first = data["rates"][0] if isinstance(data["rates"], list) else data["rates"]
                data = {**data, "requests": {**req, "arrivals": {**arrivals, "rate_per_s": first}}}
        return data

    @model_validator(mode="after")
    def _layouts(self) -> ServingAxes:
        if self.requests.arrivals.kind == "trace":
            raise ValueError("a rate sweep needs synthetic arrivals (poisson, constant or gamma)")
        if self.deployments and (self.replicas != 1 or self.disaggregation is not None):
            raise ValueError("give deployments, or replicas / disaggregation, not both")
        labels = [d.label for d in self.layouts()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"deployment names must differ: {', '.join(labels)}")
        return self

    def layouts(self) -> list[ServingLayout]:
        """The layouts compared (one from replicas / disaggregation when none is listed)."""
        return self.deployments or [ServingLayout(replicas=self.replicas, disaggregation=self.disaggregation)]


class ServingScenario(ScenarioBase):
    mode: Literal["serving"] = "serving"
    serving: ServingAxes
    cards_per_model = True

    @model_validator(mode="after")
    def _no_findings(self) -> ServingScenario:
        if self.findings or self.plots:
            raise ValueError("a serving scenario reports its own table and curves; drop findings and plots")
        return self


@dataclass(frozen=True)
class Curve:
    """One throughput-latency curve: its key columns and what its iteration cost needs.
    ``deployment`` is one model instance (dp = 1); copies are ``serving`` replicas."""

    key: Row
    deployment: Deployment
    model: ModelSpec
    precision: Precision
    serving: Serving

    def cost(self, requests: list) -> IterationCost:
        return iteration_cost(self.deployment, self.model, self.precision, self.serving.scheduler, requests)


@dataclass
class Context:
    """The curves of a sweep with their iteration costs (built once, in the parent; a
    curve whose plan or cost cannot be built has its error instead), the request spec and
    the SLO."""

    curves: list[Curve | Row]
    costs: dict[int, IterationCost]
    requests: Requests
    slo: Slo | None
    trace_rate: float


@study("serving")
class ServingStudy(Study):
    scenario = ServingScenario
    input_columns = [*KEY_COLUMNS, "rate_per_s"]
    tiny = {"chips": ["H100"], "models": ["Llama-3.1-8B"],
            "serving": {"requests": {"count": 30, "input": {"value": 128}, "output": {"value": 8}}, "rates": [1, 50]}}
    csv_name = "serving.csv"
    heavy = True

    def columns(self, spec: Any = None) -> list[str]:
        slo = spec is not None and spec.serving.slo is not None
        return [*summary_columns(slo), "output_tokens_per_s_per_chip", "saturated"]

    def check(self, spec: ScenarioBase, doc: LocatedYaml) -> None:
        policy = spec.serving.scheduler.policy  # type: ignore[attr-defined]
        if policy not in registered_policies():
            raise ConfigError(f"{doc.where(('serving', 'scheduler', 'policy'))}: unknown scheduler policy "
                              f"'{policy}'.{suggest(policy, registered_policies())}")

    def context(self, scn: ResolvedScenario) -> Context:
        sv: ServingAxes = scn.spec.serving  # type: ignore[attr-defined]
        rates = sorted(sv.rates)
        return sweep_context(scenario_curves(scn), sv.requests, rates, sv.slo, sv.trace_rate or rates[len(rates) // 2])

    def points(self, scn: ResolvedScenario, context: Context) -> list[Row]:
        rates = sorted(scn.spec.serving.rates)  # type: ignore[attr-defined]
        rows: list[Row] = []
        for i, c in enumerate(context.curves):
            if isinstance(c, dict):
                rows.append(c)
            else:
                rows += [{**c.key, "rate_per_s": rate, "curve": i} for rate in rates]
        return rows

    @staticmethod
    def fill(context: Context, row: Row) -> None:
        i = row["curve"]
        curve = context.curves[i]
        assert isinstance(curve, Curve)
        res = simulate(context.costs[i], curve.serving, make_requests(at_rate(context.requests, row["rate_per_s"])))
        row.update(summarize(res, context.slo))
        row["output_tokens_per_s_per_chip"] = row["output_tokens_per_s"] / curve.key["chips_total"]
        row["saturated"] = bool(is_saturated(row))

    def finish(self, scn: ResolvedScenario, rows: list[Row], out: Path, context: Context) -> list[str]:
        write_table(out / "saturation.csv", saturation_rows(rows))
        return ["saturation.csv", *write_trace(context, out)]

    def figures(self, scn: ResolvedScenario, rows: list[Row], out: Path) -> list[str]:
        jobs: list[FigureJob] = []
        for model in sorted({r["model"] for r in rows}):
            mine = [r for r in rows if r["model"] == model]
            jobs += [(figures.serving_curve_figure, (mine, f"{scn.spec.title}: {model}", kind, out,
                                                      f"figures/{slug(model)}_{kind}.png"))
                     for kind in ("latency_vs_throughput", "throughput_vs_rate")]
        return figure_server.draw([*jobs, *timeline_jobs(out)])

    def overview(self, scn: ResolvedScenario, rows: list[Row]) -> str:
        sv: ServingAxes = scn.spec.serving  # type: ignore[attr-defined]
        failed = sum(1 for r in rows if r.get("error"))
        slo = f"; SLO TTFT <= {sv.slo.ttft_s:g} s and TPOT <= {sv.slo.tpot_s:g} s" if sv.slo else ""
        return (f"{len(rows)} points ({len(rows) - failed} ran, {failed} failed): {sv.requests.count or 'all'} "
                f"requests per rate, rates {', '.join(f'{r:g}' for r in sorted(sv.rates))} requests/s, policy "
                f"{sv.scheduler.policy}{slo}. Saturated: fewer than 90% of the arriving requests per second "
                "complete in the steady window. p90 TTFT / TPOT and goodput (requests/s within the SLO) are at "
                "the highest sustained rate; max output tok/s is the peak over all rates; SLO rate is the highest "
                "sustained rate at which 90% of requests meet the SLO (DistServe's goodput).")

    def sections(self, scn: ResolvedScenario, rows: list[Row]) -> list[str]:
        sat = saturation_rows(rows)
        lines = []
        for model in scn.models:
            mine = [r for r in sat if r["model"] == model]
            if mine:
                lines += [f"## {model}", "", serving_table(mine), ""]
        return lines

    def failures(self, rows: list[Row]) -> list[str]:
        return sorted({f"{r['series'] or r['chip']}, {r['model']}: {r['error']}" for r in rows if r.get("error")})


def at_rate(req: Requests, rate: float) -> Requests:
    return req.model_copy(update={"arrivals": req.arrivals.model_copy(update={"rate_per_s": rate})})


def sweep_context(curves: list[Curve | Row], req: Requests, rates: list[float], slo: Slo | None,
                  trace_rate: float) -> Context:
    """Each curve's iteration cost from the request set at the lowest rate (the lengths
    are the same at every rate); a curve whose cost cannot be built becomes its error."""
    first = make_requests(at_rate(req, min(rates)))
    costs: dict[int, IterationCost] = {}
    out: list[Curve | Row] = []
    for i, c in enumerate(curves):
        if isinstance(c, Curve):
            try:
                costs[i] = c.cost(first)
            except SimError as err:
                c = {**c.key, "error": str(err)}
        out.append(c)
    return Context(out, costs, req, slo, trace_rate)


def scenario_curves(scn: ResolvedScenario) -> list[Curve | Row]:
    """One curve per hardware x plan x model x precision x layout of the scenario; a
    group whose plan or deployment cannot be built becomes its key with an ``error``."""
    spec: ServingScenario = scn.spec  # type: ignore[assignment]
    sv = spec.serving
    layouts = sv.layouts()
    curves: list[Curve | Row] = []
    for entry, (name, precs) in zip(spec.models, spec.model_precisions(list(scn.models), sv.precision), strict=True):
        cards = (entry.cards if not isinstance(entry, str) else []) or spec.cards
        for hw, system_name, n, plan_index in spec.hardware(list(scn.chips), list(scn.systems), cards):
            for prec in precs:
                for layout in layouts:
                    curves.append(_curve(scn, hw, system_name, n, plan_index, scn.models[name], prec, layout,
                                         several=len(precs) > 1, layouts=len(layouts)))
    return curves


def _curve(scn: ResolvedScenario, hw: str, system_name: str, cards: int, plan_index: int, model: ModelSpec,
           prec: Precision, layout: ServingLayout, several: bool, layouts: int) -> Curve | Row:
    sv: ServingAxes = scn.spec.serving  # type: ignore[attr-defined]
    system = scn.systems.get(system_name) if system_name else None
    try:
        full = plan_for(scn.spec.parallelism[plan_index], cards, system, "serving") if system else Parallelism()
        if layout.disaggregation is not None and full.dp > 1:
            raise ConfigError(f"plan {full.label}: disaggregated pools count model instances; give dp=1")
        one = full.model_copy(update={"dp": 1})
        dep = (Deployment.on_system(system, one) if system is not None and one.chips > 1
               else Deployment.one_chip(system.chip if system is not None else scn.chips[hw]))
    except ConfigError as err:
        return {**curve_key(hw, system_name, cards, Parallelism(), model.name, prec, layout,
                            Serving(scheduler=sv.scheduler), hw), "error": str(err)}
    serving = Serving(scheduler=sv.scheduler, replicas=layout.replicas * full.dp, disaggregation=layout.disaggregation)
    series = " ".join(x for x in (hw, one.label if system and one.chips > 1 else "", prec.label if several else "",
                                  layout.label if layouts > 1 or layout.label != "co-located x1" else "") if x)
    return Curve(curve_key(hw, system_name, cards, full, model.name, prec, layout, serving, series), dep, model,
                 prec, serving)


def curve_key(chip: str, system: str, cards: int, plan: Parallelism, model: str, prec: Precision, layout: ServingLayout,
              serving: Serving, series: str) -> Row:
    instance = plan.tp * plan.pp
    return {"chip": chip, "system": system, "cards": cards, "plan": plan.label, "tp": plan.tp, "pp": plan.pp,
            "dp": plan.dp, "model": model, "precision": prec.label, "weights_dtype": prec.weights,
            "activations_dtype": prec.activations, "kv_cache_dtype": prec.kv_cache, "deployment": layout.label,
            "chips_total": instance * layout.instances(plan.dp), "policy": serving.scheduler.policy,
            "series": series}


def write_trace(context: Context, out: Path) -> list[str]:
    """trace.json and timeline.csv of the first curve that runs, at the trace rate."""
    ready = [i for i, c in enumerate(context.curves) if isinstance(c, Curve)]
    if not ready:
        return []
    curve = context.curves[ready[0]]
    assert isinstance(curve, Curve)
    try:
        res = simulate(context.costs[ready[0]], curve.serving, make_requests(at_rate(context.requests,
                                                                                      context.trace_rate)))
    except SimError:
        return []
    (out / "trace.json").write_text(json.dumps(perfetto_trace(res)), encoding="utf-8")
    ts = time_series(res)
    title = f"{curve.key['series']}, {curve.model.name}, {context.trace_rate:g} requests/s"
    write_table(out / "timeline.csv", [{"title": title, "t_s": float(t), "waiting": int(w), "kv_util": float(k),
                                        "replica": int(r), "replica_power_W": float(p)}
                                       for t, w, k, r, p in zip(ts["t_s"], ts["waiting"], ts["kv_util"], ts["replica"],
                                                                ts["power_W"], strict=True)])
    power = power_series(res)
    write_table(out / "power_timeline.csv", [{"title": title, "t_s": float(t), "power_W": float(p)}
                                             for t, p in zip(power["t_s"], power["power_W"], strict=True)])
    return ["trace.json", "timeline.csv", "power_timeline.csv"]


def timeline_jobs(out: Path) -> list[FigureJob]:
    """The job drawing figures/timeline.png from timeline.csv (and power_timeline.csv):
    waiting requests, KV-cache use and the chips' power over time."""
    path = out / "timeline.csv"
    if not path.is_file():
        return []
    rows = read_table(path)
    if not rows:
        return []
    power = read_table(out / "power_timeline.csv") if (out / "power_timeline.csv").is_file() else []
    series = {"t_s": [float(r["t_s"]) for r in rows], "waiting": [int(r["waiting"]) for r in rows],
              "kv_util": [float(r["kv_util"]) for r in rows], "power_t_s": [float(r["t_s"]) for r in power],
              "power_W": [float(r["power_W"]) for r in power]}
    return [(figures.serving_timeline_figure, (series, rows[0]["title"], out, "figures/timeline.png"))]


def saturation_rows(rows: list[Row]) -> list[Row]:
    """Per curve: saturation (sim.des.sweep.saturation); at the highest sustained rate,
    p90 TTFT / TPOT, output tokens/s and goodput; and the highest sustained rate at which
    SLO_ATTAINMENT of the requests meet the SLO (``slo_rate_per_s``)."""
    curves: dict[tuple, list[Row]] = {}
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
        for col in ("ttft_p90_s", "tpot_p90_s", "output_tokens_per_s", "goodput_req_per_s", "slo_attainment",
                    "energy_j_per_request", "avg_power_W"):
            row[f"{col}_at_max_sustained"] = best.get(col, math.nan) if best else math.nan
        out.append(row)
    return out


def serving_table(sat: list[Row]) -> str:
    """Markdown: one row per curve (hardware, plan, layout). TTFT, TPOT, goodput, energy
    per request and the chips' average power are at the highest sustained rate; SLO rate:
    the highest sustained rate with 90% of requests within the SLO."""
    head = ("| hardware | chips | saturates at (req/s) | max sustained (req/s) | max output tok/s | tok/s per chip "
            "| p90 TTFT (s) | p90 TPOT (ms) | goodput (req/s) | SLO rate (req/s) | J/request | chips' W |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(sat, key=lambda r: -r["peak_output_tokens_per_s"]):
        lines.append(f"| {r['series']} | {r['chips_total']} | {_num(r['saturation_rate_per_s'], 'not reached')} | "
                     f"{_num(r['max_sustained_rate_per_s'], 'none')} | {r['peak_output_tokens_per_s']:,.0f} | "
                     f"{r['peak_output_tokens_per_s_per_chip']:,.0f} | {_num(r['ttft_p90_s_at_max_sustained'])} | "
                     f"{_num(r['tpot_p90_s_at_max_sustained'] * 1e3)} | "
                     f"{_num(r['goodput_req_per_s_at_max_sustained'])} | {_num(r['slo_rate_per_s'], 'none')} | "
                     f"{_num(r['energy_j_per_request_at_max_sustained'])} | {_num(r['avg_power_W_at_max_sustained'])} |")
    return "\n".join(lines)


def _num(x: float, missing: str = "-") -> str:
    return missing if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def serve_once(dep: Deployment, model: ModelSpec, precision: Precision, requests: Requests, serving: Serving,
               slo: Slo | None = None) -> Row:
    """One simulation (``sim serve``): the summary metrics of ``requests`` served by
    ``serving.replicas`` instances of ``model``, each on ``dep`` (one model instance)."""
    reqs = make_requests(requests)
    cost = iteration_cost(dep, model, precision, serving.scheduler, reqs)
    row: Row = {"chips_total": dep.chips * serving.replicas, "kv_capacity_tokens": cost.kv_capacity_tokens,
                **summarize(simulate(cost, serving, reqs), slo)}
    row["saturated"] = bool(is_saturated(row))
    return row


def run_serving(name: str, chips: list[str], models: list[str], requests: Requests | dict, rates: list[float],
                serving: Serving | dict | None = None, precision: str = "bf16", slo: Slo | dict | None = None,
                trace_rate: float | None = None, results_root: Path | None = None,
                workers: int = 1, backend: str = "local") -> ScenarioRun:
    """A serving study over ``chips`` (one card each) x ``models`` at ``rates`` without a
    scenario file; a chip or model that cannot serve gets one row with ``error``.
    ``backend="ray"`` runs the points on a local Ray cluster (same rows)."""
    def plain(x: Any) -> Any:
        return x.model_dump(exclude_none=True) if hasattr(x, "model_dump") else x

    sv = plain(serving) or {}
    scenario = {"name": name, "title": name, "mode": "serving", "chips": chips, "models": models,
                "serving": {"requests": plain(requests), "rates": rates, "precision": [precision], **sv,
                            **({"slo": plain(slo)} if slo is not None else {}),
                            **({"trace_rate": trace_rate} if trace_rate is not None else {})}}
    return run_scenario(scenario, results_root, workers, progress=False, backend=backend)
