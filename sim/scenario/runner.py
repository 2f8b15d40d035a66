"""Evaluate a study's points in parallel on all cores, streaming each finished row to the
results CSV so an interrupted or failing sweep keeps what it finished. The same runner
serves every study: it knows points, a fill function and the state workers share."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from sim.errors import SimError
from sim.scenario.store import ResultWriter

Row = dict[str, Any]
Fill = Callable[[Any, Row], None]

# Light points (an analytical prediction, well under a millisecond) run serially below
# this count: starting worker processes would cost more than it saves.
SERIAL_BELOW = 200

_STATE: dict[str, Any] = {}


def _init(fill: Fill, context: Any) -> None:
    _STATE.update(fill=fill, context=context)


def guarded(row: Row, fill: Callable[[Row], None]) -> Row:
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


def evaluate(point: Row) -> Row:
    """Inputs + metrics of one point. A point that already carries an ``error`` (its
    hardware could not be built) passes through unchanged."""
    if point.get("error"):
        return dict(point)
    return guarded(dict(point), lambda row: _STATE["fill"](_STATE["context"], row))


BACKENDS = ("local", "ray")


def chunk_size(points: int, workers: int, heavy: bool) -> int:
    """Points per task: one for heavy points (a simulation each), else about eight tasks per
    worker (so a slow chunk does not hold the others up), at most 256 points."""
    return 1 if heavy else max(1, min(256, math.ceil(points / (workers * 8))))


def run_points(points: list[Row], fill: Fill, context: Any, writer: ResultWriter, *, workers: int | None = None,
               progress: bool = True, desc: str = "", heavy: bool = False, backend: str = "local",
               address: str | None = None) -> list[Row]:
    """Evaluate every point in order, writing each row as it completes. ``heavy`` points
    (a simulation each) go one per task from the first; light ones run serially below
    SERIAL_BELOW points and in chunks above. ``backend="ray"``: the same on a Ray cluster
    (started locally, or at ``address``), same rows."""
    if backend == "ray":
        from sim.scenario.ray_backend import run_points_ray

        return run_points_ray(points, fill, context, writer, address=address, workers=workers,
                              progress=progress, desc=desc, heavy=heavy)
    if backend != "local":
        raise SimError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")
    workers = min(workers or os.cpu_count() or 1, max(1, len(points)))
    rows: list[Row] = []
    bar = tqdm(total=len(points), desc=desc, unit="pt", disable=not progress, mininterval=0.5)
    try:
        if workers == 1 or (not heavy and len(points) < SERIAL_BELOW):
            _init(fill, context)
            for row in map(evaluate, points):
                rows.append(writer.write(row))
                bar.update()
        else:
            chunk = chunk_size(len(points), workers, heavy)
            with mp.get_context("fork" if hasattr(os, "fork") else "spawn").Pool(
                    workers, initializer=_init, initargs=(fill, context)) as pool:
                for row in pool.imap(evaluate, points, chunksize=chunk):
                    rows.append(writer.write(row))
                    bar.update()
    finally:
        bar.close()
        writer.close()
    return rows
