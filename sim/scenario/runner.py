"""Run a scenario's points in parallel on all cores, streaming each finished row to
results.csv so an interrupted or failing sweep keeps what it finished."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from sim.analytical.inference import predict
from sim.analytical.training import predict_training
from sim.chips.base import ChipSpec
from sim.comm.pricing import SystemComm, measure_collective
from sim.deployment import Deployment, plan_for
from sim.errors import SimError
from sim.parts.economics import Economics
from sim.scenario.load import ResolvedScenario
from sim.scenario.spec import Scenario
from sim.scenario.store import ResultWriter
from sim.system import SystemSpec
from sim.workload.model import ModelSpec
from sim.workload.spec import Precision, Workload
from sim.workload.training import TrainingJob

_STATE: dict[str, Any] = {}


def _init(chips: dict[str, ChipSpec], models: dict[str, ModelSpec], econ: Economics,
          systems: dict[str, SystemSpec], spec: Scenario) -> None:
    _STATE.update(chips=chips, models=models, econ=econ, systems=systems, spec=spec, comm={})


def _hardware(row: dict[str, Any]) -> Deployment:
    """The deployment of a point (its plan's columns filled in ``row``)."""
    if not row["system"]:
        return Deployment.one_chip(_STATE["chips"][row["chip"]])
    spec: Scenario = _STATE["spec"]
    key = (row["system"], row["cards"])
    if key not in _STATE["comm"]:
        _STATE["comm"][key] = SystemComm(_STATE["systems"][row["system"]].sized(row["cards"]))
    comm = _STATE["comm"][key]
    plan = plan_for(spec.parallelism[row["plan_index"]], row["cards"], comm.system, spec.mode)
    row.update(plan=plan.label, tp=plan.tp, pp=plan.pp, dp=plan.dp, ep=plan.ep)
    return Deployment.on_system(comm.system, plan, comm)


def guarded(row: dict[str, Any], fill: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """``fill(row)`` adds a point's metrics to ``row``; a failure becomes an ``error``
    column instead of an exception, so one bad point never loses the others."""
    try:
        fill(row)
        row["error"] = ""
    except SimError as err:
        row["error"] = str(err)
    except Exception as err:  # a bug in one point must not lose the others
        row["error"] = f"internal error: {type(err).__name__}: {err}"
    return row


def evaluate_point(point: dict[str, Any]) -> dict[str, Any]:
    """Inputs + metrics of one point; a failure becomes an ``error`` column, not an exception."""
    return guarded(dict(point), _fill_point)


def _fill_point(row: dict[str, Any]) -> None:
    if row["phase"] == "collective":
        system = _STATE["systems"][row["system"]].sized(row["cards"])
        row.update(measure_collective(system, row["collective"], row["size_bytes"], row["cards"]).metrics())
        return
    dep = _hardware(row)
    model = _STATE["models"][row["model"]]
    if row["phase"] == "training":
        gb = row["global_batch"] or row["batch_per_replica"] * dep.plan.dp
        job = TrainingJob(global_batch=gb, seq_len=row["seq_len"], precision=row["precision"])
        pred: Any = predict_training(dep, model, job, _STATE["econ"])
    else:
        wl = Workload(phase=row["phase"], batch=row["batch"], input_len=row["input_len"],
                      output_len=row["output_len"],
                      precision=Precision(weights=row["weights_dtype"], activations=row["activations_dtype"],
                                          kv_cache=row["kv_cache_dtype"]))
        pred = predict(dep, model, wl, _STATE["econ"])
    row.update(pred.metrics())


def run_points(scn: ResolvedScenario, writer: ResultWriter, workers: int | None = None,
               progress: bool = True) -> list[dict[str, Any]]:
    """Evaluate every point, in order, writing each row as it completes."""
    points = scn.points()
    workers = workers or os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(points), desc=scn.spec.name, unit="pt", disable=not progress,
               mininterval=0.5)
    args = (scn.chips, scn.models, scn.economics, scn.systems, scn.spec)
    try:
        if workers == 1 or len(points) < 200:
            _init(*args)
            results = map(evaluate_point, points)
            for row in results:
                rows.append(writer.write(row))
                bar.update()
        else:
            chunk = max(1, min(256, math.ceil(len(points) / (workers * 8))))
            with mp.get_context("fork" if hasattr(os, "fork") else "spawn").Pool(
                    workers, initializer=_init, initargs=args) as pool:
                for row in pool.imap(evaluate_point, points, chunksize=chunk):
                    rows.append(writer.write(row))
                    bar.update()
    finally:
        bar.close()
        writer.close()
    return rows
