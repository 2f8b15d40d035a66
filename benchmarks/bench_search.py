"""Wall time of `sim search` on issue 15's case: Llama-3.1-70B on up to 16 H100s (HGX
boards on InfiniBand), TTFT <= 1 s, TPOT <= 50 ms, 2048 in / 256 out, fp8; the front's
serving confirmation included. The issue's target: under 10 s.

    python benchmarks/bench_search.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    times = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sim.cli", "search", "--model", "Llama-3.1-70B", "--system",
                            "HGX-H100-8GPU", "--max-chips", "16", "--ttft", "1", "--tpot", "0.05", "--out", tmp],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    print(f"sim search (70B, up to 16 H100s): median {statistics.median(times):.2f} s over {len(times)} fresh runs "
          f"(min {min(times):.2f})")


if __name__ == "__main__":
    main()
