"""Training study (``mode: training``): systems (and chips) x card counts x parallelism
entries x models x global batch (strong scaling) or batch per replica (weak scaling) x
sequence length x precision; one optimizer step per point on the analytical engine. With
``engine: des`` every point is also played as a pipeline timeline (``sim.des``), and the
fastest point per model gets a Perfetto trace and a per-stage figure."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from sim.analytical.training import TrainingPrediction, predict_training
from sim.deployment import Deployment
from sim.des import pipeline_trace, simulate_training
from sim.des.pipeline import PipelineResult
from sim.report import figure_server, figures, summary
from sim.report.figure_server import FigureJob
from sim.scenario.load import ResolvedScenario
from sim.scenario.spec import ListAxes, ScenarioBase
from sim.scenario.store import read_table, write_table
from sim.studies.base import Row, Study, per_model_figure_jobs, scaling_plots, slug, study
from sim.studies.derived import SCALING_EFFICIENCY, band_columns
from sim.studies.inference import INPUT_COLUMNS, Context, blank_row, under_stacks
from sim.workload.model import ModelSpec
from sim.workload.training import TrainingJob

DES_COLUMNS = ["des_step_time_s", "des_bubble_share", "des_peak_in_flight"]


class TrainingAxes(ListAxes):
    """Training job axes: every combination is one point. The batch is either
    ``global_batch`` (fixed: strong scaling) or ``batch_per_replica`` sequences per
    data-parallel replica (grows with the card count: weak scaling)."""

    global_batch: list[PositiveInt] = []
    batch_per_replica: list[PositiveInt] = []
    seq_len: list[PositiveInt] = Field(min_length=1)
    precision: list[Literal["bf16", "fp16", "fp8", "fp4"]] = ["bf16"]

    @model_validator(mode="after")
    def _one_batch_axis(self) -> TrainingAxes:
        if bool(self.global_batch) == bool(self.batch_per_replica):
            raise ValueError("give exactly one of global_batch or batch_per_replica")
        return self


class TrainingScenario(ScenarioBase):
    """``engine``: analytical (closed-form step), or des (also a pipeline timeline per
    point: DES step time, bubble and activations in flight; trace and per-stage figure)."""

    mode: Literal["training"] = "training"
    training: TrainingAxes
    engine: Literal["analytical", "des"] = "analytical"


@study("training")
class TrainingStudy(Study):
    scenario = TrainingScenario
    input_columns = INPUT_COLUMNS
    tiny = {"systems": ["HGX-H100-8GPU"], "cards": [4], "parallelism": [{"tp": 2, "pp": 2}], "engine": "des",
            "models": ["Llama-3.1-8B"], "training": {"global_batch": [8], "seq_len": [1024]}}

    def columns(self, spec: Any = None) -> list[str]:
        des = spec is not None and getattr(spec, "engine", "") == "des"
        return [*TrainingPrediction.columns(), SCALING_EFFICIENCY, *band_columns(TrainingPrediction.columns()),
                *(DES_COLUMNS if des else [])]

    def context(self, scn: ResolvedScenario) -> Context:
        return Context(scn, {})

    def points(self, scn: ResolvedScenario, context: Any) -> list[Row]:
        spec: TrainingScenario = scn.spec  # type: ignore[assignment]
        t = spec.training
        batches = [("global_batch", b) for b in t.global_batch] + [("batch_per_replica", b)
                                                                   for b in t.batch_per_replica]
        combos = itertools.product(spec.hardware(list(scn.chips), list(scn.systems)), scn.models, t.precision,
                                   t.seq_len, batches)
        return under_stacks([{**blank_row(), "chip": hw, "system": system, "cards": n, "plan_index": i, "model": m,
                              "phase": "training", "precision": p, "seq_len": s, key: b}
                             for (hw, system, n, i), m, p, s, (key, b) in combos], spec.stacks)

    @staticmethod
    def fill(context: Context, row: Row) -> None:
        dep = context.deployment(row)
        job = job_of(row, dep)
        model = context.scn.models[row["model"]]
        row.update(predict_training(dep, model, job, context.economics).metrics())
        if getattr(context.scn.spec, "engine", "") == "des":
            res = simulate_training(dep, model, job)
            row.update(des_step_time_s=res.step_time_s, des_bubble_share=res.bubble_share(0),
                       des_peak_in_flight=res.peak_in_flight)

    def finish(self, scn: ResolvedScenario, rows: list[Row], out: Path, context: Any) -> list[str]:
        """With ``engine: des``: for each model, the trace of its fastest point and
        pipeline_stages.csv (per stage: compute, blocked sends, bubble, DP wait)."""
        if getattr(scn.spec, "engine", "") != "des":
            return []
        files, stages = [], []
        for model in scn.models:
            ran = [r for r in summary.ok(rows) if r["model"] == model]
            if not ran:
                continue
            best = dict(max(ran, key=lambda r: r["throughput_tokens_per_s"]))
            dep = context.deployment(best)
            name, res = timeline(dep, scn.models[model], job_of(best, dep), out, slug(model))
            files.append(name)
            stages += [{"model": model, "hardware": dep.label, **row} for row in stage_rows(res)]
        if stages:
            write_table(out / "pipeline_stages.csv", stages)
            files.append("pipeline_stages.csv")
        return files

    def figures(self, scn: ResolvedScenario, rows: list[Row], out: Path) -> list[str]:
        specs = [*scaling_plots(scn, ("mfu", "share_communication")), *scn.spec.plots]
        jobs = per_model_figure_jobs(scn, rows, specs, out, breakdown=bool(scn.systems))
        stages_csv = out / "pipeline_stages.csv"
        if getattr(scn.spec, "engine", "") == "des" and stages_csv.is_file():
            table = read_table(stages_csv)
            for model in scn.models:
                mine = [r for r in table if r["model"] == model]
                if mine:
                    jobs.append(stage_figure_job(mine, f"{model} on {mine[0]['hardware']}", out, slug(model)))
        return figure_server.draw(jobs)

    def sections(self, scn: ResolvedScenario, rows: list[Row]) -> list[str]:
        return ["## Fastest plan per system, model and card count", "", summary.training_table(rows), ""]


def job_of(row: Row, dep: Deployment) -> TrainingJob:
    gb = row["global_batch"] or row["batch_per_replica"] * dep.plan.dp
    return TrainingJob(global_batch=gb, seq_len=row["seq_len"], precision=row["precision"])


def stage_rows(res: PipelineResult) -> list[Row]:
    """Per pipeline stage: where its step went (seconds) and its peak micro-batches in flight."""
    return [asdict(s) for s in res.stages]


def timeline(dep: Deployment, model: ModelSpec, job: TrainingJob, out: Path, stem: str) -> tuple[str, PipelineResult]:
    """Play one training step as a timeline and write its Perfetto trace
    (``trace_<stem>.json``, open in ui.perfetto.dev); returns the file name and the result."""
    res = simulate_training(dep, model, job)
    name = f"trace_{stem}.json"
    (out / name).write_text(json.dumps(pipeline_trace(res)), encoding="utf-8")
    return name, res


def stage_figure_job(stages: list[Row], title: str, out: Path, stem: str) -> FigureJob:
    """The job drawing figures/<stem>_pipeline_stages.png: the per-stage bars of one step."""
    return (figures.pipeline_stage_figure, (stages, f"One training step per pipeline stage\n{title}", out,
                                            f"figures/{stem}_pipeline_stages.png"))
