"""Side by side with a peer: the same Llama-2-70B point and sweep, timed in one process.

    python benchmarks/bench_peers.py [--rounds 5] [--repeats 300] [--peer-dir DIR]

Installs llm-analysis (a closed-form per-layer formula; github.com/cli99/llm-analysis) from
the package index into ``--peer-dir`` (a temporary folder by default, never this project's
environment), imports it next to ``sim``, and times, round-robin over ``--rounds`` rounds
in alternating order:

- one Llama-2-70B generate point on 8 x H100 SXM (TP8; batch 16, 2,048 prompt tokens,
  256 generated; 16-bit weights, activations and KV cache), ``--repeats`` calls each;
- a sweep of that point over batch 1-16 x prompt 256-2,048 (128 points).

Prints each tool's best-round time per point and the ratio sim / llm-analysis (above 1:
sim is slower); the README quotes ratios, since absolute times on a shared machine move
by 2x between runs. Optional and never part of CI (it needs the package index).
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sim import Parallelism, default_economics, load_deployment, load_model, predict
from sim.workload.spec import Precision, Workload

PEER = ["llm-analysis==0.2.2", "fire>=0.5,<0.6"]  # its CLI's import, the only one a run needs
MODEL, PEER_MODEL = "Llama-2-70B", "upstage_Llama-2-70b-instruct-v2"  # Llama-2-70B's dimensions
BATCHES, PROMPTS, GENERATED, TP = range(1, 17), range(256, 2049, 256), 256, 8


def install_peer(target: Path) -> None:
    """pip-install the peer into ``target`` (no dependencies beyond what it imports)."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), *PEER]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        sys.exit(f"bench_peers: could not install {' '.join(PEER)} into {target}: {last}")
    sys.path.insert(0, str(target))


def sim_point() -> Callable[[int, int], object]:
    """One generate point through ``sim.predict``, as a function of (batch, prompt)."""
    dep = load_deployment(Parallelism(tp=TP), chip="H100")
    model, econ, prec = load_model(MODEL), default_economics(), Precision.uniform("bf16")

    def run(batch: int, prompt: int) -> object:
        return predict(dep, model, Workload(phase="generate", batch=batch, input_len=prompt,
                                            output_len=GENERATED, precision=prec), econ)
    return run


def peer_point() -> Callable[[int, int], object]:
    """The same point through llm-analysis's ``LLMAnalysis.inference`` (its log silenced)."""
    from llm_analysis.analysis import LLMAnalysis
    from llm_analysis.config import (
        ParallelismConfig,
        get_dtype_config_by_name,
        get_gpu_config_by_name,
        get_model_config_by_name,
    )
    from llm_analysis.logger import logger
    logger.setLevel(logging.ERROR)
    analysis = LLMAnalysis(get_model_config_by_name(PEER_MODEL), get_gpu_config_by_name("h100-sxm-80gb"),
                           get_dtype_config_by_name("w16a16e16"), ParallelismConfig(tp_size=TP),
                           flops_efficiency=0.8, hbm_memory_efficiency=0.9)

    def run(batch: int, prompt: int) -> object:
        return analysis.inference(batch_size_per_gpu=batch, seq_len=prompt, num_tokens_to_generate=GENERATED)
    return run


def per_call_s(fn: Callable[[int, int], object], points: list[tuple[int, int]]) -> float:
    """Seconds per call over ``points``."""
    t0 = time.perf_counter()
    for batch, prompt in points:
        fn(batch, prompt)
    return (time.perf_counter() - t0) / len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--peer-dir", type=Path, default=None, help="install llm-analysis here (default: a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        install_peer(args.peer_dir or Path(tmp))
        tools = {"sim": sim_point(), "llm-analysis": peer_point()}
        cases = {"one 70B TP8 point": [(16, 2048)] * args.repeats,
                 f"{len(BATCHES) * len(PROMPTS)}-point sweep": [(b, s) for b in BATCHES for s in PROMPTS]}
        for fn in tools.values():  # warm both (imports, caches) before timing
            fn(16, 2048)
        best: dict[tuple[str, str], float] = {}
        for r in range(args.rounds):
            order = list(tools.items()) if r % 2 == 0 else list(reversed(tools.items()))
            for case, points in cases.items():
                for name, fn in order:
                    t = per_call_s(fn, points)
                    best[case, name] = min(best.get((case, name), t), t)
    print(f"best of {args.rounds} rounds, per point (Python {sys.version.split()[0]})")
    for case in cases:
        ours, theirs = best[case, "sim"], best[case, "llm-analysis"]
        print(f"  {case:22s} sim {ours * 1e3:7.3f} ms   llm-analysis {theirs * 1e3:7.3f} ms   "
              f"sim / llm-analysis {ours / theirs:5.2f}")


if __name__ == "__main__":
    main()
