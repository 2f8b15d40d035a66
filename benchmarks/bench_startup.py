"""Whole-process time of the commands a user types: `sim --help` and one `sim predict`.

    python benchmarks/bench_startup.py [--runs 15] [--pythonpath DIR ...]

Each command runs in a fresh interpreter (`python -m sim.cli ...`), round-robin over the
trees given by ``--pythonpath`` (default: this checkout), so one sitting's drift hits every
tree alike; prints the minimum and median wall time per command and tree. Issue 16's
targets: `sim predict` <= 0.35 s, `sim --help` <= 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "sim --help": ["--help"],
    "sim predict (70B, 8x H100, TP8)": ["predict", "--chip", "H100", "--model", "Llama-2-70B", "--count", "8",
                                        "--tp", "8"],
}


def run_once(tree: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh ``python -m sim.cli args`` with
    ``tree`` first on the path. CPU time drifts less than wall time on a shared machine."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", *args], env=env, cwd=tree,  # -m puts the cwd first
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"sim {' '.join(args)} failed in {tree} (exit {code})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--pythonpath", action="append", type=Path, default=None,
                    help="a source tree to time (repeatable; e.g. a git worktree of an older commit)")
    args = ap.parse_args()
    trees = args.pythonpath or [Path(__file__).resolve().parents[1]]
    times: dict[tuple[str, Path], list[tuple[float, float]]] = {(c, t): [] for c in COMMANDS for t in trees}
    for tree in trees:  # warm the byte-code caches and the file cache once per tree
        for cmd in COMMANDS.values():
            run_once(tree, cmd)
    for _ in range(args.runs):
        for label, cmd in COMMANDS.items():
            for tree in trees:
                times[(label, tree)].append(run_once(tree, cmd))
    print(f"| command | tree | wall min | wall median | CPU min | CPU median ({args.runs} runs) |")
    print("|---|---|---|---|---|---|")
    for (label, tree), ts in times.items():
        wall, cpu = [w for w, _ in ts], [c for _, c in ts]
        print(f"| {label} | {tree} | {min(wall):.3f} s | {statistics.median(wall):.3f} s | "
              f"{min(cpu):.3f} s | {statistics.median(cpu):.3f} s |")


if __name__ == "__main__":
    main()
