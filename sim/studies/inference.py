"""Inference study (``mode: inference``, the default): chips and systems x models x phase,
batch, lengths and precision on the analytical engine; a row per point with latency,
throughput, memory, the bound, energy and cost. Figures: throughput and TPOT vs batch,
scaling curves when cards vary, time-breakdown bars for systems, and a roofline per model
drawn from the ops of the points it names (recorded while they ran)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt

from sim.analytical.inference import Prediction, predict
from sim.comm.pricing import SystemComm
from sim.deployment import Deployment, plan_for
from sim.dtypes import Dtype
from sim.parts.economics import Economics
from sim.parts.stack import StackSpec
from sim.report import figure_server, figures, summary
from sim.report.spec import PlotSpec
from sim.scenario.load import ResolvedScenario
from sim.scenario.spec import ListAxes, ScenarioBase
from sim.scenario.store import write_table
from sim.studies.base import Row, Study, per_model_figure_jobs, scaling_plots, slug, study
from sim.studies.derived import SCALING_EFFICIENCY, band_columns
from sim.studies.sensitivity import ENERGY_COST_METRICS
from sim.workload.spec import Phase, Precision, Workload

# "chip" names the hardware of a point: a chip (one card) or a system (``cards`` of them).
INPUT_COLUMNS = ["chip", "system", "cards", "plan", "tp", "pp", "dp", "ep", "model", "phase", "batch", "input_len",
                 "output_len", "global_batch", "batch_per_replica", "seq_len", "collective", "size_bytes", "precision",
                 "weights_dtype", "activations_dtype", "kv_cache_dtype"]


class WorkloadAxes(ListAxes):
    """Workload axes; every combination is one point."""

    phase: list[Phase] = Field(min_length=1)
    batch: list[PositiveInt] = Field(min_length=1)
    input_len: list[PositiveInt] = Field(min_length=1)
    output_len: list[PositiveInt] = [1]
    precision: list[Dtype | Precision] = ["bf16"]


class InferenceScenario(ScenarioBase):
    mode: Literal["inference"] = "inference"
    workload: WorkloadAxes
    roofline: bool = True


def blank_row() -> Row:
    """Every input column, empty (studies fill what their points have)."""
    return {"system": "", "cards": 1, "plan": "", "tp": 1, "pp": 1, "dp": 1, "ep": 1, "batch": "", "input_len": "",
            "output_len": "", "weights_dtype": "", "activations_dtype": "", "kv_cache_dtype": "",
            "global_batch": "", "batch_per_replica": "", "seq_len": "", "collective": "", "size_bytes": "",
            "plan_index": 0, "stack_axis": ""}


def under_stacks(rows: list[Row], stacks: list[str]) -> list[Row]:
    """Every point once per scenario stack (``stack_axis``; "" = the chip's default)."""
    return [{**r, "stack_axis": s} for r in rows for s in (stacks or [""])]


def precision_columns(prec: Precision) -> Row:
    return {"precision": prec.label, "weights_dtype": prec.weights, "activations_dtype": prec.activations,
            "kv_cache_dtype": prec.kv_cache}


@dataclass
class Context:
    """What workers need: the resolved scenario, and sized systems with their collective
    cost caches (filled lazily in each worker)."""

    scn: ResolvedScenario
    sized: dict[tuple[str, int], SystemComm]

    def deployment(self, row: Row) -> Deployment:
        """The point's deployment; its plan's columns are filled in ``row``."""
        if not row["system"]:
            return Deployment.one_chip(self.scn.chips[row["chip"]], self.stack(row))
        key = (row["system"], row["cards"])
        if key not in self.sized:
            self.sized[key] = SystemComm(self.scn.systems[row["system"]].sized(row["cards"]))
        comm = self.sized[key]
        plan = plan_for(self.scn.spec.parallelism[row["plan_index"]], row["cards"], comm.system,
                        self.scn.spec.mode)  # type: ignore[arg-type]
        row.update(plan=plan.label, tp=plan.tp, pp=plan.pp, dp=plan.dp, ep=plan.ep)
        return Deployment.on_system(comm.system, plan, comm, self.stack(row))

    def stack(self, row: Row) -> StackSpec | None:
        """The scenario stack a point names, or None for the chip's default."""
        return self.scn.stacks[row["stack_axis"]] if row.get("stack_axis") else None

    @property
    def economics(self) -> Economics:
        return self.scn.economics


@study("inference")
class InferenceStudy(Study):
    scenario = InferenceScenario
    input_columns = INPUT_COLUMNS
    tiny = {"chips": ["H100"], "systems": ["HGX-H100-8GPU"], "cards": [2], "models": ["Llama-3.1-8B"],
            "workload": {"phase": ["decode"], "batch": [1, 4], "input_len": [256]}}

    def columns(self, spec: Any = None) -> list[str]:
        return [*Prediction.columns(), SCALING_EFFICIENCY, *band_columns(Prediction.columns())]

    def context(self, scn: ResolvedScenario) -> Context:
        return Context(scn, {})

    def points(self, scn: ResolvedScenario, context: Any) -> list[Row]:
        spec: InferenceScenario = scn.spec  # type: ignore[assignment]
        w = spec.workload
        mid = sorted(w.batch)[len(w.batch) // 2]
        hardware = spec.hardware(list(scn.chips), list(scn.systems))
        combos = itertools.product(hardware, spec.model_precisions(list(scn.models), w.precision), w.phase,
                                   w.input_len, w.output_len, w.batch)
        rows = []
        for (hw, system, cards, plan), (model, precs), phase, ilen, olen, batch in combos:
            if phase != "generate" and olen != w.output_len[0]:
                continue
            for p in precs:
                rows.append({**blank_row(), "chip": hw, "system": system, "cards": cards, "plan_index": plan,
                             "model": model, "phase": phase, "batch": batch, "input_len": ilen,
                             "output_len": olen if phase == "generate" else 1, **precision_columns(p),
                             "roofline": spec.roofline and not system and batch == mid and ilen == w.input_len[0]
                             and olen == w.output_len[0]})
        return under_stacks(rows, spec.stacks)

    @staticmethod
    def fill(context: Context, row: Row) -> None:
        dep = context.deployment(row)
        prec = Precision(weights=row["weights_dtype"], activations=row["activations_dtype"],
                         kv_cache=row["kv_cache_dtype"])
        wl = Workload(phase=row["phase"], batch=row["batch"], input_len=row["input_len"],
                      output_len=row["output_len"], precision=prec)
        pred = predict(dep, context.scn.models[row["model"]], wl, context.economics, keep_ops=row["roofline"])
        row.update(pred.metrics())
        if row["roofline"]:
            row["ops"] = roofline_ops(dep, pred, prec)

    def finish(self, scn: ResolvedScenario, rows: list[Row], out: Path, context: Any) -> list[str]:
        """roofline_ops.csv: the per-op points the roofline figures draw."""
        ops = [{"chip": r["chip"], "model": r["model"], "precision": r["precision"], "batch": r["batch"], **o}
               for r in rows if r.get("ops") for o in r["ops"]]
        if not ops:
            return []
        write_table(out / "roofline_ops.csv", ops)
        return ["roofline_ops.csv"]

    def figures(self, scn: ResolvedScenario, rows: list[Row], out: Path) -> list[str]:
        spec: InferenceScenario = scn.spec  # type: ignore[assignment]
        specs = [*(DEFAULT_PLOTS if len(spec.workload.batch) > 1 else ()), *scaling_plots(scn), *spec.plots]
        if len(spec.workload.batch) > 1:
            specs += asked_energy_cost_plots(spec.findings, specs)
        jobs = per_model_figure_jobs(scn, rows, specs, out, breakdown=bool(scn.systems))
        jobs += [(figures.roofline_figure, (roofline_rows(rows, model), model, out, f"figures/{slug(model)}_roofline.png"))
                 for model in scn.models]
        return figure_server.draw(jobs)

    def sections(self, scn: ResolvedScenario, rows: list[Row]) -> list[str]:
        return ["## Best point per chip, model and phase", "", summary.best_table(rows), ""]

    def ignored(self, scn: ResolvedScenario) -> list[str]:
        spec: InferenceScenario = scn.spec  # type: ignore[assignment]
        w, out = spec.workload, []
        if "generate" not in w.phase and w.output_len != [1]:
            out.append(f"workload.output_len {w.output_len} is ignored: only phase generate has output tokens "
                       f"(phases here: {', '.join(w.phase)})")
        if spec.roofline and not scn.chips:  # roofline points are single-chip ones
            out.append("roofline: true draws nothing: the roofline places single-chip points, and this scenario "
                       "runs only systems (set roofline: false)")
        return out


DEFAULT_PLOTS = (
    PlotSpec(x="batch", y="throughput_tokens_per_s"),
    PlotSpec(x="batch", y="tpot_s", logy=True),
)


def asked_energy_cost_plots(findings: list, drawn: list[PlotSpec]) -> list[PlotSpec]:
    """An energy, power or cost metric a finding asks about, against batch, unless a plot
    of it is drawn already: a scenario about money or joules shows them by default."""
    have = {p.y for p in drawn}
    asked = dict.fromkeys(f.metric for f in findings if f.metric in ENERGY_COST_METRICS and f.metric not in have)
    return [PlotSpec(x="batch", y=m, logy=m in ("energy_j_per_token", "cost_per_million_tokens")) for m in asked]


def roofline_ops(dep: Deployment, pred: Prediction, prec: Precision) -> list[Row]:
    """Per op of each pass: its phase, category, arithmetic intensity (flop per off-chip
    byte) and achieved flop/s, with the chip's roof (peak flop/s in the point's GEMM
    format, sustained bandwidth of the main tier)."""
    peak = dep.chip.compute.peak_flops(prec.matmul)
    bw = dep.chip.main_tier.sustained_bandwidth_Bps
    ops = []
    for phase, cost in pred.passes.items():
        for c in cost.ops:
            moved = c.weight_bytes + c.kv_bytes + c.act_bytes
            if c.op.flops > 0 and moved > 0 and c.time_s > 0:
                ops.append({"phase": phase, "category": c.op.category, "intensity": c.op.flops / moved,
                            "achieved_flops": c.op.flops / c.time_s, "peak_flops": peak, "bandwidth_Bps": bw})
    return ops


def roofline_rows(rows: list[Row], model: str) -> list[Row]:
    """The rows of ``model`` that carry per-op costs (the representative points)."""
    return [r for r in rows if r["model"] == model and r.get("ops")]
