"""The same sweep as the local pool, on a Ray cluster: a local one started for the run, or
one at a given address. Points go out in chunks, each finished chunk's rows are written to
the results CSV as it arrives (so a run that stops keeps them), and the rows come back in
point order, so the CSV equals the local pool's. A chunk whose worker dies is retried by
Ray; one that still fails becomes error rows, never a lost sweep."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from sim.errors import SimError
from sim.scenario.runner import chunk_size
from sim.scenario.store import ResultWriter

Row = dict[str, Any]
Fill = Callable[[Any, Row], None]

# Ray retries a task whose worker process died this many times before it gives up (Ray's
# own default is 3; stated here so the behaviour does not move with Ray's defaults).
RETRIES_ON_WORKER_DEATH = 3
# Chunks in flight per worker: enough to keep every worker busy while the driver writes
# rows, few enough that a huge sweep's points are not all serialised at once.
IN_FLIGHT_PER_WORKER = 4


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise SimError("--backend ray needs Ray: pip install 'sim[ray]' (or run without --backend)") from None
    return ray


def _evaluate_chunk(state: tuple[Fill, Any], chunk: list[Row]) -> list[Row]:
    from sim.scenario.runner import _init, evaluate

    _init(*state)
    return [evaluate(p) for p in chunk]


def run_points_ray(points: list[Row], fill: Fill, context: Any, writer: ResultWriter, *, address: str | None,
                   workers: int | None, progress: bool, desc: str, heavy: bool) -> list[Row]:
    """Evaluate ``points`` on Ray; the rows in point order, each written once finished."""
    try:
        ray = _ray()
        started = _connect(ray, address, workers)
        try:
            return _run(ray, points, (fill, context), writer, progress=progress, desc=desc, heavy=heavy)
        finally:
            if started:
                ray.shutdown()
    finally:
        writer.close()


def _connect(ray: Any, address: str | None, workers: int | None) -> bool:
    """Join the cluster at ``address``, or start a local one; True when this run started it."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
    except Exception as err:  # a wrong address or a cluster that will not start: one line
        where = f"at {address}" if address else "locally"
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SimError(f"--backend ray: could not start or reach a Ray cluster {where}: {first}") from None
    return True


def _run(ray: Any, points: list[Row], state: tuple[Fill, Any], writer: ResultWriter, *, progress: bool,
         desc: str, heavy: bool) -> list[Row]:
    n_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = chunk_size(len(points), n_workers, heavy)
    chunks = [points[i:i + size] for i in range(0, len(points), size)]
    task = ray.remote(max_retries=RETRIES_ON_WORKER_DEATH)(_evaluate_chunk)
    shared = ray.put(state)
    done: dict[int, list[Row]] = {}
    pending: dict[Any, int] = {}
    queue = iter(enumerate(chunks))
    limit = n_workers * IN_FLIGHT_PER_WORKER
    with tqdm(total=len(points), desc=desc, unit="pt", disable=not progress, mininterval=0.5) as bar:
        while True:
            while len(pending) < limit and (nxt := next(queue, None)) is not None:
                pending[task.remote(shared, nxt[1])] = nxt[0]
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            try:
                rows = ray.get(ready[0])
            except Exception as err:  # the chunk's worker kept dying: its points fail, the rest go on
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                rows = [{**p, "error": f"ray worker lost: {reason}"} for p in chunks[index]]
            done[index] = [writer.write(r) for r in rows]
            bar.update(len(rows))
    return [row for i in range(len(chunks)) for row in done[i]]
