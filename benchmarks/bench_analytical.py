"""Speed of the analytical engine: one point, and a 10,000-point parallel sweep.

    python benchmarks/bench_analytical.py [--points 10000] [--workers N]

Reports the median time of one Llama-3.1-70B decode point (fp8 on H100, batch 16, 2,048
cached tokens), and the wall time of a batch x input length x chip sweep through the real
scenario runner (all cores, CSV written row by row; figures not drawn).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sim import default_economics, load_chip, load_model, predict
from sim.studies.base import evaluate_scenario
from sim.workload.spec import Precision, Workload

SWEEP_CHIPS = ["H100", "H200", "H20", "B200", "A100", "MI300X", "L20", "B30", "TPU v6e", "Trainium2"]


def one_point(repeats: int) -> tuple[float, float]:
    """Median and p90 seconds of one 70B decode point, end to end through ``predict``."""
    chip, model, econ = load_chip("H100"), load_model("Llama-3.1-70B"), default_economics()
    prec = Precision.uniform("fp8")
    times = []
    for i in range(repeats):
        wl = Workload(phase="decode", batch=16 + i % 2, input_len=2048, precision=prec)
        t0 = time.perf_counter()
        predict(chip, model, wl, econ)
        times.append(time.perf_counter() - t0)
    times.sort()
    return statistics.median(times), times[int(0.9 * len(times))]


def sweep(points: int, workers: int | None, phase: str) -> tuple[int, float, int]:
    """Points, wall seconds and failures of a batch x input_len x chip sweep of Llama-3.1-8B."""
    chips = [c for c in SWEEP_CHIPS if _exists(c)]
    per_chip = max(1, points // len(chips))
    batches = [1 + i for i in range(25)]
    lens = [256 + 128 * i for i in range(max(1, per_chip // len(batches)))]
    scenario = {"name": "bench-sweep", "title": "benchmark sweep", "chips": chips,
                "models": ["Llama-3.1-8B"], "roofline": False,
                "workload": {"phase": [phase], "batch": batches, "input_len": lens, "output_len": [128]}}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rows = evaluate_scenario(scenario, Path(tmp) / "results.csv", workers=workers)
        wall = time.perf_counter() - t0
    return len(rows), wall, sum(1 for r in rows if r.get("error"))


def _exists(name: str) -> bool:
    try:
        load_chip(name)
        return True
    except Exception:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2000)
    args = ap.parse_args()
    med, p90 = one_point(args.repeats)
    print(f"one Llama-3.1-70B decode point (fp8, H100, batch 16): median {med * 1e3:.3f} ms, p90 {p90 * 1e3:.3f} ms")
    cores = args.workers or os.cpu_count()
    for phase in ("decode", "generate"):
        n, wall, failed = sweep(args.points, args.workers, phase)
        print(f"{n}-point {phase} sweep (batch x input_len x chip, Llama-3.1-8B) on {cores} worker(s): "
              f"{wall:.2f} s wall, {n / wall:,.0f} points/s, {failed} failed (capacity)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
