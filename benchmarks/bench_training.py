"""Speed of the training-step model: one point, and a 10,000-point parallel sweep.

    python benchmarks/bench_training.py [--points 10000] [--workers N]

Reports the median time of one GPT-3 175B training step on 1,024 H100s (tp 8, pp 16
interleaved, dp 8, ZeRO-1, sequence parallel), end to end through ``predict_training`` with
collectives priced on the HGX H100 system, and the wall time of a sweep over plans (tp, pp,
micro-batch, recomputation) x global batch x card count through the real scenario runner
(all cores, CSV written row by row; figures not drawn). Calculon, the reference analytical
training model, takes about 0.4 s per configuration on this class of machine (issue 4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sim import default_economics, load_model
from sim.analytical.training import predict_training
from sim.catalog import load_system
from sim.deployment import Deployment
from sim.studies.base import evaluate_scenario
from sim.workload.parallel import Parallelism
from sim.workload.training import TrainingJob


def one_point(repeats: int) -> tuple[float, float]:
    """Median and p90 seconds of one GPT-3 175B step on 1,024 GPUs (a fresh collective
    cost cache each time, as a sweep point on a new system size would have)."""
    model, econ = load_model("GPT-3-175B"), default_economics()
    system = load_system("HGX-H100-8GPU").sized(1024)
    plan = Parallelism(tp=8, pp=16, dp=8, sequence_parallel=True, schedule="interleaved", vpp=2, zero=1,
                       recompute="selective")
    times = []
    for i in range(repeats):
        job = TrainingJob(global_batch=1536 + 64 * (i % 2), seq_len=2048)
        t0 = time.perf_counter()
        predict_training(Deployment.on_system(system, plan), model, job, econ)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.9 * len(times))]


def sweep(points: int, workers: int | None) -> tuple[int, float, int]:
    """Points, wall seconds and failures of a GPT-3 175B plan x batch x cards sweep."""
    plans = [{"tp": tp, "pp": pp, "micro_batch": mb, "sequence_parallel": True, "zero": 1, "recompute": rc}
             for tp in (4, 8) for pp in (8, 16) for mb in (1, 2) for rc in ("selective", "full")]
    cards = [512, 1024, 2048, 4096]
    per = max(1, points // (len(plans) * len(cards)))
    batches = [512 * (1 + i) for i in range(per)]
    scenario = {"name": "bench-training", "title": "training benchmark sweep", "mode": "training",
                "systems": ["HGX-H100-8GPU"], "cards": cards, "parallelism": plans, "models": ["GPT-3-175B"],
                "training": {"global_batch": batches, "seq_len": [2048]}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows = evaluate_scenario(scenario, Path(tmp) / "results.csv", workers=workers)
        wall = time.perf_counter() - t0
    return len(rows), wall, sum(1 for r in rows if r.get("error"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=500)
    args = ap.parse_args()
    med, p90 = one_point(args.repeats)
    print(f"one GPT-3 175B training step on 1,024 H100s: median {med * 1e3:.3f} ms, p90 {p90 * 1e3:.3f} ms")
    cores = args.workers or os.cpu_count()
    n, wall, failed = sweep(args.points, args.workers)
    print(f"{n}-point training sweep (plan x global batch x cards, GPT-3 175B) on {cores} worker(s): "
          f"{wall:.2f} s wall, {n / wall:,.0f} points/s, {failed} failed (capacity or batch split)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
