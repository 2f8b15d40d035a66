"""End-to-end time of `sim run <scenario>` (figures, summary and report included), and
how it splits between the sweep and the rest.

    python benchmarks/bench_scenario_run.py [--scenario c1-b30-vs-h20] [--repeats 5]

Each repeat is a fresh interpreter running the CLI, as a user would (imports included),
writing to a temporary results folder. The sweep alone (``evaluate_scenario``, no figures)
is timed in this process for the split. Issue 13's target: `sim run c1-b30-vs-h20` at
least 3x faster than before it; the numbers measured on the development machine (2 cores)
before and after are in benchmarks/results/scenario_run.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli_run_s(scenario: str, repeats: int) -> list[float]:
    """Wall seconds of each fresh `python -m sim.cli run <scenario>`."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sim.cli", "run", scenario, "--out", tmp, "--no-progress"],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    return times


def sweep_s(scenario: str) -> float:
    """Seconds of the scenario's points alone (no figures, summary or report)."""
    from sim.studies.base import evaluate_scenario

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        evaluate_scenario(scenario, Path(tmp) / "results.csv")
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="c1-b30-vs-h20")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    runs = cli_run_s(args.scenario, args.repeats)
    sweep = sweep_s(args.scenario)
    print(f"sim run {args.scenario}: median {statistics.median(runs):.2f} s over {len(runs)} fresh runs "
          f"(min {min(runs):.2f}, max {max(runs):.2f}); the sweep alone {sweep:.2f} s")


if __name__ == "__main__":
    main()
